/**
 * Health: readiness, CRM sync (whatever fields GET /v1/admin/sync has), dead letters by reason (stored,
 * last hour; browse them), event-loop lag over the last ten minutes, database size, process memory, model.
 */
import { useMemo, useState } from 'preact/hooks'
import type uPlot from 'uplot'
import { api } from './api.js'
import { Chart } from './chart.js'
import { Action, Badge, Card, Empty, ago, bytes, duration, errorText, storeTimeAxis } from './ui.js'
import { can, gatewayNow, toast, useStore } from './store.js'

interface DeadLetter { id: number; receivedAt: string; topic: string; device: string | null; reason: string; detail: string | null; size: number; payload: string }

function LagChart() {
  const s = useStore()
  const data = useMemo<uPlot.AlignedData>(() => [s.lagHistory.map((x) => x.ts / 1000), s.lagHistory.map((x) => x.p99), s.lagHistory.map((x) => x.max)], [s.lagHistory])
  const tz = s.store?.timezone
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => {
    const time = storeTimeAxis(tz)
    return {
    tzDate: time.tzDate,
    scales: { x: { time: true }, y: { range: (_u, _a, max) => [0, Math.max(50, (max ?? 0) * 1.2)] } },
    series: [{ label: 'time', ...time.x }, { label: 'p99 (ms)', stroke: '#2f6fb5', width: 2, points: { show: false } }, { label: 'max (ms)', stroke: '#c77d00', points: { show: false } }],
    axes: [time.axis, { label: 'ms', size: 45 }],
    }
  }, [tz])
  return <Chart options={options} data={data} height={160} label="event loop delay, last ten minutes" />
}

const syncLabel: Record<string, string> = { backlog: 'Outbox backlog', oldestAgeSeconds: 'Oldest unsent', lastSuccess: 'Last success', lastSuccessAt: 'Last success', lastError: 'Last error', delivered: 'Delivered', parked: 'Parked', byStream: 'Unsent by stream', mode: 'Mode' }
const modeLabel: Record<string, string> = { 'stand-alone': 'stand-alone (no CRM configured)', http: 'HTTP to the CRM', mqtt: 'MQTT to the cloud broker' }

interface SyncStream { destination: string; backlog: number; packed: number; oldestAgeSeconds: number | null; delivered: number; retried: number; parked: number; lastSuccess: string | null; lastError: string | null; nextAttempt: string | null }

function SyncCard({ sync }: { sync: Record<string, unknown> }) {
  const s = useStore()
  const value = (k: string, v: unknown) => {
    if (v === null || v === undefined) return <span class="muted">—</span>
    if (k === 'mode' && typeof v === 'string') return <>{modeLabel[v] ?? v}</>
    if (k === 'oldestAgeSeconds' && typeof v === 'number') return <span class={v > 3600 ? 'warn-text' : ''}>{duration(v)}</span>
    if ((k === 'lastSuccess' || k === 'lastSuccessAt' || k.endsWith('At')) && typeof v === 'string') return <span title={v}>{ago(v)}</span>
    if (k === 'lastError' && typeof v === 'string') return <span class="warn-text">{v}</span>
    if (typeof v === 'object' && !Array.isArray(v) && Object.values(v as object).every((x) => typeof x === 'number')) return <>{Object.entries(v as Record<string, number>).map(([a, n]) => `${a} ${n}`).join(' · ') || '—'}</>
    if (typeof v === 'object') return <code class="small">{JSON.stringify(v)}</code>
    return <>{String(v)}</>
  }
  const simple = Object.entries(sync).filter(([k]) => syncLabel[k] && k !== 'byStream')
  const streams = sync['streams'] as Record<string, SyncStream> | undefined
  const inbound = sync['inbound'] as Record<string, { lastPull: string | null; lastApplied: string | null; lastError: string | null; notModified: number }> | undefined
  const budget = sync['budget'] as { bytes: number; budgetBytes: number; state: string } | undefined
  const parked = (sync['recentlyParked'] as { stream: string; event: string; messageId: string; reason: string; parkedAt: string }[] | undefined) ?? []
  const overrides = (sync['overrides'] as { resource: string; id: string; at: string }[] | undefined) ?? []
  const when = (v: string | null) => (v ? <span title={v}>{ago(v)}</span> : <span class="muted">—</span>)
  return (
    <Card title="CRM sync" actions={can(s.you?.role, 'operator') && sync['mode'] !== 'stand-alone' ? <Action kind="secondary" testid="sync-retry" run={async () => { await api('POST', '/sync/retry'); toast('trying the CRM now', 'ok') }}>Retry now</Action> : undefined}>
      <dl class="facts">{simple.map(([k, v]) => <><dt>{syncLabel[k] ?? k}</dt><dd>{value(k, v)}</dd></>)}
        {budget ? <><dt>Outbox disk</dt><dd class={budget.state !== 'ok' ? 'warn-text' : ''} data-testid="sync-budget">{bytes(budget.bytes)} of {bytes(budget.budgetBytes)}{budget.state === 'full' ? ': FULL, no new offers' : budget.state === 'alarm' ? ': near the budget' : ''}</dd></> : null}
      </dl>
      {/* narrow enough for a third of a laptop screen: errors and next tries on a line of their own */}
      {streams ? <table class="compact" data-testid="sync-streams"><thead><tr><th>Stream</th><th class="num">Unsent</th><th>Oldest</th><th class="num">Sent</th><th class="num">Retries</th><th class="num">Parked</th></tr></thead>
        <tbody>{Object.entries(streams).flatMap(([name, st]) => [
          <tr data-stream={name}><td title={st.destination}>{name}</td><td class="num" title={`${st.packed} packed`}>{st.backlog}</td><td>{st.oldestAgeSeconds === null ? '—' : duration(st.oldestAgeSeconds)}</td><td class="num">{st.delivered}</td><td class="num">{st.retried}</td><td class="num">{st.parked}</td></tr>,
          ...(st.lastError || st.destination !== 'http' && st.destination !== 'mqtt' ? [<tr class="sub"><td colspan={6} class="small">{st.destination !== 'http' && st.destination !== 'mqtt' ? <span class="muted">{st.destination}</span> : null}{st.lastError ? <span class="warn-text">{st.lastError}{st.nextAttempt ? <>; next try {when(st.nextAttempt)}</> : null}</span> : null}</td></tr>] : []),
        ])}</tbody></table> : null}
      {inbound && sync['mode'] !== 'stand-alone' ? <table class="compact" data-testid="sync-inbound"><thead><tr><th>Pulled</th><th>Last pull</th><th>Applied</th></tr></thead>
        <tbody>{Object.entries(inbound).flatMap(([name, r]) => [
          <tr data-resource={name}><td>{name}</td><td title={`${r.notModified} unchanged (304)`}>{when(r.lastPull)}</td><td>{when(r.lastApplied)}</td></tr>,
          ...(r.lastError ? [<tr class="sub"><td colspan={3} class="small warn-text">{r.lastError}</td></tr>] : []),
        ])}</tbody></table> : null}
      {parked.length ? <><h3>Parked (refused for good, not blocking their stream)</h3><ul class="small">{parked.map((p) => <li><span class="mono">{p.event}</span> {p.messageId}: {p.reason} ({ago(p.parkedAt)})</li>)}</ul></> : null}
      {overrides.length ? <><h3>Store edits the CRM replaced (the CRM owns members and campaigns)</h3><ul class="small">{overrides.map((o) => <li>{o.resource} {o.id} ({ago(o.at)})</li>)}</ul></> : null}
    </Card>
  )
}

function DeadLetters() {
  const s = useStore()
  const [reason, setReason] = useState<string | null>(null)
  const [rows, setRows] = useState<DeadLetter[] | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const dl = s.health?.deadLetters
  const reasons = [...new Set([...Object.keys(dl?.stored ?? {}), ...Object.keys(s.deadLetters.lastHour)])].sort()
  const browse = async (r: string | null) => {
    setReason(r); setErr(null)
    try { setRows((await api<{ deadLetters: DeadLetter[] }>('GET', `/dead-letters?limit=50${r ? `&reason=${encodeURIComponent(r)}` : ''}`)).deadLetters) } catch (e) { setErr(errorText(e)) }
  }
  return (
    <Card title="Dead letters" actions={<button type="button" class="btn secondary" onClick={() => void browse(null)}>Browse all</button>}>
      {reasons.length ? <table class="compact" data-testid="dead-letters"><thead><tr><th>Reason</th><th class="num">Stored</th><th class="num">Last hour</th><th /></tr></thead>
        <tbody>{reasons.map((r) => <tr data-reason={r}><td>{r}</td><td class="num">{dl?.stored[r] ?? 0}</td><td class="num">{s.deadLetters.lastHour[r] ?? 0}</td><td><button type="button" class="btn link" onClick={() => void browse(r)}>browse</button></td></tr>)}</tbody></table>
        : <Empty>No message has been refused.</Empty>}
      {err ? <p class="error">{err}</p> : null}
      {rows ? <>
        <h3>{reason ?? 'All reasons'}: newest {rows.length}</h3>
        <div class="table-wrap"><table class="compact"><thead><tr><th>When</th><th>Topic</th><th>Device</th><th>Reason</th><th>Detail</th><th>Payload (first 512 bytes)</th></tr></thead>
          <tbody>{rows.map((d) => <tr><td>{ago(d.receivedAt)}</td><td class="mono small">{d.topic}</td><td class="mono small">{d.device ?? '—'}</td><td>{d.reason}</td><td class="small">{d.detail}</td><td><code class="small payload">{d.payload.slice(0, 160)}</code></td></tr>)}</tbody></table></div>
      </> : null}
    </Card>
  )
}

export function HealthView() {
  const s = useStore()
  const h = s.health
  if (!h) return <Empty>Loading…</Empty>
  const lag = h.eventLoop
  const model = h.model
  return (
    <div class="stack">
      <div class="grid-3">
        <Card title={<>Readiness {h.ready ? <Badge kind="ok">ready</Badge> : <Badge kind="bad">not ready</Badge>}</>}>
          <ul class="checks" data-testid="checks">{Object.entries(h.checks).map(([k, c]) => <li><Badge kind={c.ok ? 'ok' : 'bad'}>{c.ok ? 'ok' : 'fail'}</Badge> <b>{k}</b> <span class="muted small">{c.detail}</span></li>)}</ul>
        </Card>
        <SyncCard sync={h.sync} />
        <Card title="Gateway">
          <dl class="facts">
            <dt>Version</dt><dd>{s.version}</dd>
            <dt>Up for</dt><dd>{duration(h.process.uptimeSeconds)}</dd>
            <dt>Memory (RSS / heap)</dt><dd>{bytes(h.process.rss)} / {bytes(h.process.heapUsed)}</dd>
            <dt>Database</dt><dd>{bytes(h.database.bytes)} <span class="muted">+ WAL {bytes(h.database.walBytes)}</span></dd>
            <dt>Model</dt><dd>{!h.recommenderEnabled ? 'off (rule priority)' : model.active ? model.active.version : <span class="warn-text">none (rule priority)</span>}</dd>
            <dt>Consoles open</dt><dd>{h.streams}</dd>
            <dt>Gateway clock</dt><dd>{new Date(gatewayNow()).toLocaleString('en-GB', { timeZone: s.store?.timezone ?? 'UTC' })}</dd>
          </dl>
        </Card>
      </div>
      <div class="grid-2">
        <Card title={<>Event loop <span class={lag.p99 > 100 ? 'warn-text' : 'muted'}>p99 {lag.p99} ms, max {lag.max} ms</span></>} class="wide">
          <LagChart />
        </Card>
        <DeadLetters />
      </div>
    </div>
  )
}
