/** Start a real Mosquitto on a free loopback port for a test (config/mosquitto.conf limits, no persistence). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { packageRoot } from '../../edge/config/load.js'
import { freePort, waitFor } from './net.js'
import { createConnection } from 'node:net'

export function mosquittoBinary(): string | null {
  for (const p of ['/usr/sbin/mosquitto', '/usr/bin/mosquitto', '/usr/local/sbin/mosquitto']) {
    const r = spawnSync(p, ['-h'], { stdio: 'ignore' })
    if (r.error === undefined) return p
  }
  return null
}

export interface Mosquitto { url: string; port: number; proc: ChildProcess; stop(): Promise<void> }

/** Without `auth`, a lab Mosquitto (anonymous devices); with it, the shipped config's device identity, on these files. */
export async function startMosquitto(opts: { auth?: { passwd: string; acl: string } } = {}): Promise<Mosquitto> {
  const bin = mosquittoBinary()
  if (!bin) throw new Error('mosquitto is not installed')
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'aisle-mosq-'))
  const base = readFileSync(join(packageRoot(), 'config', 'mosquitto.conf'), 'utf8')
    .replace(/^listener .*$/m, `listener ${port} 127.0.0.1`)
    .replace(/^persistence true$/m, 'persistence false')
    .replace(/^persistence_location .*$/m, '')
    .replace(/^autosave_interval .*$/m, '')
    .replace(/^allow_anonymous .*$/m, opts.auth ? 'allow_anonymous false' : 'allow_anonymous true')
    .replace(/^password_file .*$/m, opts.auth ? `password_file ${opts.auth.passwd}` : '')
    .replace(/^acl_file .*$/m, opts.auth ? `acl_file ${opts.auth.acl}` : '')
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `${base}\nlog_dest stderr\nlog_type error\n`)
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (d) => { stderr += String(d) })
  await waitFor(() => new Promise<boolean>((resolve) => {
    const s = createConnection({ port, host: '127.0.0.1' }, () => { s.end(); resolve(true) })
    s.on('error', () => resolve(false))
  }), { timeoutMs: 5000, what: `mosquitto on ${port} (${stderr})` })
  return {
    url: `mqtt://127.0.0.1:${port}`, port, proc,
    async stop() {
      if (proc.exitCode === null) {
        proc.kill('SIGTERM')
        await new Promise((r) => proc.once('exit', r))
      }
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
