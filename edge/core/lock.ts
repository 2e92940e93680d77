/**
 * A data folder belongs to one gateway process: `<dataDir>/aisle-edge.lock` holds the owner's pid, host and
 * start time. It is created atomically (O_EXCL), released on stop and on process exit, and taken over when
 * stale (its process is gone, or it names this very pid after a container restart). A second gateway on
 * the same folder refuses to start instead of sharing the live database.
 */
import { closeSync, mkdirSync, openSync, readFileSync, unlinkSync, writeSync } from 'node:fs'
import { hostname } from 'node:os'
import { join } from 'node:path'

export class LockError extends Error {
  constructor(message: string) { super(message); this.name = 'LockError' }
}

export interface DataLock { readonly file: string; readonly tookOver: string | null; release(): void }

const held = new Set<string>()
let exitHook = false

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

export function lockDataDir(dataDir: string): DataLock {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, 'aisle-edge.lock')
  if (held.has(file)) throw new LockError(`data folder ${dataDir} is already in use by this process`)
  let tookOver: string | null = null
  for (let attempt = 0; ; attempt++) {
    try {
      const fd = openSync(file, 'wx', 0o600)
      writeSync(fd, JSON.stringify({ pid: process.pid, host: hostname(), startedAt: new Date().toISOString() }))
      closeSync(fd)
      break
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw new LockError(`cannot create the lock file ${file}: ${(err as Error).message}`)
      let owner: { pid?: number; host?: string; startedAt?: string } = {}
      try { owner = JSON.parse(readFileSync(file, 'utf8')) as typeof owner } catch { /* unreadable: stale */ }
      const pid = typeof owner.pid === 'number' ? owner.pid : NaN
      const sameHost = owner.host === undefined || owner.host === hostname()
      if (Number.isInteger(pid) && pid !== process.pid && (!sameHost || alive(pid))) {
        throw new LockError(`data folder ${dataDir} is in use by process ${pid}${sameHost ? '' : ` on ${owner.host}`} (started ${owner.startedAt ?? 'at an unknown time'}): stop that gateway, or give this one its own AISLE_DATA_DIR`)
      }
      tookOver = `a stale lock of process ${Number.isInteger(pid) ? pid : '(unknown)'} (started ${owner.startedAt ?? 'at an unknown time'})`
      try { unlinkSync(file) } catch { /* raced: the next attempt tells */ }
    }
  }
  held.add(file)
  if (!exitHook) {
    exitHook = true
    process.once('exit', () => { for (const f of held) try { unlinkSync(f) } catch { /* gone */ } })
  }
  return {
    file, tookOver,
    release() {
      if (!held.delete(file)) return
      try {
        const owner = JSON.parse(readFileSync(file, 'utf8')) as { pid?: number }
        if (owner.pid === process.pid) unlinkSync(file)
      } catch { /* already gone */ }
    },
  }
}
