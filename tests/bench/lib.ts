/** Small helpers shared by the benchmarks: percentiles, RSS sampling, child publishers, tables. */
import { fork, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export function percentile(sorted: number[] | Float64Array, p: number): number {
  if (sorted.length === 0) return NaN
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))
  return sorted[i]!
}

export class RssSampler {
  private timer: NodeJS.Timeout | null = null
  peak = 0
  start(): this {
    this.peak = process.memoryUsage.rss()
    this.timer = setInterval(() => { this.peak = Math.max(this.peak, process.memoryUsage.rss()) }, 20)
    return this
  }
  stop(): number {
    if (this.timer) clearInterval(this.timer)
    this.peak = Math.max(this.peak, process.memoryUsage.rss())
    return this.peak
  }
}

export const mb = (bytes: number): string => `${(bytes / 1048576).toFixed(0)} MB`

export function table(rows: Record<string, string | number>[]): string {
  if (rows.length === 0) return ''
  const cols = Object.keys(rows[0]!)
  const w = cols.map((c) => Math.max(c.length, ...rows.map((r) => String(r[c]).length)))
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(w[i]!)).join('  ')
  return [line(cols), line(w.map((n) => '-'.repeat(n))), ...rows.map((r) => line(cols.map((c) => String(r[c]))))].join('\n')
}

export interface PublishJob {
  url: string
  prefix: string
  /** messages to send */
  count: number
  /** sightings per message (1 = a single object, n = an array) */
  batch: number
  /** messages per second; 0 = as fast as the connection takes them */
  rate: number
  subjects: number
  scanners: string[]
}

/** A helper process driven over IPC: one job at a time, answered with `{done: true, ...result}` or `{error}`. */
export class BenchChild<Job, Result> {
  protected constructor(private readonly child: ChildProcess) {}

  static async fork<J, R>(file: string): Promise<BenchChild<J, R>> {
    const child = fork(fileURLToPath(new URL(file, import.meta.url)), [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })
    await new Promise<void>((resolve, reject) => {
      child.once('message', () => resolve())
      child.once('exit', (code) => reject(new Error(`${file} exited ${code}`)))
    })
    return new BenchChild<J, R>(child)
  }

  run(job: Job): Promise<Result> {
    return new Promise((resolve, reject) => {
      const off = () => { this.child.off('message', onMessage); this.child.off('exit', onExit) }
      const onMessage = (m: unknown) => {
        const msg = m as { done?: boolean; error?: string }
        if (msg.error) { off(); reject(new Error(msg.error)); return }
        if (msg.done) { off(); resolve(msg as Result) }
      }
      const onExit = (code: number | null, signal: string | null) => { off(); reject(new Error(`helper process ended (${signal ?? code}) before its job did`)) }
      this.child.on('message', onMessage)
      this.child.once('exit', onExit)
      this.child.send(job as object)
    })
  }

  stop(): void { this.child.kill() }
}

/** A sightings publisher in its own process (the way devices are separate from the gateway). */
export type Publisher = BenchChild<PublishJob, { sent: number; ms: number }>
export const Publisher = {
  start: (): Promise<Publisher> => BenchChild.fork<PublishJob, { sent: number; ms: number }>('./publisher.ts'),
}
