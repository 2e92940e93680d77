/**
 * The drain thread (see drain-thread.ts): a Drainer whose outbox is the gateway thread's, reached by messages.
 * Packed blocks come compressed and are decoded here; deletions and parking are asked of the gateway's thread.
 */
import { readlinkSync } from 'node:fs'
import { getPriority, setPriority } from 'node:os'
import { parentPort, workerData } from 'node:worker_threads'
import { Vault } from '../edge/storage/vault.js'
import { Drainer } from './drainer.js'
import type { DrainThreadData, FromThread, OutboxCall, ToThread } from './drain-thread.js'
import { deliveredArgs, readChunk, type ChunkSource, type DrainOutbox, type RawChunk } from './outbox.js'
import { transportsFor } from './transport.js'

const port = parentPort
if (!port) throw new Error('drain-worker.ts runs as a worker thread (cloud-sync/drain-thread.ts starts it)')
const data = workerData as DrainThreadData
let offsetMs = data.clockOffsetMs
const now = () => Date.now() + offsetMs
const vault = new Vault(Buffer.from(data.storageKey))
const post = (m: FromThread) => port.postMessage(m)

/**
 * Background work: on Linux this thread alone runs at nice 10 (setpriority on its thread id), so that on a busy
 * gateway the scheduler gives the cores to the thread turning sightings into offers first.
 */
function lowerPriority(): { tid: number | null; nice: number | null } {
  try {
    const tid = Number(readlinkSync('/proc/thread-self').split('/').pop())
    if (!Number.isInteger(tid) || tid <= 0) return { tid: null, nice: null }
    setPriority(tid, Math.max(getPriority(tid), DRAIN_NICE))
    return { tid, nice: getPriority(tid) }
  } catch {
    return { tid: null, nice: null }
  }
}
const DRAIN_NICE = 10
post({ t: 'thread', ...lowerPriority() })

let seq = 0
const calls = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>()
function call<T>(c: OutboxCall): Promise<T> {
  const id = ++seq
  return new Promise<T>((resolve, reject) => {
    calls.set(id, { resolve: resolve as (v: unknown) => void, reject })
    post({ t: 'call', id, ...c })
  })
}

let lastState = ''
function postState(): void {
  const text = JSON.stringify(drainer.state)
  if (text === lastState) return
  lastState = text
  post({ t: 'state', state: drainer.state })
}

const source: ChunkSource = {
  nextRaw: (stream, limit) => call<RawChunk | null>({ fn: 'nextRaw', args: [stream, limit] }),
  unreadable: (stream, blockId, err) => call({ fn: 'unreadable', args: [stream, blockId, err.message] }),
}
const outbox: DrainOutbox = {
  next: (stream, limit) => readChunk(source, stream, limit),
  delivered: (chunk, records, blockDone) => call({ fn: 'deliveredRange', args: deliveredArgs(chunk, records, blockDone) }),
  park: (chunk, r, reason, at) => call({ fn: 'park', args: [{ stream: chunk.stream, source: chunk.source }, r, reason, at] }),
}

const drainer = new Drainer({
  outbox,
  transports: transportsFor(data.settings, data.storeId, now),
  envelope: { storeId: data.storeId, version: data.version, unseal: (s) => vault.open(s) },
  now,
  maxBackoffMs: data.maxBackoffMs,
  readRows: data.readRows,
  log: {
    warn: (obj, msg) => post({ t: 'log', level: 'warn', obj, msg }),
    info: (obj, msg) => post({ t: 'log', level: 'info', obj, msg }),
  },
  hooks: {
    // the state before the hook: the gateway's counts and what it shows move together
    delivered: (...args) => { postState(); post({ t: 'hook', name: 'delivered', args }) },
    retried: (...args) => { postState(); post({ t: 'hook', name: 'retried', args }) },
    parked: (...args) => { postState(); post({ t: 'hook', name: 'parked', args }) },
  },
})

// the state the gateway shows (GET /v1/admin/sync) follows what changes here
const stateTimer = setInterval(postState, 250)

port.on('message', (m: ToThread) => {
  switch (m.t) {
    case 'reply': {
      offsetMs = m.offsetMs
      const c = calls.get(m.id)
      calls.delete(m.id)
      if (m.ok) c?.resolve(m.value)
      else c?.reject(new Error(m.error))
      return
    }
    case 'clock': offsetMs = m.offsetMs; return
    case 'start': drainer.start(); postState(); return
    case 'kick': drainer.kick({ retryNow: m.retryNow }); postState(); return
    case 'pause': void drainer.pause().then(() => post({ t: 'done', id: m.id })); return
    case 'resume': drainer.resume(); return
    case 'stop':
      void drainer.stop().then(() => {
        clearInterval(stateTimer)
        postState()
        post({ t: 'done', id: m.id })
        port.close()
      })
      return
  }
})
