/**
 * Benchmark process for npm run bench:sync: the receiver in a process of its own, as the central CRM is on
 * another machine, so that its CPU and peak RSS are its alone and the gateway's event loop is not shared with it.
 * Driven over IPC, one command at a time (BenchChild). The receiver is either
 *   crm   the reference CRM (cloud-sync/reference-crm), SQLite in a file or ':memory:'
 *   sink  a bare HTTP receiver: reads the body, JSON.parse, counts the events, answers 200 (503 while down), 404
 *         to anything else: what the gateway's side can drain when the receiver costs next to nothing
 *
 * BENCH_SYNC_PROFILE=<dir>: a CPU profile of this process per receiver, from its start to its close.
 */
import { rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { Session } from 'node:inspector/promises'
import type { AddressInfo } from 'node:net'
import { join } from 'node:path'
import { startReferenceCrm, type Faults, type ReferenceCrm, type ReferenceCrmStats } from '../../cloud-sync/reference-crm/server.js'
import type { Campaign } from '../../edge/contract/resources.js'
import { RssSampler } from './lib.js'

export type CrmCommand =
  | { cmd: 'start'; writeKey: string; storeToken: string; dbFile: string | null }
  | { cmd: 'startSink' }
  /** the reference CRM's faults; the sink knows `down` only */
  | { cmd: 'faults'; faults: Faults }
  | { cmd: 'putCampaign'; store: string; campaign: unknown }
  /** resolves once `accepted` reaches n (polled every 2 ms in this process) or after timeoutMs */
  | { cmd: 'waitAccepted'; n: number; timeoutMs: number }
  | { cmd: 'stats'; resetPeak?: boolean }
  | { cmd: 'count' }
  | { cmd: 'close' }

export interface CrmAnswer {
  done: true
  url?: string
  accepted: number
  duplicates: number
  batches: number
  byStatus: Record<string, number>
  count?: number
  /** waitAccepted: reached (else timed out) */
  reached?: boolean
  /** waitAccepted: [ms since the wait began, accepted, batch POSTs] every 500 ms */
  progress?: [number, number, number][]
  /** peak RSS since the last reset */
  rssPeak: number
  /** CPU ms of this process since the last reset */
  cpuMs: number
}

const PROFILE = process.env['BENCH_SYNC_PROFILE']
let session: Session | null = null
let profiles = 0

interface Sink { server: Server; down: boolean; stats: ReferenceCrmStats }
let crm: ReferenceCrm | null = null
let sink: Sink | null = null
let dbFile: string | null = null
let rss = new RssSampler().start()
let cpu0 = process.cpuUsage()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const stats = (): ReferenceCrmStats | undefined => crm?.stats ?? sink?.stats

function answer(extra: Partial<CrmAnswer> = {}): CrmAnswer {
  const s = stats()
  const c = process.cpuUsage(cpu0)
  return {
    done: true, accepted: s?.accepted ?? 0, duplicates: s?.duplicates ?? 0, batches: s?.batches ?? 0, byStatus: { ...(s?.byStatus ?? {}) },
    rssPeak: Math.max(rss.peak, process.memoryUsage.rss()), cpuMs: (c.user + c.system) / 1000, ...extra,
  }
}

async function profileStart(): Promise<void> {
  if (!PROFILE) return
  session = new Session()
  session.connect()
  await session.post('Profiler.enable')
  await session.post('Profiler.start')
}

async function profileStop(): Promise<void> {
  if (!session) return
  const { profile } = await session.post('Profiler.stop')
  writeFileSync(join(PROFILE!, `receiver-${process.pid}-${++profiles}.cpuprofile`), JSON.stringify(profile))
  session.disconnect()
  session = null
}

function startSink(): Promise<Sink> {
  const s: Sink = { down: false, stats: { batches: 0, accepted: 0, duplicates: 0, refused: 0, notModified: 0, byStatus: {} }, server: null as unknown as Server }
  const reply = (res: import('node:http').ServerResponse, code: number, body: string) => {
    s.stats.byStatus[code] = (s.stats.byStatus[code] ?? 0) + 1
    res.writeHead(code, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) })
    res.end(body)
  }
  s.server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      if (req.method !== 'POST' || !req.url?.endsWith('/batch')) { reply(res, 404, '{"error":"not found (sink)"}'); return }
      s.stats.batches++
      if (s.down) { reply(res, 503, '{"error":"down (sink)"}'); return }
      const b = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { batch: unknown[] }
      s.stats.accepted += b.batch.length
      reply(res, 200, '{"ok":true}')
    })
  })
  return new Promise((resolve) => s.server.listen(0, '127.0.0.1', () => resolve(s)))
}

async function handle(c: CrmCommand): Promise<CrmAnswer> {
  switch (c.cmd) {
    case 'start': {
      if (crm || sink) throw new Error('a receiver is running already')
      dbFile = c.dbFile
      await profileStart()
      crm = await startReferenceCrm({ writeKey: c.writeKey, storeToken: c.storeToken, ...(c.dbFile ? { dbFile: c.dbFile } : {}) })
      return answer({ url: crm.url })
    }
    case 'startSink': {
      if (crm || sink) throw new Error('a receiver is running already')
      await profileStart()
      sink = await startSink()
      return answer({ url: `http://127.0.0.1:${(sink.server.address() as AddressInfo).port}` })
    }
    case 'faults':
      if (crm) crm.faults = c.faults
      if (sink) sink.down = c.faults.down === true
      return answer()
    case 'putCampaign':
      await crm!.putCampaign(c.store, c.campaign as Campaign)
      return answer()
    case 'waitAccepted': {
      const t0 = performance.now()
      const deadline = t0 + c.timeoutMs
      const progress: [number, number, number][] = []
      let mark = t0
      while ((stats()?.accepted ?? 0) < c.n && performance.now() < deadline) {
        await sleep(2)
        if (performance.now() - mark >= 500) { mark = performance.now(); progress.push([Math.round(mark - t0), stats()!.accepted, stats()!.batches]) }
      }
      return answer({ reached: (stats()?.accepted ?? 0) >= c.n, progress })
    }
    case 'stats': {
      const a = answer()
      if (c.resetPeak) {
        rss.stop()
        rss = new RssSampler().start()
        cpu0 = process.cpuUsage()
      }
      return a
    }
    case 'count':
      return answer({ count: crm ? await crm.count() : sink?.stats.accepted ?? 0 })
    case 'close': {
      const a = answer()
      await crm?.close()
      if (sink) { sink.server.closeAllConnections(); await new Promise((r) => sink!.server.close(r)) }
      crm = null
      sink = null
      await profileStop()
      if (dbFile) for (const f of [dbFile, `${dbFile}-journal`, `${dbFile}-wal`, `${dbFile}-shm`]) rmSync(f, { force: true })
      dbFile = null
      globalThis.gc?.()
      return a
    }
  }
}

process.on('message', (m) => {
  handle(m as CrmCommand).then((r) => process.send!(r), (err) => process.send!({ error: String((err as Error)?.stack ?? err) }))
})
process.send!({ ready: true })
