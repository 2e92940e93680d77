/** Configuration: one schema for file and environment; bad values stop start-up with a message naming key, value and expectation. */
import t from 'tap'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { spawnSync } from 'node:child_process'
import { ConfigError, loadConfig, packageRoot } from '../../edge/config/load.js'
import { distMain, hasDist } from '../helpers/process.js'

const dir = mkdtempSync(join(tmpdir(), 'aisle-cfg-'))
const write = (name: string, body: unknown): string => {
  const f = join(dir, name)
  writeFileSync(f, typeof body === 'string' ? body : JSON.stringify(body))
  return f
}
const demo = join(packageRoot(), 'config', 'demo-store.json')
const issuesOf = (fn: () => unknown): ConfigError => {
  try {
    fn()
  } catch (err) {
    if (err instanceof ConfigError) return err
    throw err
  }
  throw new Error('expected a ConfigError')
}

t.test('defaults and the demo store load', async (t) => {
  const d = loadConfig({ env: {} })
  t.equal(d.config.http.port, 8080)
  t.equal(d.config.mqtt.url, null, 'embedded broker by default')
  t.equal(d.config.mqtt.embedded.port, 1883)
  const s = loadConfig({ file: demo, env: {} })
  t.equal(s.config.store.id, 'demo')
  t.ok(s.config.campaigns.some((c) => c.trigger.kind === 'dwell' && c.trigger.seconds === 10), 'a 10 s dwell campaign')
  t.ok(s.config.members.length >= 3)
})

t.test('every environment override of CONTRACT section 8', async (t) => {
  const { config, envAdminToken } = loadConfig({
    env: {
      AISLE_CONFIG: demo, AISLE_DATA_DIR: '/var/lib/x', AISLE_HTTP_PORT: '9090', AISLE_MQTT_PORT: '2883',
      AISLE_MQTT_URL: 'mqtt://broker.local:1883', AISLE_ADMIN_TOKEN: 'tok', AISLE_MEMBER_JWT_SECRET: 'a-very-long-shared-secret', AISLE_SIMULATOR: 'off',
    },
  })
  t.equal(config.store.id, 'demo', 'AISLE_CONFIG')
  t.equal(config.dataDir, '/var/lib/x', 'AISLE_DATA_DIR')
  t.equal(config.http.port, 9090, 'AISLE_HTTP_PORT')
  t.equal(config.mqtt.embedded.port, 2883, 'AISLE_MQTT_PORT')
  t.equal(config.mqtt.url, 'mqtt://broker.local:1883', 'AISLE_MQTT_URL')
  t.equal(envAdminToken, 'tok', 'AISLE_ADMIN_TOKEN')
  t.equal(config.member.jwt.secret, 'a-very-long-shared-secret', 'AISLE_MEMBER_JWT_SECRET')
  t.equal(config.simulator.enabled, false, 'AISLE_SIMULATOR=off')
  t.equal(loadConfig({ env: { AISLE_SIMULATOR: 'on' } }).config.simulator.enabled, true, 'AISLE_SIMULATOR=on')
  t.equal(loadConfig({ env: { AISLE_MQTT_URL: '' } }).config.mqtt.url, null, 'empty AISLE_MQTT_URL means embedded')
})

t.test('bad values name the key, the value, the source and what was expected', async (t) => {
  const env = issuesOf(() => loadConfig({ env: { AISLE_HTTP_PORT: 'eighty' } }))
  t.match(env.message, /http\.port = "eighty" \(from AISLE_HTTP_PORT\): expected an integer/)
  const range = issuesOf(() => loadConfig({ env: { AISLE_HTTP_PORT: '70000' } }))
  t.match(range.message, /http\.port = 70000 \(from AISLE_HTTP_PORT\): expected a number <= 65535/)
  const sim = issuesOf(() => loadConfig({ env: { AISLE_SIMULATOR: 'maybe' } }))
  t.match(sim.message, /simulator\.enabled = "maybe" \(from AISLE_SIMULATOR\): expected on or off/)
  const url = issuesOf(() => loadConfig({ env: { AISLE_MQTT_URL: 'http://broker' } }))
  t.match(url.message, /mqtt\.url = "http:\/\/broker" \(from AISLE_MQTT_URL\): expected a string matching/)

  const f = write('bad.json', { http: { port: 'x' }, presnce: {}, store: { id: 'Bad Store', timezone: 'Mars/Olympus' }, log: { level: 'loud' } })
  const e = issuesOf(() => loadConfig({ file: f, env: {} }))
  t.match(e.message, /http\.port = "x" \(from .*bad\.json\): expected a value of type integer/)
  t.match(e.message, /presnce = \{\} .*: expected no such key \(typo\?\)/)
  t.match(e.message, /store\.id = "Bad Store"/)
  t.match(e.message, /log\.level = "loud" .*expected one of "fatal", "error"/)
  t.notMatch(e.message, /at .*\.ts:\d+/, 'no stack trace')

  const zone = issuesOf(() => loadConfig({ file: write('zone.json', { store: { id: 's1', name: 'x', timezone: 'Mars/Olympus' }, layout: { zones: [{ id: 'a' }], anchors: [{ id: 's', kind: 'scanner', zone: 'b' }] } }), env: {} }))
  t.match(zone.message, /layout\.anchors\[0\]\.zone = "b" .*expected one of the zones \(a\)/)
  t.match(zone.message, /store\.timezone = "Mars\/Olympus"/)

  const camp = issuesOf(() => loadConfig({ file: write('camp.json', { layout: { zones: [{ id: 'a' }], anchors: [] }, campaigns: [{ id: 'c', title: 't', trigger: { kind: 'dwell' }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 5 }] }), env: {} }))
  t.match(camp.message, /campaigns\[0\]\.trigger\.zone = \(missing\).*a zone \(a dwell trigger needs one\)/)

  t.match(issuesOf(() => loadConfig({ file: write('broken.json', '{ "http": '), env: {} })).message, /expected valid JSON/)
  t.match(issuesOf(() => loadConfig({ file: join(dir, 'missing.json'), env: {} })).message, /readable JSON file \(ENOENT\)/)
})

t.test('command line: check-config and a refused start', { skip: hasDist() ? false : 'dist/ not built (npm run build)' }, async (t) => {
  const ok = spawnSync(process.execPath, [distMain(), 'check-config', demo], { encoding: 'utf8', env: { ...process.env, AISLE_HTTP_PORT: '' } })
  t.equal(ok.status, 0, ok.stderr)
  t.match(ok.stdout, /^OK: .*store demo, 7 zones/)
  const badFile = write('cli-bad.json', { http: { port: -1 } })
  const bad = spawnSync(process.execPath, [distMain(), 'check-config', badFile], { encoding: 'utf8' })
  t.equal(bad.status, 1)
  t.match(bad.stderr, /http\.port = -1 .*expected a number >= 0/)
  t.notMatch(bad.stderr, /\n\s+at /, 'no stack trace')
  const start = spawnSync(process.execPath, [distMain()], { encoding: 'utf8', env: { ...process.env, AISLE_CONFIG: badFile }, timeout: 20_000 })
  t.equal(start.status, 1, 'the gateway does not start')
  t.match(start.stderr, /The gateway did not start/)
  const hash = spawnSync(process.execPath, [distMain(), 'hash-token', 'secret'], { encoding: 'utf8' })
  t.equal(hash.stdout.trim(), '2bb80d537b1da3e38bd30361aa855686bde0eacd7162fef6a25fe97bf527a25b')
})

t.test('every problem in one pass: type errors do not hide layout, time zone or environment problems', async (t) => {
  const f = write('mixed.json', {
    http: { port: 'eighty' },
    store: { id: 's1', timezone: 'Mars/Olympus' },
    layout: { zones: [{ id: 'dairy' }], anchors: [{ id: 'scn-1', kind: 'scanner', zone: 'bakery' }] },
    campaigns: [{ id: 'c1', title: 't', trigger: { kind: 'dwell', zone: 'nowhere', seconds: 10 }, offer: { discount: { kind: 'percent', value: 10 } }, validMinutes: 30 }],
  })
  const e = issuesOf(() => loadConfig({ file: f, env: { AISLE_MQTT_PORT: 'abc' } }))
  const keys = e.issues.map((i) => i.key).sort()
  t.same(keys, ['campaigns[0].trigger.zone', 'http.port', 'layout.anchors[0].zone', 'mqtt.embedded.port', 'store.timezone'], e.message)
  t.match(e.message, /AISLE_MQTT_PORT/)
})
