/**
 * The simulator's offer log -> interactions, through the same input builders the gateway uses when it
 * decides (edge/recommend/inputs.ts), so training and serving describe members, offers and moments alike.
 * History is what the gateway would know: offers shown to and redeemed by the member earlier in the log.
 *
 *   npm run adapt:simlog -- --in <offer-log.jsonl> --out <interactions.jsonl>
 */
import { createReadStream } from 'node:fs'
import { resolve } from 'node:path'
import { createInterface } from 'node:readline'
import { contextFeaturesOf, memberFeaturesOf, offerFeaturesOf } from '../../edge/recommend/inputs.js'
import type { OfferLogLine } from '../../devices/simulator/offer-log.js'
import { writeInteractions, type Interaction } from '../interactions.js'

export function* simlogInteractions(lines: Iterable<OfferLogLine>): Generator<Interaction> {
  const history = new Map<string, { shown: number; redeemed: number }>()
  for (const l of lines) {
    const h = history.get(l.member.memberId)
    yield {
      ts: new Date(l.ts).toISOString(),
      memberId: l.member.memberId,
      campaignId: l.campaign.id,
      offerId: l.campaign.id,
      member: memberFeaturesOf(l.member, h ? { ...h } : undefined),
      offer: offerFeaturesOf(l.campaign),
      context: contextFeaturesOf({ zoneKind: l.zoneKind, dwellSeconds: l.dwellSeconds, ts: l.ts, timeZone: l.timeZone }),
      redeemed: l.redeemed ? 1 : 0,
    }
    history.set(l.member.memberId, { shown: (h?.shown ?? 0) + 1, redeemed: (h?.redeemed ?? 0) + (l.redeemed ? 1 : 0) })
  }
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const input = get('in')
  const out = get('out')
  if (!input || !out) { console.error('usage: npm run adapt:simlog -- --in <offer-log.jsonl> --out <interactions.jsonl>'); process.exitCode = 2; return }
  const lines: OfferLogLine[] = []
  for await (const text of createInterface({ input: createReadStream(input, 'utf8'), crlfDelay: Infinity })) if (text.trim()) lines.push(JSON.parse(text) as OfferLogLine)
  lines.sort((a, b) => a.ts - b.ts)
  const n = await writeInteractions(out, simlogInteractions(lines))
  console.log(`${n} interactions written to ${out}`)
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('simlog.ts')) void main()
