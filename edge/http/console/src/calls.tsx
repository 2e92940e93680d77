/**
 * Call for service: the queue, live, with each request's waiting time against the 2-minute goal; the
 * clerks' bands; today's times to accept and to arrive per store-local hour (chart) and per clerk.
 */
import { useMemo } from 'preact/hooks'
import type uPlot from 'uplot'
import { Chart } from './chart.js'
import { Badge, Card, Empty, ago, clock, duration } from './ui.js'
import { gatewayNow, useStore, type AssistFigures, type StageStats } from './store.js'
import { useTick } from './tick.js'

const GOAL = 120

function HourChart({ f }: { f: AssistFigures }) {
  const data = useMemo<uPlot.AlignedData>(() => {
    const hours = Object.keys(f.byHour).map(Number).sort((a, b) => a - b)
    // the hours with calls and one either side, so a single hour still shows against the goal line
    const lo = Math.max(0, (hours[0] ?? 8) - 1)
    const hi = Math.min(23, (hours.at(-1) ?? 20) + 1)
    const xs = Array.from({ length: hi - lo + 1 }, (_, i) => lo + i)
    const get = (h: number, k: 'accept' | 'arrive') => f.byHour[String(h).padStart(2, '0')]?.[k].median ?? null
    return [xs, xs.map((h) => get(h, 'accept')), xs.map((h) => get(h, 'arrive')), xs.map((h) => f.byHour[String(h).padStart(2, '0')]?.arrive.p90 ?? null), xs.map(() => f.goalSeconds)] as uPlot.AlignedData
  }, [f])
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => ({
    scales: { x: { time: false, range: (_u, a, b) => [a - 0.3, b + 0.3] }, y: { range: (_u, _a, max) => [0, Math.max(GOAL * 1.2, (max ?? 0) * 1.1)] } },
    series: [
      { label: 'hour' },
      { label: 'accept, median (s)', stroke: '#2f6fb5', width: 2, points: { show: true, size: 7 } },
      { label: 'arrive, median (s)', stroke: '#0b7a4b', width: 2, points: { show: true, size: 7 } },
      { label: 'arrive, p90 (s)', stroke: '#7aa57a', dash: [4, 4], points: { show: true, size: 5 } },
      { label: 'goal', stroke: '#b3261e', width: 1, dash: [8, 4], points: { show: false } },
    ],
    axes: [{ values: (_u, v) => v.map((h) => (Number.isInteger(h) ? `${String(h).padStart(2, '0')}:00` : '')), label: 'store-local hour', incrs: [1, 2, 3, 6] }, { label: 'seconds from the call', size: 50 }],
  }), [])
  return <Chart options={options} data={data} height={220} label="time to accept and to arrive per hour, against the 2-minute goal" />
}

function stage(st: StageStats) {
  return st.count ? <span>{duration(st.median)} <span class="muted">/ {duration(st.p90)}</span></span> : <span class="muted">—</span>
}

export function CallsView() {
  const s = useStore()
  useTick(1000)
  const now = gatewayNow()
  const f = s.assistFigures
  const open = s.calls.open
  const o = f?.overall
  const goalBadge = (st: StageStats | undefined) => (!st?.count ? <Badge kind="muted">no calls yet</Badge> : (st.p90 ?? 0) <= GOAL ? <Badge kind="ok">p90 within 2 min</Badge> : <Badge kind="bad">p90 over 2 min</Badge>)
  return (
    <div class="stack">
      <Card title={`Queue (${open.length} open)`}>
        {open.length ? <div class="table-wrap"><table data-testid="calls-table">
          <thead><tr><th>Waiting</th><th>Zone</th><th>From</th><th>Priority</th><th>State</th><th>Clerk</th><th>Against the 2-minute goal</th></tr></thead>
          <tbody>{open.map((c) => {
            const waited = (now - c.createdAt) / 1000
            const reached = c.arrivedAt !== null ? (c.arrivedAt - c.createdAt) / 1000 : null
            const t = reached ?? waited
            const late = t > GOAL
            return (
              <tr class={late && reached === null ? 'row-bad' : ''} data-call={c.requestId}>
                <td class="mono">{clock(waited)}</td><td>{c.zone ?? 'unknown'}</td><td>{c.source}</td>
                <td>{c.priority > 1 ? <Badge kind="warn">{c.priority}</Badge> : c.priority}</td>
                <td><Badge kind={c.state === 'queued' ? 'warn' : c.state === 'offered' ? 'info' : 'ok'}>{c.state}</Badge>{c.escalatedAt ? <Badge kind="bad">escalated</Badge> : null}</td>
                <td>{c.clerkId ?? (c.offered.length ? <span class="muted">offered to {c.offered.join(', ')}</span> : '—')}</td>
                <td><span class="goal-bar"><span class={late ? 'late' : ''} style={{ width: `${Math.min(100, (t / GOAL) * 100)}%` }} /></span> {reached !== null ? `arrived in ${clock(reached)}` : late ? `${clock(waited - GOAL)} over` : `${clock(GOAL - waited)} left`}</td>
              </tr>
            )
          })}</tbody>
        </table></div> : <Empty>No open calls.</Empty>}
        {s.calls.recent.length ? <p class="muted small">Recently closed: {s.calls.recent.slice(-5).reverse().map((c) => `${c.zone ?? '?'} ${c.state}${c.arrivedAt ? ` (arrived in ${clock((c.arrivedAt - c.createdAt) / 1000)})` : ''}`).join(' · ')}</p> : null}
      </Card>
      <div class="grid-2">
        <Card title="Today against the 2-minute goal" class="wide">
          {f ? <>
            <div class="chips">
              <span class="chip"><b>{f.requests}</b> calls today</span>
              <span class="chip">accept, median / p90: <b>{stage(f.overall.accept)}</b></span>
              <span class="chip">arrive, median / p90: <b>{stage(f.overall.arrive)}</b> {goalBadge(o?.arrive)}</span>
            </div>
            <HourChart f={f} />
          </> : <Empty>Loading…</Empty>}
        </Card>
        <Card title={`Clerks' bands (${s.bands.filter((b) => b.onShift).length} on shift)`}>
          {s.bands.length ? <table class="compact" data-testid="bands-table">
            <thead><tr><th>Clerk</th><th>Status</th><th>Zone</th><th class="num">Battery</th><th>Heartbeat</th></tr></thead>
            <tbody>{s.bands.map((b) => <tr data-band={b.band}><td>{b.clerkId ?? '—'}{b.supervisor ? <Badge kind="info">supervisor</Badge> : null}<div class="muted small mono">{b.band}</div></td>
              <td><Badge kind={b.status === 'available' ? 'ok' : b.status === 'busy' || b.status === 'offered' ? 'info' : b.status === 'offline' ? 'bad' : 'muted'}>{b.status}</Badge></td>
              <td>{b.zone ?? '—'}</td><td class="num">{b.battery === null ? '—' : `${b.battery}%`}</td><td>{ago(b.lastHeartbeat, now)}</td></tr>)}</tbody>
          </table> : <Empty>No band has reported.</Empty>}
        </Card>
      </div>
      {f && Object.keys(f.byClerk).length ? (
        <Card title="Per clerk, today">
          <table class="compact"><thead><tr><th>Clerk</th><th class="num">Calls</th><th>Accept, median / p90</th><th>Arrive, median / p90</th><th>Done, median</th></tr></thead>
            <tbody>{Object.entries(f.byClerk).map(([k, v]) => <tr><td>{k}</td><td class="num">{v.requests}</td><td>{stage(v.accept)}</td><td>{stage(v.arrive)}</td><td>{duration(v.done.median)}</td></tr>)}</tbody></table>
        </Card>
      ) : null}
    </div>
  )
}
