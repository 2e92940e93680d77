/**
 * Calibration: for each zone, record a walk with a tag (a session), follow its progress, build the
 * fingerprint model (checked on a time split before it replaces the running one), see per-zone accuracy,
 * and record a weak zone again.
 */
import { useState } from 'preact/hooks'
import { api } from './api.js'
import { Action, Badge, Card, Empty, ago, clock, errorText, pct } from './ui.js'
import { can, gatewayNow, patch, toast, useStore, type Calibration } from './store.js'
import { useTick } from './tick.js'

type Check = NonNullable<Calibration['model']>['check']
const refresh = async () => patch({ calibration: await api<Calibration>('GET', '/calibration') })

export function CalibrationView() {
  const s = useStore()
  useTick(1000)
  const now = gatewayNow()
  const cal = s.calibration
  const operator = can(s.you?.role, 'operator')
  const [zone, setZone] = useState('')
  const [subject, setSubject] = useState('')
  const [seconds, setSeconds] = useState(90)
  const [result, setResult] = useState<{ ok: boolean; message: string; check?: Check } | null>(null)
  if (!cal) return <Empty>Loading…</Empty>
  const check = result?.check ?? cal.model?.check
  const acc = new Map((check?.zones ?? []).map((z) => [z.zone, z]))
  const recording = cal.sessions.filter((x) => x.state === 'recording')
  const start = async (z: string) => {
    await api('POST', '/calibration/sessions', { zone: z, subject, seconds })
    toast(`recording ${z} for ${seconds} s: walk the zone now`, 'ok')
    await refresh()
  }
  return (
    <div class="stack">
      {operator ? (
        <Card title="Record a zone">
          <p class="muted small">Carry a BLE tag or a phone running a beacon app and walk slowly where shoppers stand, for the whole session. The first 3 seconds are skipped while the filters settle.</p>
          <form class="form-row" onSubmit={(e) => e.preventDefault()}>
            <label>Zone <select value={zone} onChange={(e) => setZone((e.target as HTMLSelectElement).value)} data-testid="cal-zone"><option value="">choose…</option>{s.layout.zones.map((z) => <option value={z.id}>{z.name ?? z.id}</option>)}</select></label>
            <label class="grow">Tag, as the scanners report it <input value={subject} onInput={(e) => setSubject((e.target as HTMLInputElement).value.trim())} placeholder="ibeacon:…-1-7" data-testid="cal-subject" /></label>
            <label>Seconds <input type="number" min={10} max={900} value={seconds} onInput={(e) => setSeconds(Number((e.target as HTMLInputElement).value))} style={{ width: '6em' }} /></label>
            <Action testid="cal-start" disabled={!zone || !subject} run={() => start(zone)}>Start recording</Action>
          </form>
        </Card>
      ) : null}
      {recording.length ? (
        <Card title="Recording now">
          {recording.map((r) => {
            const total = (Date.parse(r.endsAt) - Date.parse(r.startedAt)) / 1000
            const left = Math.max(0, (Date.parse(r.endsAt) - now) / 1000)
            return (
              <div class="progress-row" data-session={r.id}>
                <b>{r.zone}</b> <span class="mono small">{r.subject}</span>
                <span class="progress"><span style={{ width: `${Math.min(100, (1 - left / total) * 100)}%` }} /></span>
                <span data-testid="cal-samples">{r.samples} samples</span> · {clock(left)} left
                {operator ? <Action kind="secondary" run={async () => { await api('DELETE', `/calibration/sessions/${r.id}`); await refresh() }}>Stop</Action> : null}
              </div>
            )
          })}
        </Card>
      ) : null}
      <Card title="Zones" actions={operator ? <Action testid="cal-build" run={async () => {
        try {
          const r = await api<{ zones: string[]; fingerprints: number; check: Check }>('POST', '/calibration/build')
          setResult({ ok: true, message: `model built from ${r.fingerprints} fingerprints, ${pct(r.check.accuracy)} of held-out samples placed right: it is in use now`, check: r.check })
          toast('fingerprint model in use', 'ok')
        } catch (e) {
          const body = (e as { body?: { check?: Check } }).body
          setResult({ ok: false, message: errorText(e), ...(body?.check ? { check: body.check } : {}) })
        }
        await refresh()
      }}>Build and check</Action> : null}>
        {result ? <p class={result.ok ? 'good' : 'error'} data-testid="cal-result">{result.message}</p> : null}
        <div class="table-wrap"><table data-testid="cal-table">
          <thead><tr><th>Zone</th><th class="num">Samples</th><th class="num">Tested</th><th>Accuracy (held-out 30%)</th>{operator ? <th /> : null}</tr></thead>
          <tbody>{s.layout.zones.map((z) => {
            const a = acc.get(z.id)
            const n = cal.samples[z.id] ?? 0
            return (
              <tr data-zone={z.id}>
                <td>{z.name ?? z.id}</td><td class="num">{n}</td><td class="num">{a?.tested ?? '—'}</td>
                <td>{a ? <><span class="meter"><span style={{ width: `${a.accuracy * 100}%` }} class={a.accuracy < 0.7 ? 'weak' : ''} /></span> {pct(a.accuracy, 0)} {a.accuracy < 0.7 ? <Badge kind="warn">record again</Badge> : null}</> : <span class="muted">{n ? 'not built yet' : 'not recorded'}</span>}</td>
                {operator ? <td class="actions-cell">
                  {n ? <Action kind="secondary" confirm={`Delete the ${n} samples of ${z.id} to record it again?`} run={async () => { await api('DELETE', `/calibration/samples?zone=${encodeURIComponent(z.id)}`); await refresh() }}>Retry</Action> : null}
                  <Action kind="secondary" disabled={!subject} title={subject ? '' : 'enter the tag above first'} run={() => start(z.id)}>Record</Action>
                </td> : null}
              </tr>
            )
          })}</tbody>
        </table></div>
        {cal.model ? <p class="muted small">Model in use: built {ago(cal.model.builtAt, now)} from {cal.model.fingerprints} fingerprints over {cal.model.anchors} anchors, {pct(cal.model.check.accuracy)} overall.</p> : <p class="muted small">No fingerprint model yet: presence uses the strongest scanner until one is built.</p>}
        {check?.problems.length ? <ul class="error small">{check.problems.map((p) => <li>{p}</li>)}</ul> : null}
      </Card>
      <Card title="Sessions">
        {cal.sessions.length ? <table class="compact"><thead><tr><th>#</th><th>Zone</th><th>Tag</th><th>Started</th><th>State</th><th class="num">Samples</th><th>By</th></tr></thead>
          <tbody>{cal.sessions.slice(0, 20).map((x) => <tr><td>{x.id}</td><td>{x.zone}</td><td class="mono small">{x.subject}</td><td>{ago(x.startedAt, now)}</td><td><Badge kind={x.state === 'recording' ? 'info' : x.state === 'done' ? (x.samples ? 'ok' : 'warn') : 'muted'}>{x.state}</Badge></td><td class="num">{x.samples}</td><td>{x.createdBy}</td></tr>)}</tbody></table>
          : <Empty>No sessions yet.</Empty>}
      </Card>
    </div>
  )
}
