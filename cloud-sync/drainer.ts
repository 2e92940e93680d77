/**
 * The outbox drainer: one batch in flight, CRM stream first, each stream in commit order. A record leaves the
 * outbox only after the receiver has it (HTTP 200, MQTT PUBACK). Failures back off exponentially with jitter
 * (capped; `Retry-After` honoured); a 400 is split in halves until the refused event is found and parked, so
 * that one poison event never blocks its stream.
 */
import { body, cut, envelope, type EnvelopeContext, type Prepared } from './batch.js'
import type { Chunk, DrainOutbox, OutboxRecord, StreamName } from './outbox.js'
import type { SendResult, Transport } from './transport.js'

export interface StreamState {
  transport: string | null
  lastSuccess: number | null
  lastError: string | null
  lastErrorAt: number | null
  delivered: number
  retried: number
  parked: number
  failures: number
  /** monotonic time of the next try (the backoff) */
  nextAttemptAt: number | null
  /** the same on the gateway's clock, for people */
  retryAt: number | null
}

export interface DrainerHooks {
  delivered?(stream: StreamName, n: number, packed: boolean): void
  retried?(stream: StreamName, reason: string): void
  parked?(stream: StreamName, reason: string, r: OutboxRecord, packed: boolean): void
}

export interface DrainerOptions {
  outbox: DrainOutbox
  transports: Partial<Record<StreamName, Transport>>
  envelope: EnvelopeContext
  /** the gateway's clock (timestamps: sentAt, lastSuccess) */
  now: () => number
  /** monotonic milliseconds for the backoff schedule (real time even when the gateway runs on virtual time) */
  monotonic?: () => number
  maxBackoffMs: number
  baseBackoffMs?: number
  /** records read at once from the outbox table */
  readRows?: number
  random?: () => number
  hooks?: DrainerHooks
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void }
}

const ORDER: readonly StreamName[] = ['crm', 'ops']

/** what the sync feature drives: the Drainer itself, or the drain thread running one */
export interface DrainControl {
  readonly state: Record<StreamName, StreamState>
  start(): void
  kick(opts?: { retryNow?: boolean }): void
  pause(): Promise<void>
  resume(): void
  stop(): Promise<void>
}

/** a stream's state before anything was tried */
export function initialState(transports: Partial<Record<StreamName, string | null>>): Record<StreamName, StreamState> {
  return Object.fromEntries(ORDER.map((s) => [s, {
    transport: transports[s] ?? null, lastSuccess: null, lastError: null, lastErrorAt: null, delivered: 0, retried: 0, parked: 0, failures: 0, nextAttemptAt: null, retryAt: null,
  }])) as Record<StreamName, StreamState>
}

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve))

/** Exponential backoff with "equal jitter": half the step fixed, half random; capped. */
export function backoffMs(failures: number, baseMs: number, maxMs: number, random: () => number): number {
  const step = Math.min(maxMs, baseMs * 2 ** Math.min(30, Math.max(0, failures - 1)))
  return Math.round(step / 2 + random() * (step / 2))
}

export class Drainer implements DrainControl {
  readonly state: Record<StreamName, StreamState>
  private running = false
  private loop: Promise<void> | null = null
  private wake: (() => void) | null = null
  private timer: NodeJS.Timeout | null = null
  /** the last record id of a block already delivered (or parked), by block id: a retry does not send them again
   *  (an id, not a position: an erasure may rewrite the block meanwhile) */
  private readonly blockDone = new Map<number, number>()
  /** pauses in force (erasures): no new chunk starts while above 0 */
  private pauses = 0
  private chunkRunning: Promise<void> | null = null
  private readonly random: () => number
  private readonly base: number
  private readonly mono: () => number

  constructor(private readonly o: DrainerOptions) {
    this.random = o.random ?? Math.random
    this.base = Math.min(o.baseBackoffMs ?? 1000, o.maxBackoffMs)
    this.mono = o.monotonic ?? (() => performance.now())
    this.state = initialState({ crm: o.transports.crm?.name ?? null, ops: o.transports.ops?.name ?? null })
  }

  start(): void {
    if (this.running) return
    this.running = true
    this.loop = this.run()
  }

  /** new records were committed, or a wait should end early (a test, an operator's "retry now") */
  kick(opts: { retryNow?: boolean } = {}): void {
    if (opts.retryNow) for (const s of ORDER) { this.state[s].nextAttemptAt = null }
    this.wake?.()
  }

  /**
   * Hold the drain (an erasure is about to delete a member's records): resolves once no chunk is in flight, so
   * that nothing read before the erasure is sent or parked after it. `resume()` once per `pause()`.
   */
  async pause(): Promise<void> {
    this.pauses++
    await this.chunkRunning?.catch(() => {})
  }

  resume(): void {
    this.pauses = Math.max(0, this.pauses - 1)
    if (this.pauses === 0) this.wake?.()
  }

  async stop(): Promise<void> {
    this.running = false
    this.wake?.()
    await this.loop
    for (const t of Object.values(this.o.transports)) await t?.close()
  }

  private async run(): Promise<void> {
    while (this.running) {
      let worked = false
      try {
        for (const s of ORDER) {
          if (!this.o.transports[s]) continue
          const st = this.state[s]
          if (st.nextAttemptAt !== null && st.nextAttemptAt > this.mono()) continue
          if (this.pauses > 0) break
          // the read is part of the chunk a pause waits for: what was read before an erasure is not sent after it
          const running = this.readAndDrain(s)
          this.chunkRunning = running.then(() => {})
          let found: boolean
          try { found = await running } finally { this.chunkRunning = null }
          if (!found) continue
          worked = true
          break // the CRM stream first again
        }
      } catch (err) {
        // storage trouble (disk full, closing): wait and try again, never crash the gateway
        this.o.log.warn({ err: (err as Error).message }, 'outbox drain: storage error')
        await this.sleep(1000)
        continue
      }
      if (!worked && this.running) {
        const next = ORDER.map((s) => this.state[s].nextAttemptAt).filter((t): t is number => t !== null)
        await this.sleep(next.length ? Math.max(10, Math.min(...next) - this.mono()) : 1000)
      }
    }
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const done = () => { if (this.timer) clearTimeout(this.timer); this.timer = null; this.wake = null; resolve() }
      this.wake = done
      this.timer = setTimeout(done, ms)
    })
  }

  /** false: nothing to send on this stream */
  private async readAndDrain(s: StreamName): Promise<boolean> {
    const chunk = await this.o.outbox.next(s, this.o.readRows ?? 5000)
    if (!chunk) return false
    // paused while reading (an erasure began): dropped unsent, read again once resumed
    if (this.pauses > 0) return true
    await this.drainChunk(chunk)
    return true
  }

  private async drainChunk(chunk: Chunk): Promise<void> {
    const doneUpTo = chunk.blockId !== null ? this.blockDone.get(chunk.blockId) ?? 0 : 0
    const prepared: Prepared[] = []
    let n = 0
    for (const r of chunk.records) {
      if (r.id <= doneUpTo) continue
      // the hot path (a dwell becoming an offer) gets the event loop between slices
      if (++n % 100 === 0) await yieldToLoop()
      const e = envelope(r, this.o.envelope)
      if ('refused' in e) {
        // a bug of ours, not the receiver's: kept aside, counted, logged once per reason
        await this.park(chunk, r, `not sendable: ${e.refused}`)
        continue
      }
      prepared.push({ record: r, json: e.json, bytes: e.bytes })
    }
    for (const batch of cut(prepared)) {
      await yieldToLoop()
      if (!(await this.sendOrSplit(chunk, batch))) return
      // a retry of this block (in this process) starts after what the receiver already has
      if (chunk.blockId !== null) this.blockDone.set(chunk.blockId, batch[batch.length - 1]!.record.id)
    }
    if (chunk.blockId !== null) {
      await this.o.outbox.delivered(chunk, [], true)
      this.blockDone.delete(chunk.blockId)
    }
  }

  /** Send a batch; on a 400 split it until the refused events are parked. False: stop for now (retry later). */
  private async sendOrSplit(chunk: Chunk, batch: Prepared[]): Promise<boolean> {
    const s = chunk.stream
    const t = this.o.transports[s]!
    const st = this.state[s]
    const r: SendResult = await t.send(body(batch, new Date(this.o.now()).toISOString()))
    if (r.ok) {
      await this.o.outbox.delivered(chunk, batch.map((p) => p.record), false)
      st.delivered += batch.length
      st.lastSuccess = this.o.now()
      if (st.failures > 0) this.o.log.info({ stream: s, after: st.failures }, 'CRM sync: delivering again')
      st.failures = 0
      st.nextAttemptAt = null
      st.retryAt = null
      this.o.hooks?.delivered?.(s, batch.length, chunk.source === 'block')
      return true
    }
    if (r.retry) {
      st.failures++
      st.retried++
      st.lastError = r.error
      st.lastErrorAt = this.o.now()
      const wait = Math.min(this.o.maxBackoffMs, r.retryAfterMs ?? backoffMs(st.failures, this.base, this.o.maxBackoffMs, this.random))
      st.nextAttemptAt = this.mono() + wait
      st.retryAt = this.o.now() + wait
      if (st.failures === 1 || st.failures % 20 === 0) this.o.log.warn({ stream: s, error: r.error, failures: st.failures, retryInMs: wait }, 'CRM sync: batch not delivered, will retry')
      this.o.hooks?.retried?.(s, r.error.startsWith('network') ? 'network' : r.error.split(' ')[0] ?? 'error')
      return false
    }
    // refused for good: the events the receiver names, else halves until one event is left
    const named = new Set(r.messageIds)
    const bad = batch.filter((p) => named.has(p.record.messageId))
    if (bad.length > 0 && bad.length < batch.length) {
      for (const p of bad) await this.park(chunk, p.record, `refused: ${r.error}`)
      return this.sendOrSplit(chunk, batch.filter((p) => !named.has(p.record.messageId)))
    }
    if (batch.length === 1) {
      await this.park(chunk, batch[0]!.record, `refused: ${r.error}`)
      return true
    }
    const mid = Math.ceil(batch.length / 2)
    return (await this.sendOrSplit(chunk, batch.slice(0, mid))) && this.sendOrSplit(chunk, batch.slice(mid))
  }

  private readonly loggedReasons = new Set<string>()

  private async park(chunk: Chunk, r: OutboxRecord, reason: string): Promise<void> {
    await this.o.outbox.park(chunk, r, reason, this.o.now())
    this.state[chunk.stream].parked++
    this.o.hooks?.parked?.(chunk.stream, reason, r, chunk.source === 'block')
    const key = reason.slice(0, 60)
    if (!this.loggedReasons.has(key) && this.loggedReasons.size < 100) {
      this.loggedReasons.add(key)
      this.o.log.warn({ stream: chunk.stream, event: r.event, messageId: r.messageId, reason }, 'CRM sync: event parked (it does not block the stream; see /v1/admin/sync)')
    }
  }
}
