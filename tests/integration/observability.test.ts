/**
 * The chain's view: the Grafana dashboard and the Prometheus alert rules in config/. The rules pass
 * `promtool check rules` and their unit tests (`promtool test rules`); every dashboard query is valid
 * PromQL (checked by promtool as recording rules) and names only metrics a live gateway's /metrics has.
 * promtool is Debian's `prometheus` package; without it the promtool checks skip with a message.
 */
import t from 'tap'
import { execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ManualClock } from '../../edge/core/clock.js'
import { startTestGateway } from '../helpers/gateway.js'

const ROOT = join(import.meta.dirname, '..', '..')
const CONFIG = join(ROOT, 'config')
const PROMTOOL = ['/usr/bin/promtool', '/usr/local/bin/promtool'].find((p) => existsSync(p))
const noPromtool = PROMTOOL ? false : "promtool is not installed (Debian: apt-get install -y prometheus); .ci/run installs it"

interface Panel { title: string; type: string; targets?: { expr: string }[] }
const dashboard = JSON.parse(readFileSync(join(CONFIG, 'grafana-dashboard.json'), 'utf8')) as { panels: Panel[]; templating: { list: { name: string; query?: unknown }[] } }
const queries = dashboard.panels.flatMap((p) => (p.targets ?? []).map((q) => ({ panel: p.title, expr: q.expr })))
const rulesText = readFileSync(join(CONFIG, 'prometheus-rules.yml'), 'utf8')

/** metric names a PromQL expression reads (ours are all aisle_*) */
const namesIn = (expr: string) => [...new Set(expr.match(/\baisle_[a-z0-9_]+/g) ?? [])]

/** Grafana's variables, as Prometheus would see them after substitution */
const substitute = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$instance', '.*')

t.test('alert rules pass promtool and their unit tests', { skip: noPromtool }, async (t) => {
  t.match(execFileSync(PROMTOOL!, ['check', 'rules', join(CONFIG, 'prometheus-rules.yml')], { encoding: 'utf8' }), /SUCCESS: 5 rules found/)
  t.match(execFileSync(PROMTOOL!, ['test', 'rules', join(CONFIG, 'prometheus-rules.test.yml')], { cwd: CONFIG, encoding: 'utf8' }), /SUCCESS/)
  for (const a of ['AisleScannerSilent', 'AisleDeadLetterSpike', 'AisleOutboxBacklogOld', 'AisleEventLoopLag', 'AisleCallsWaitingPastGoal']) t.match(rulesText, `alert: ${a}`)
})

t.test('every dashboard query is valid PromQL', { skip: noPromtool }, async (t) => {
  t.ok(queries.length >= 20, `${queries.length} queries`)
  const dir = mkdtempSync(join(tmpdir(), 'aisle-dash-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const file = join(dir, 'dashboard-queries.yml')
  const rules = queries.map((q, i) => `      - record: dashboard:query_${i}\n        expr: ${JSON.stringify(substitute(q.expr))}`).join('\n')
  writeFileSync(file, `groups:\n  - name: dashboard\n    rules:\n${rules}\n`)
  t.match(execFileSync(PROMTOOL!, ['check', 'rules', file], { encoding: 'utf8' }), new RegExp(`SUCCESS: ${queries.length} rules found`))
})

t.test('the dashboard and the alert rules name only metrics a live gateway exposes', async (t) => {
  const tg = await startTestGateway({ clock: new ManualClock(Date.UTC(2026, 3, 1, 10, 0, 0)) })
  t.teardown(() => tg.close())
  const text = await (await fetch(`${tg.gw.httpUrl}/metrics`)).text()
  const exposed = new Set<string>()
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) {
    exposed.add(m[1]!)
    if (m[2] === 'histogram') for (const s of ['_bucket', '_sum', '_count']) exposed.add(`${m[1]}${s}`)
  }
  const missing: string[] = []
  for (const q of queries) for (const n of namesIn(q.expr)) if (!exposed.has(n)) missing.push(`${q.panel}: ${n}`)
  for (const n of namesIn(rulesText)) if (!exposed.has(n)) missing.push(`rules: ${n}`)
  t.same(missing, [], 'no query names a metric the gateway does not have')
  t.ok(namesIn(queries.map((q) => q.expr).join(' ')).length >= 20, 'the dashboard covers the gateway\'s metrics')
  t.ok(dashboard.templating.list.some((v) => v.name === 'instance'), 'one dashboard for every gateway of the chain (instance variable)')
})
