/**
 * Devices: every scanner, ESPresense node, lane, band and button with its zone, online state (P/status,
 * last will, silence), last seen, message rate, bad messages with their last reasons and battery; placed
 * scanners never heard; for operators, registering a device (its secret is shown once) and revoking one
 * (CONTRACT 7a), offered only when the gateway's API has those endpoints.
 */
import { useState } from 'preact/hooks'
import { api } from './api.js'
import { Action, Badge, Card, Empty, ago, duration, errorText } from './ui.js'
import { can, gatewayNow, toast, useStore, type Device } from './store.js'
import { useTick } from './tick.js'

/** kinds placed as layout anchors (the rest are carried or sit at a till) */
const PLACEABLE = new Set(['scanner', 'espresense', 'button'])

const REG_KINDS = ['scanner', 'espresense', 'lane', 'band', 'button', 'sensor', 'cart', 'observer'] as const

function stateBadge(d: { online: boolean | null; onlineReason: string | null; silent: boolean }) {
  if (d.online === false) return <Badge kind="bad" title={d.onlineReason === 'silent' ? 'nothing heard for longer than expected' : 'its status (or last will) says offline'}>{d.onlineReason === 'silent' ? 'silent' : 'offline'}</Badge>
  if (d.online === true) return <Badge kind="ok" title={d.onlineReason === 'status' ? 'by its P/status' : 'heard recently'}>online</Badge>
  return <Badge kind="muted" title="speaks only when used and sends no status">unknown</Badge>
}

type Filter = 'all' | 'problems' | string

export function DevicesView({ registration }: { registration: boolean }) {
  const s = useStore()
  useTick(1000)
  const [filter, setFilter] = useState<Filter>('all')
  const [showRegister, setShowRegister] = useState(false)
  const [secret, setSecret] = useState<{ id: string; kind: string; secret: string } | null>(null)
  const now = gatewayNow()
  const operator = can(s.you?.role, 'operator')
  const list = s.devices.devices
  const kinds = [...new Set(list.map((d) => d.kind))].sort()
  const problem = (d: Device) => d.online === false || d.badMessages > 0 || (d.battery !== null && d.battery < 20)
  const shown = list.filter((d) => filter === 'all' || (filter === 'problems' ? problem(d) : d.kind === filter))
    .sort((a, b) => Number(b.online === false) - Number(a.online === false) || a.kind.localeCompare(b.kind) || a.id.localeCompare(b.id))
  const offline = list.filter((d) => d.online === false).length
  const never = s.devices.neverSeen
  return (
    <div class="stack">
      <div class="chips">
        <span class="chip"><b>{s.devices.total}</b> devices</span>
        <span class="chip ok"><b>{list.filter((d) => d.online === true).length}</b> online</span>
        <span class={`chip ${offline ? 'bad' : ''}`} data-testid="offline-count"><b>{offline}</b> offline or silent</span>
        <span class="chip"><b>{list.filter((d) => d.online === null).length}</b> unknown</span>
        <span class={`chip ${never.length ? 'warn' : ''}`}><b>{never.length}</b> placed, never heard</span>
        <span class="grow" />
        <label class="inline">Show <select value={filter} onChange={(e) => setFilter((e.target as HTMLSelectElement).value)} aria-label="filter devices">
          <option value="all">all</option><option value="problems">problems</option>{kinds.map((k) => <option value={k}>{k}</option>)}
        </select></label>
        {operator && registration ? <button type="button" class="btn primary" onClick={() => setShowRegister(!showRegister)} data-testid="register-open">Register a device</button> : null}
      </div>
      {secret ? (
        <Card title={`Secret for ${secret.id}`} class="secret" actions={<button type="button" class="btn secondary" onClick={() => setSecret(null)}>Done</button>}>
          <p>This is shown <b>once</b>. Configure the device with MQTT user name <code>{secret.id}</code> and this password now; the gateway keeps only a hash.</p>
          <p><code class="secret-value" data-testid="device-secret">{secret.secret}</code> <button type="button" class="btn secondary" onClick={() => { void navigator.clipboard?.writeText(secret.secret).then(() => toast('copied', 'ok'), () => toast('copy it by hand', 'warn')) }}>Copy</button></p>
        </Card>
      ) : null}
      {showRegister && operator && registration ? <RegisterForm zones={s.layout.zones.map((z) => z.id)} onDone={(r) => { setShowRegister(false); setSecret(r) }} /> : null}
      <Card title="Devices">
        {shown.length ? (
          <div class="table-wrap"><table class="devices" data-testid="devices-table">
            <thead><tr><th>Device</th><th>Kind</th><th>Zone</th><th>State</th><th>Last seen</th><th class="num">Msg/s</th><th class="num">Messages</th><th>Bad messages</th><th class="num">Battery</th>{operator && registration ? <th /> : null}</tr></thead>
            <tbody>{shown.map((d) => (
              <tr class={d.online === false ? 'row-bad' : ''} data-device={d.id} data-state={d.online === false ? (d.onlineReason ?? 'offline') : d.online ? 'online' : 'unknown'}>
                <td class="mono">{d.id}{d.placed || !PLACEABLE.has(d.kind) ? null : <Badge kind="warn" title="publishes, but is not in the layout: not used for locating">not placed</Badge>}</td>
                <td>{d.kind}</td>
                <td>{d.zone ?? '—'}</td>
                <td>{stateBadge(d)}{d.expectedIntervalSeconds ? <span class="muted small"> every ≤{duration(d.expectedIntervalSeconds)}</span> : null}</td>
                <td title={d.lastSeen}>{ago(d.lastSeen, now)}</td>
                <td class="num">{d.messageRate.toFixed(2)}</td>
                <td class="num">{d.messages.toLocaleString('en')}</td>
                <td>{d.badMessages ? <><Badge kind="warn">{d.badMessages}</Badge> <span class="small">{[...new Set(d.recentBad.map((b) => b.reason))].reverse().join(', ')}</span> <span class="muted small">{d.lastBadAt ? ago(d.lastBadAt, now) : ''}</span></> : <span class="muted">0</span>}</td>
                <td class="num">{d.battery === null ? '—' : <span class={d.battery < 20 ? 'warn-text' : ''}>{d.battery}%</span>}</td>
                {operator && registration ? <td><Action kind="danger" confirm={`Revoke ${d.id}? It is disconnected at once and cannot connect again until it is registered anew.`} run={async () => { await api('DELETE', `/devices/${encodeURIComponent(d.id)}`); toast(`${d.id} revoked`, 'ok') }}>Revoke</Action></td> : null}
              </tr>
            ))}</tbody>
          </table></div>
        ) : <Empty>{list.length ? 'No device matches.' : 'No device has published yet.'}</Empty>}
        {s.devices.total > list.length ? <p class="muted small">{s.devices.total - list.length} more devices not shown (problems first).</p> : null}
      </Card>
      {never.length ? (
        <Card title="Placed in the layout, never heard">
          <table><thead><tr><th>Device</th><th>Kind</th><th>Zone</th><th>State</th></tr></thead>
            <tbody>{never.map((d) => <tr data-never={d.id}><td class="mono">{d.id}</td><td>{d.kind}</td><td>{d.zone ?? '—'}</td><td>{d.silent ? <Badge kind="bad">silent</Badge> : <Badge kind="muted">waiting</Badge>}</td></tr>)}</tbody></table>
        </Card>
      ) : null}
      {!registration && operator ? <p class="muted small">Registering devices (their MQTT identity) appears here once this gateway supports it.</p> : null}
    </div>
  )
}

function RegisterForm({ zones, onDone }: { zones: string[]; onDone: (r: { id: string; kind: string; secret: string }) => void }) {
  const [id, setId] = useState('')
  const [kind, setKind] = useState<string>('scanner')
  const [zone, setZone] = useState('')
  const [err, setErr] = useState<string | null>(null)
  return (
    <Card title="Register a device">
      <form class="form-row" onSubmit={(e) => e.preventDefault()}>
        <label>Device id <input value={id} onInput={(e) => setId((e.target as HTMLInputElement).value.trim())} placeholder="scn-dairy-3" pattern="[A-Za-z0-9_.:\-]{1,64}" required data-testid="register-id" /></label>
        <label>Kind <select value={kind} onChange={(e) => setKind((e.target as HTMLSelectElement).value)} data-testid="register-kind">{REG_KINDS.map((k) => <option value={k}>{k}</option>)}</select></label>
        <label>Zone <select value={zone} onChange={(e) => setZone((e.target as HTMLSelectElement).value)}><option value="">(none)</option>{zones.map((z) => <option value={z}>{z}</option>)}</select></label>
        <Action testid="register-submit" disabled={!/^[A-Za-z0-9_.:-]{1,64}$/.test(id)} run={async () => {
          setErr(null)
          try {
            const r = await api<{ id: string; kind: string; secret: string }>('PUT', `/devices/${encodeURIComponent(id)}`, { kind, ...(zone ? { zone } : {}) })
            onDone(r)
          } catch (e) { setErr(errorText(e)) }
        }}>Register</Action>
      </form>
      {err ? <p class="error">{err}</p> : <p class="muted small">Registering an id again rotates its secret.</p>}
    </Card>
  )
}
