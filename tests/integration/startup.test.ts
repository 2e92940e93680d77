/**
 * Start-up as store IT meets it: one gateway per data folder (a second start refuses at once, a stale lock is
 * taken over), a taken port is one clear line and a non-zero exit, an unreachable external broker leaves the
 * demo running offline with one warning instead of one every few seconds, and a plain gateway with no admin
 * token or no layout says what is missing and how to add it.
 */
import t from 'tap'
import { mkdtempSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort, sleep, waitFor } from '../helpers/net.js'
import { hasDist, spawnGateway, waitReady } from '../helpers/process.js'

const skip = hasDist() ? false : 'dist/ not built (npm run build)'
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'aisle-start-')); t.teardown(() => rmSync(d, { recursive: true, force: true })); return d }
const ports = async () => ({ AISLE_HTTP_PORT: String(await freePort()), AISLE_MQTT_PORT: String(await freePort()), AISLE_HTTP_HOST: '127.0.0.1', AISLE_MQTT_HOST: '127.0.0.1' })
/** the exit code, or 'still running' after a minute (a half-started process that never exits) */
const exitOf = (c: ReturnType<typeof spawnGateway>) => Promise.race([c.exited, new Promise<string>((r) => setTimeout(() => { c.proc.kill('SIGKILL'); r('still running') }, 60_000).unref())])
const base = { AISLE_SIMULATOR: 'off', AISLE_LOG_LEVEL: 'warn', AISLE_ADMIN_TOKEN: 'startup-test-token' }

t.test('a data folder belongs to one gateway; a stale lock is taken over', { skip }, async (t) => {
  const dir = tmp()
  const p1 = await ports()
  const first = spawnGateway(['--demo'], { ...base, ...p1, AISLE_DATA_DIR: dir })
  t.teardown(() => { if (first.proc.exitCode === null) first.proc.kill('SIGKILL') })
  await waitReady(`http://127.0.0.1:${p1.AISLE_HTTP_PORT}`, first)
  const lock = JSON.parse(readFileSync(join(dir, 'aisle-edge.lock'), 'utf8')) as { pid: number }
  t.equal(lock.pid, first.proc.pid, 'the lock names its owner')

  const second = spawnGateway(['--demo'], { ...base, ...(await ports()), AISLE_DATA_DIR: dir })
  t.equal(await exitOf(second), 1, 'a second gateway on the same folder exits non-zero, and does not keep running')
  const said = second.out.join('').trim().split('\n')
  t.equal(said.length, 1, `one line: ${said.join(' | ')}`)
  t.match(said[0], new RegExp(`did not start: data folder .* is in use by process ${first.proc.pid}`))

  first.proc.kill('SIGTERM')
  t.equal(await first.exited, 0)
  t.notOk(existsSync(join(dir, 'aisle-edge.lock')), 'released on exit')

  // a gateway killed outright leaves its lock behind: the next start takes it over
  writeFileSync(join(dir, 'aisle-edge.lock'), JSON.stringify({ pid: 2 ** 22 + 12345, host: (await import('node:os')).hostname(), startedAt: '2020-01-01T00:00:00Z' }))
  const p3 = await ports()
  const third = spawnGateway([], { ...base, ...p3, AISLE_DATA_DIR: dir })
  t.teardown(() => { if (third.proc.exitCode === null) third.proc.kill('SIGKILL') })
  await waitFor(async () => { try { return (await fetch(`http://127.0.0.1:${p3.AISLE_HTTP_PORT}/healthz`)).ok } catch { return false } }, { timeoutMs: 20_000, what: 'started over a stale lock' })
  t.match(third.out.join(''), /took over a stale lock of process 4206649/)
  third.proc.kill('SIGTERM')
  t.equal(await third.exited, 0)
})

t.test('a taken port: one clear line and a non-zero exit', { skip }, async (t) => {
  const blocker = createServer()
  const port = await freePort()
  await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', () => r()))
  t.teardown(() => blocker.close())
  for (const [env, what] of [['AISLE_MQTT_PORT', 'MQTT broker'], ['AISLE_HTTP_PORT', 'HTTP']] as const) {
    const child = spawnGateway([], { ...base, ...(await ports()), [env]: String(port), AISLE_DATA_DIR: tmp() })
    t.equal(await exitOf(child), 1, `${what}: exits 1 (and does not keep running)`)
    const said = child.out.join('').trim().split('\n').filter((l) => !l.startsWith('{'))
    t.same(said, [`aisle-edge did not start: ${what} port ${port} on 127.0.0.1 is already in use (another gateway, or a Mosquitto?): stop it or choose another port with ${env}`])
  }
})

t.test('the demo with an unreachable external broker runs offline and says so once', { skip }, async (t) => {
  const dead = await freePort() // nothing listens there
  const p = await ports()
  const child = spawnGateway(['--demo'], { ...base, ...p, AISLE_SIMULATOR: 'on', AISLE_DATA_DIR: tmp(), AISLE_MQTT_URL: `mqtt://127.0.0.1:${dead}` })
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL') })
  const banner = await waitFor(() => { const o = child.out.join(''); return o.includes('Ctrl-C stops it') ? o : undefined }, { timeoutMs: 30_000, what: 'the banner' })
  t.match(banner, /not ready:\s+broker: external mqtt:\/\/127\.0\.0\.1:\d+ .*not connected/, 'the banner says the broker is not there')
  const ready = await (await fetch(`http://127.0.0.1:${p.AISLE_HTTP_PORT}/readyz`)).json() as { ready: boolean; checks: { broker: { ok: boolean; detail: string } } }
  t.equal(ready.ready, false)
  t.match(ready.checks.broker.detail, /not connected.*retrying/)
  await sleep(6000)
  const warnings = child.out.join('').split('\n').filter((l) => l.includes('MQTT broker unreachable'))
  t.equal(warnings.length, 1, 'one warning, not one per retry')
  t.notMatch(child.out.join(''), /failed|did not start/)
  child.proc.kill('SIGINT')
  t.equal(await child.exited, 0)
})

t.test('a plain gateway with no admin token and no layout says what is missing', { skip }, async (t) => {
  const p = await ports()
  const cfg = join(tmp(), 'empty.json')
  writeFileSync(cfg, JSON.stringify({ store: { id: 'fresh', timezone: 'Europe/Berlin' } }))
  const child = spawnGateway([], { AISLE_SIMULATOR: 'off', AISLE_LOG_LEVEL: 'warn', ...p, AISLE_DATA_DIR: tmp(), AISLE_CONFIG: cfg })
  t.teardown(() => { if (child.proc.exitCode === null) child.proc.kill('SIGKILL') })
  const url = `http://127.0.0.1:${p.AISLE_HTTP_PORT}`
  await waitFor(async () => { try { return (await fetch(`${url}/healthz`)).ok } catch { return false } }, { timeoutMs: 20_000, what: 'started' })
  const out = await waitFor(() => { const o = child.out.join(''); return o.includes('Ctrl-C') ? o : undefined }, { what: 'banner' })
  t.match(out, /admin API:\s+no admin token configured: set AISLE_ADMIN_TOKEN/)
  t.match(out, /not ready:\s+layout: no zones in the layout yet: send one with PUT \/v1\/admin\/layout/)
  const r = await fetch(`${url}/readyz`)
  t.equal(r.status, 503, 'a store with no zones is not ready')
  const body = await r.json() as { checks: Record<string, { ok: boolean; detail: string }> }
  t.match(body.checks['admin']!.detail, /no admin token/)
  const denied = await fetch(`${url}/v1/admin/presence`, { headers: { authorization: 'Bearer whatever' } })
  t.equal(denied.status, 401)
  t.match((await denied.json() as { message: string }).message, /no admin token is configured on this gateway: set AISLE_ADMIN_TOKEN/)
  child.proc.kill('SIGTERM')
  t.equal(await child.exited, 0)
})
