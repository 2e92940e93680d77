/**
 * Groceries (arules: one month of real POS baskets, 9,835 baskets, 169 item groups) -> interactions, as a
 * leave-one-out member-offer task. Read from ../shared/data at run time, never copied.
 *
 *   npm run adapt:groceries -- [--data ../shared/data] [--negatives 9] --out <file.jsonl>
 *
 * The data has no members, offers or redemptions, so the task is built the way basket recommenders are
 * evaluated (leave one out):
 * - a basket with at least two different items is a member (`groc-b<line>`); one of its items, chosen by a
 *   hash of the basket, is held out;
 * - the member's affinities are what the rest of the basket says: the share of its other items in each
 *   category (the CRM's "share of purchases by category");
 * - the offers are the 169 item groups (`groc-<item>`), each mapped onto the recommender's categories
 *   (ITEM_CATEGORY below, one item at a time); the member is "shown" the held-out item (redeemed = 1) and
 *   `negatives` items drawn at random from those not in the basket (redeemed = 0);
 * - each negative carries the weight (items not in the basket) / `negatives`: it stands for every item the
 *   shopper did not take, so weighted figures describe all items, not the sample.
 * The question a model answers is the recommender's: which of these offers would this member take, given
 * what else they buy. There are no dates in the data: `ts` is the month's start on every row (it is not a
 * feature), and there is no in-store context, tier, RFM or demographics.
 */
import { readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { createHash } from 'node:crypto'
import { categorySlug } from '../../edge/recommend/features.js'
import { Rng } from '../../devices/simulator/rng.js'
import { writeInteractions, type Interaction } from '../interactions.js'

const G: Record<string, string[]> = {
  'dairy-juices-snacks': ['whole milk', 'yogurt', 'whipped/sour cream', 'butter', 'curd', 'cream cheese', 'UHT-milk', 'butter milk', 'sliced cheese', 'hard cheese', 'soft cheese', 'processed cheese', 'spread cheese', 'specialty cheese', 'curd cheese', 'condensed milk', 'cream', 'domestic eggs', 'margarine', 'soda', 'bottled water', 'fruit/vegetable juice', 'misc. beverages', 'beverages', 'cocoa drinks', 'chocolate', 'specialty chocolate', 'candy', 'chewing gum', 'specialty bar', 'salty snack', 'chocolate marshmallow', 'popcorn', 'nut snack', 'snack products'],
  bakery: ['rolls/buns', 'pastry', 'brown bread', 'white bread', 'semi-finished bread', 'long life bakery product', 'waffles', 'cake bar', 'zwieback', 'roll products'],
  vegetables: ['other vegetables', 'root vegetables', 'tropical fruit', 'citrus fruit', 'pip fruit', 'berries', 'onions', 'grapes', 'herbs', 'packaged fruit/vegetables', 'specialty vegetables'],
  meat: ['pork', 'beef', 'chicken', 'hamburger meat', 'meat', 'turkey', 'frozen chicken'],
  'packaged-meat': ['sausage', 'frankfurter', 'ham', 'liver loaf', 'meat spreads', 'organic sausage'],
  seafood: ['fish', 'frozen fish', 'canned fish'],
  alcohol: ['bottled beer', 'canned beer', 'red/blush wine', 'white wine', 'liquor', 'liquor (appetizer)', 'sparkling wine', 'rum', 'brandy', 'prosecco', 'liqueur', 'whisky'],
  'prepared-food': ['frozen meals', 'frozen vegetables', 'frozen potato products', 'Instant food products', 'soups', 'ready soups', 'finished products', 'frozen dessert', 'ice cream', 'frozen fruits', 'dessert'],
  grocery: ['sugar', 'oil', 'flour', 'baking powder', 'pasta', 'rice', 'salt', 'spices', 'vinegar', 'mustard', 'ketchup', 'mayonnaise', 'sauces', 'jam', 'sweet spreads', 'honey', 'syrup', 'canned vegetables', 'canned fruit', 'pickled vegetables', 'cereals', 'specialty fat', 'cooking chocolate', 'artif. sweetener', 'nuts/prunes', 'potato products', 'pudding powder', 'salad dressing', 'tidbits', 'preservation products', 'baby food', 'coffee', 'instant coffee', 'tea'],
  pharmaceutical: ['hygiene articles', 'female sanitary products', 'dental care', 'rubbing alcohol'],
  'skin-hair-care': ['skin care', 'male cosmetics', 'hair spray', 'make up remover', 'soap', 'baby cosmetics'],
  'natural-products': ['organic products'],
  'flowers-plants': ['pot plants', 'flower (seeds)'],
  garden: ['flower soil/fertilizer'],
  electronics: ['light bulbs', 'photo/film', 'sound storage medium'],
  miscellaneous: ['shopping bags', 'newspapers', 'napkins', 'cat food', 'dog food', 'pet care', 'detergent', 'dishes', 'cling film/bags', 'dish cleaner', 'candles', 'house keeping products', 'kitchen towels', 'softener', 'cleaner', 'abrasive cleaner', 'bathroom cleaner', 'cookware', 'decalcifier', 'toilet cleaner', 'kitchen utensil', 'bags', 'seasonal products'],
}
/** The 169 item groups on the recommender's categories. */
export const ITEM_CATEGORY: ReadonlyMap<string, string> = new Map(Object.entries(G).flatMap(([cat, items]) => items.map((i) => [i, cat] as const)))

export function readBaskets(dataDir: string): string[][] {
  const text = readFileSync(join(dataDir, 'groceries-arules-pos', 'groceries.csv'), 'utf8')
  return text.split('\n').filter((l) => l.trim() !== '').map((l) => [...new Set(l.split(',').map((s) => s.trim()).filter(Boolean))])
}

export function groceriesInteractions(dataDir: string, negatives = 9, seed = 1): Interaction[] {
  const baskets = readBaskets(dataDir)
  const items = [...new Set(baskets.flat())].sort()
  const unmapped = items.filter((i) => !ITEM_CATEGORY.has(i))
  if (unmapped.length) throw new Error(`groceries: no category for ${unmapped.map((x) => JSON.stringify(x)).join(', ')}`)
  const rng = new Rng(seed)
  const out: Interaction[] = []
  const ts = '2000-01-01T00:00:00Z'
  baskets.forEach((basket, line) => {
    if (basket.length < 2) return
    const memberId = `groc-b${line + 1}`
    const held = basket[createHash('sha256').update(memberId).digest().readUInt32BE(0) % basket.length]!
    const rest = basket.filter((i) => i !== held)
    const affinities: Record<string, number> = {}
    for (const i of rest) { const c = ITEM_CATEGORY.get(i)!; affinities[c] = (affinities[c] ?? 0) + 1 / rest.length }
    for (const c of Object.keys(affinities)) affinities[c] = Math.round(affinities[c]! * 1e4) / 1e4
    const inBasket = new Set(basket)
    const pool = items.filter((i) => !inBasket.has(i))
    const k = Math.min(negatives, pool.length)
    const row = (item: string, redeemed: 0 | 1, weight?: number): Interaction => ({
      ts, memberId, campaignId: `groc-${item}`, offerId: `groc-${item}`,
      member: { affinities },
      offer: { category: categorySlug(ITEM_CATEGORY.get(item)!)!, items: 1 },
      context: {}, redeemed, ...(weight !== undefined ? { weight } : {}),
    })
    out.push(row(held, 1))
    for (let n = 0; n < k; n++) {
      const j = n + Math.floor(rng.next() * (pool.length - n))
      const tmp = pool[n]!; pool[n] = pool[j]!; pool[j] = tmp
      out.push(row(pool[n]!, 0, Math.round((pool.length / k) * 1e4) / 1e4))
    }
  })
  return out
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const out = get('out')
  if (!out) { console.error('usage: npm run adapt:groceries -- [--data ../shared/data] [--negatives 9] --out <file.jsonl>'); process.exitCode = 2; return }
  const rows = groceriesInteractions(resolve(get('data') ?? '../shared/data'), Number(get('negatives') ?? 9))
  const n = await writeInteractions(out, rows)
  console.log(`${n} interactions (${rows.filter((r) => r.redeemed).length} held-out items) written to ${out}`)
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('groceries.ts')) void main()
