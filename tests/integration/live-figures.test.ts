/** The console's offers chart: the day's offers in one bucket each quarter hour (SQLite divides JS numbers as reals: two offers in the same quarter were two buckets). */
import t from 'tap'
import { createParser, type EventSourceMessage } from 'eventsource-parser'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway, TEST_VIEWER } from '../helpers/gateway.js'
import { waitFor } from '../helpers/net.js'

t.test('figures.day: one bucket per quarter hour, counts summed', async (t) => {
  const clock = new ManualClock(Date.UTC(2026, 2, 10, 9, 0, 0))
  const tg = await startTestGateway({ clock })
  t.teardown(() => tg.close())
  const now = clock.now()
  const row = (i: number, at: number) => ({ op: 'insert' as const, table: 'offers', columns: ['offer_id', 'campaign_id', 'member_id', 'trigger_kind', 'code', 'title', 'body', 'day', 'issued_at', 'expires_at', 'status'], row: [`o-${i}`, 'dairy-10s', 'm-1', 'dwell', `code-${i}`, 't', 'b', '2026-03-10', at, at + 3_600_000, 'issued'] })
  // three offers a few minutes apart in one quarter, one in the next
  await tg.gw.store.writeNow([row(1, now - 40 * 60_000 + 1000), row(2, now - 40 * 60_000 + 200_000), row(3, now - 40 * 60_000 + 400_000), row(4, now - 20 * 60_000)])
  const ac = new AbortController()
  t.teardown(() => ac.abort())
  const res = await fetch(`${tg.gw.httpUrl}/v1/admin/live`, { headers: { authorization: `Bearer ${TEST_VIEWER}` }, signal: ac.signal })
  let snap: Record<string, any> | null = null
  const parser = createParser({ onEvent: (m: EventSourceMessage) => { if (m.event === 'snapshot') snap = JSON.parse(m.data) } })
  void (async () => { const dec = new TextDecoder(); try { for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) parser.feed(dec.decode(c, { stream: true })) } catch { /* aborted */ } })()
  await waitFor(() => snap, { what: 'snapshot' })
  const day = (snap as unknown as { figures: { day: { start: number; bucketMs: number; issued: [number, number][] } } }).figures.day
  const buckets = day.issued.map(([b]) => b)
  t.equal(new Set(buckets).size, buckets.length, `no bucket twice (${JSON.stringify(day.issued)})`)
  t.equal(day.issued.reduce((n, [, c]) => n + c, 0), 4, 'every offer counted')
  t.ok(day.issued.some(([, c]) => c === 3), 'the three of one quarter in one bucket')
  t.ok(buckets.every((b) => Number.isInteger(b)))
})
