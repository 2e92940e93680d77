/**
 * Benchmark process for npm run bench:sync: the reference CRM (cloud-sync/reference-crm) in a process of its own,
 * as the central CRM is on another machine, so that its CPU and peak RSS are its alone and the gateway's event
 * loop is not shared with the receiver. Driven over IPC, one command at a time (BenchChild).
 */
import { rmSync } from 'node:fs'
import { startReferenceCrm, type Faults, type ReferenceCrm } from '../../cloud-sync/reference-crm/server.js'
import type { Campaign } from '../../edge/contract/resources.js'
import { RssSampler } from './lib.js'

export type CrmCommand =
  | { cmd: 'start'; writeKey: string; storeToken: string; dbFile: string | null }
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
  publicKeyPem?: string
  accepted: number
  duplicates: number
  batches: number
  byStatus: Record<string, number>
  count?: number
  /** waitAccepted: reached (else timed out) */
  reached?: boolean
  /** peak RSS since the last reset */
  rssPeak: number
  /** CPU ms of this process since the last reset */
  cpuMs: number
}

let crm: ReferenceCrm | null = null
let dbFile: string | null = null
let rss = new RssSampler().start()
let cpu0 = process.cpuUsage()
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

function answer(extra: Partial<CrmAnswer> = {}): CrmAnswer {
  const s = crm?.stats
  const c = process.cpuUsage(cpu0)
  return {
    done: true, accepted: s?.accepted ?? 0, duplicates: s?.duplicates ?? 0, batches: s?.batches ?? 0, byStatus: { ...(s?.byStatus ?? {}) },
    rssPeak: Math.max(rss.peak, process.memoryUsage.rss()), cpuMs: (c.user + c.system) / 1000, ...extra,
  }
}

async function handle(c: CrmCommand): Promise<CrmAnswer> {
  switch (c.cmd) {
    case 'start': {
      if (crm) throw new Error('a CRM is running already')
      dbFile = c.dbFile
      crm = await startReferenceCrm({ writeKey: c.writeKey, storeToken: c.storeToken, ...(c.dbFile ? { dbFile: c.dbFile } : {}) })
      return answer({ url: crm.url, publicKeyPem: crm.publicKeyPem })
    }
    case 'faults':
      crm!.faults = c.faults
      return answer()
    case 'putCampaign':
      await crm!.putCampaign(c.store, c.campaign as Campaign)
      return answer()
    case 'waitAccepted': {
      const deadline = performance.now() + c.timeoutMs
      while (crm!.stats.accepted < c.n && performance.now() < deadline) await sleep(2)
      return answer({ reached: crm!.stats.accepted >= c.n })
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
      return answer({ count: await crm!.count() })
    case 'close': {
      const a = answer()
      await crm?.close()
      crm = null
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
