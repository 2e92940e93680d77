/**
 * The drain on a worker thread of its own (`crm.drainThread`, on by default). Decoding packed blocks, building
 * envelopes and batches, and the HTTP or MQTT sends allocate a few megabytes a second while a backlog drains;
 * on the gateway's event loop their slices and garbage-collector pauses sat in front of every sighting on its way
 * to an offer. On the thread they have a heap and a loop of their own.
 *
 * The thread runs the same Drainer. The database stays with the gateway's thread: the drain thread asks this
 * one for the next chunk (a packed block still compressed, or rows) and for deletions and parking, which
 * commit through the gateway's write queue as before. Pausing for an erasure waits for the thread's chunk in
 * flight. If the thread dies it is started again (what it had not confirmed is sent again, with the same
 * messageIds).
 */
import { Worker } from 'node:worker_threads'
import { initialState, type DrainControl, type DrainerHooks, type StreamState } from './drainer.js'
import type { ChunkRef, Outbox, OutboxRecord, StreamName } from './outbox.js'
import { transportNames, type TransportSettings } from './transport.js'

export interface DrainThreadData {
  settings: TransportSettings
  storeId: string
  version: string
  /** the gateway's storage key: the thread opens the sealed user id of `Member Erased` itself */
  storageKey: Uint8Array
  maxBackoffMs: number
  readRows: number
  /** the gateway's clock minus the wall clock (virtual time in a simulation) */
  clockOffsetMs: number
}

export type OutboxCall =
  | { fn: 'nextRaw'; args: [StreamName, number] }
  | { fn: 'unreadable'; args: [StreamName, number, string] }
  | { fn: 'deliveredRange'; args: [ChunkRef, { first: number; last: number; n: number } | null, boolean] }
  | { fn: 'park'; args: [{ stream: StreamName; source: 'rows' | 'block' }, OutboxRecord, string, number] }

export type ToThread =
  | { t: 'start' }
  | { t: 'kick'; retryNow: boolean }
  | { t: 'pause'; id: number }
  | { t: 'resume' }
  | { t: 'stop'; id: number }
  | { t: 'clock'; offsetMs: number }
  | { t: 'reply'; id: number; ok: true; value: unknown; offsetMs: number }
  | { t: 'reply'; id: number; ok: false; error: string; offsetMs: number }

export type FromThread =
  | ({ t: 'call'; id: number } & OutboxCall)
  | { t: 'hook'; name: 'delivered'; args: [StreamName, number, boolean] }
  | { t: 'hook'; name: 'retried'; args: [StreamName, string] }
  | { t: 'hook'; name: 'parked'; args: [StreamName, string, OutboxRecord, boolean] }
  | { t: 'state'; state: Record<StreamName, StreamState> }
  | { t: 'log'; level: 'warn' | 'info'; obj: object; msg: string }
  | { t: 'done'; id: number }
  /** the thread's id and nice value (Linux), once started */
  | { t: 'thread'; tid: number | null; nice: number | null }

export interface DrainThreadOptions {
  outbox: Outbox
  data: Omit<DrainThreadData, 'clockOffsetMs'>
  /** the gateway's clock */
  now: () => number
  hooks?: DrainerHooks
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void; error(o: object, msg: string): void }
}

/** the worker's module next to this one, as this one is loaded (TypeScript in tests, JavaScript when built) */
const workerUrl = new URL(`./drain-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url)

/**
 * How the thread starts. Built, the module itself. From TypeScript sources under tsx (the benchmarks), through a
 * two-line bootstrap: tsx registers its loader on the main thread only on Node 20. (tap's loader reaches workers.)
 */
function workerEntry(): { entry: URL | string; eval: boolean } {
  if (!workerUrl.pathname.endsWith('.ts') || !process.execArgv.some((a) => /(^|[\/=])tsx($|[\/])/.test(a))) return { entry: workerUrl, eval: false }
  const api = import.meta.resolve('tsx/esm/api')
  return { entry: `import(${JSON.stringify(api)}).then((m) => m.register()).then(() => import(${JSON.stringify(workerUrl.href)}))`, eval: true }
}

export class DrainThread implements DrainControl {
  state: Record<StreamName, StreamState>
  private worker: Worker | null = null
  private started = false
  private stopping = false
  private pauses = 0
  private seq = 0
  private readonly waiting = new Map<number, () => void>()
  private clockTimer: NodeJS.Timeout | null = null
  private restarts = 0
  /** the running thread's id and nice value (null where the system does not tell) */
  thread: { tid: number | null; nice: number | null } | null = null

  constructor(private readonly o: DrainThreadOptions) {
    this.state = initialState(transportNames(o.data.settings))
  }

  start(): void {
    if (this.started) return
    this.started = true
    this.spawn()
    // a virtual clock runs at its own pace: the thread's copy of it is set right every second
    this.clockTimer = setInterval(() => this.post({ t: 'clock', offsetMs: this.offset() }), 1000)
    this.clockTimer.unref()
  }

  kick(opts: { retryNow?: boolean } = {}): void {
    if (opts.retryNow) {
      for (const st of Object.values(this.state)) { st.nextAttemptAt = null; st.retryAt = null }
      this.post({ t: 'kick', retryNow: true })
      return
    }
    // every commit kicks: one message a turn of the loop is enough
    if (this.kickQueued) return
    this.kickQueued = true
    setImmediate(() => { this.kickQueued = false; this.post({ t: 'kick', retryNow: false }) })
  }

  private kickQueued = false

  async pause(): Promise<void> {
    this.pauses++
    if (this.worker) await this.ask((id) => ({ t: 'pause', id }))
  }

  resume(): void {
    this.pauses = Math.max(0, this.pauses - 1)
    this.post({ t: 'resume' })
  }

  async stop(): Promise<void> {
    this.stopping = true
    if (this.clockTimer) clearInterval(this.clockTimer)
    const w = this.worker
    if (!w) return
    const exited = new Promise<void>((resolve) => w.once('exit', () => resolve()))
    await Promise.race([this.ask((id) => ({ t: 'stop', id })), exited, new Promise((r) => setTimeout(r, 10_000).unref())])
    this.worker = null
    await w.terminate()
  }

  private offset(): number {
    return this.o.now() - Date.now()
  }

  private post(m: ToThread): void {
    this.worker?.postMessage(m)
  }

  /** a request the thread answers with `done` (pause, stop); answered at once when the thread is gone */
  private ask(make: (id: number) => ToThread): Promise<void> {
    const id = ++this.seq
    return new Promise<void>((resolve) => {
      this.waiting.set(id, resolve)
      this.post(make(id))
    })
  }

  private spawn(): void {
    const data: DrainThreadData = { ...this.o.data, clockOffsetMs: this.offset() }
    const { entry, eval: isEval } = workerEntry()
    const w = new Worker(entry, { workerData: data, name: 'aisle-crm-drain', eval: isEval })
    this.worker = w
    w.on('message', (m: FromThread) => { void this.onMessage(w, m) })
    w.on('error', (err) => this.o.log.error({ err: err.message }, 'CRM sync: the drain thread failed'))
    w.on('exit', (code) => {
      if (this.worker !== w) return
      this.worker = null
      for (const done of this.waiting.values()) done()
      this.waiting.clear()
      if (this.stopping) return
      // what it had not confirmed stays in the outbox and goes again, with the same messageIds
      const waitMs = Math.min(30_000, 500 * 2 ** Math.min(6, this.restarts++))
      this.o.log.error({ code, restartInMs: waitMs }, 'CRM sync: the drain thread stopped; starting it again')
      setTimeout(() => { if (!this.stopping) this.spawn() }, waitMs).unref()
    })
    for (let i = 0; i < this.pauses; i++) w.postMessage({ t: 'pause', id: 0 } satisfies ToThread)
    w.postMessage({ t: 'start' } satisfies ToThread)
  }

  private async onMessage(w: Worker, m: FromThread): Promise<void> {
    switch (m.t) {
      case 'call': {
        try {
          const value = await this.serve(m)
          w.postMessage({ t: 'reply', id: m.id, ok: true, value, offsetMs: this.offset() } satisfies ToThread)
        } catch (err) {
          w.postMessage({ t: 'reply', id: m.id, ok: false, error: (err as Error).message, offsetMs: this.offset() } satisfies ToThread)
        }
        return
      }
      case 'hook': {
        const h = this.o.hooks
        if (m.name === 'delivered') { this.restarts = 0; h?.delivered?.(...m.args) } else if (m.name === 'retried') h?.retried?.(...m.args)
        else h?.parked?.(...m.args)
        return
      }
      case 'state': {
        // the thread's monotonic times mean nothing here: the next try is known by the gateway's clock (retryAt)
        this.state = m.state
        return
      }
      case 'log': this.o.log[m.level](m.obj, m.msg); return
      case 'thread': this.thread = { tid: m.tid, nice: m.nice }; return
      case 'done': { const done = this.waiting.get(m.id); this.waiting.delete(m.id); done?.(); return }
    }
  }

  private serve(m: OutboxCall): Promise<unknown> {
    const ob = this.o.outbox
    switch (m.fn) {
      case 'nextRaw': return ob.nextRaw(...m.args)
      case 'unreadable': return ob.unreadable(m.args[0], m.args[1], new Error(m.args[2]))
      case 'deliveredRange': return ob.deliveredRange(...m.args)
      case 'park': return ob.park(...m.args)
    }
  }
}
