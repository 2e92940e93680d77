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

/** Turns log lines into interactions one at a time, keeping each member's history (bounded by the members). */
export function simlogAdapter(): (l: OfferLogLine) => Interaction {
  const history = new Map<string, { shown: number; redeemed: number }>()
  return (l) => {
    const h = history.get(l.member.memberId)
    history.set(l.member.memberId, { shown: (h?.shown ?? 0) + 1, redeemed: (h?.redeemed ?? 0) + (l.redeemed ? 1 : 0) })
    return {
      ts: new Date(l.ts).toISOString(),
      memberId: l.member.memberId,
      campaignId: l.campaign.id,
      offerId: l.campaign.id,
      member: memberFeaturesOf(l.member, h ? { ...h } : undefined),
      offer: offerFeaturesOf(l.campaign),
      context: contextFeaturesOf({ zoneKind: l.zoneKind, dwellSeconds: l.dwellSeconds, ts: l.ts, timeZone: l.timeZone }),
      redeemed: l.redeemed ? 1 : 0,
    }
  }
}

export function* simlogInteractions(lines: Iterable<OfferLogLine>): Generator<Interaction> {
  const next = simlogAdapter()
  for (const l of lines) yield next(l)
}

/**
 * The log's lines one at a time (files of millions of lines never sit in memory). History needs each
 * member's offers in time order, which the simulator writes; a line that goes back in time for its member is
 * an error naming it.
 */
export async function* readOfferLog(file: string): AsyncGenerator<OfferLogLine> {
  const last = new Map<string, number>()
  let line = 0
  for await (const text of createInterface({ input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }), crlfDelay: Infinity })) {
    line++
    if (!text.trim()) continue
    let l: OfferLogLine
    try {
      l = JSON.parse(text) as OfferLogLine
    } catch (err) {
      throw new Error(`${file}:${line}: not JSON (${(err as Error).message})`)
    }
    const id = l.member?.memberId
    if (typeof id !== 'string' || typeof l.ts !== 'number' || !l.campaign) throw new Error(`${file}:${line}: needs ts, member.memberId and campaign`)
    if ((last.get(id) ?? -Infinity) > l.ts) throw new Error(`${file}:${line}: member ${id} goes back in time; sort the log by ts first`)
    last.set(id, l.ts)
    yield l
  }
}

async function* interactionsOf(lines: AsyncIterable<OfferLogLine>): AsyncGenerator<Interaction> {
  const next = simlogAdapter()
  for await (const l of lines) yield next(l)
}

async function main(): Promise<void> {
  const argv = process.argv.slice(2)
  const get = (k: string) => { const i = argv.indexOf(`--${k}`); return i >= 0 ? argv[i + 1] : undefined }
  const input = get('in')
  const out = get('out')
  if (!input || !out) { console.error('usage: npm run adapt:simlog -- --in <offer-log.jsonl> --out <interactions.jsonl>'); process.exitCode = 2; return }
  try {
    const n = await writeInteractions(out, interactionsOf(readOfferLog(input)))
    console.log(`${n} interactions written to ${out}`)
  } catch (err) {
    console.error(`adapt:simlog failed: ${(err as Error).message}`)
    process.exitCode = 1
  }
}

if (process.argv[1] && resolve(process.argv[1]).endsWith('simlog.ts')) void main()
