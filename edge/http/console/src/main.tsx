/** The store IT console: sign in with an admin token, then six views fed by one live stream. */
import { render } from 'preact'
import { useEffect, useState } from 'preact/hooks'
import { api, detectFeatures, openStream, takeTokenFromHash, token, type ApiFeatures, type StreamState } from './api.js'
import { CalibrationView } from './calibration.js'
import { CallsView } from './calls.js'
import { DevicesView } from './devices.js'
import { HealthView } from './health.js'
import { MapView } from './map.js'
import { OffersView } from './offers.js'
import { apply, resetState, useStore } from './store.js'
import { Badge } from './ui.js'
import './console.css'

const VIEWS = [
  { id: 'map', label: 'Store map' },
  { id: 'devices', label: 'Devices' },
  { id: 'offers', label: 'Offers' },
  { id: 'calls', label: 'Calls' },
  { id: 'calibration', label: 'Calibration' },
  { id: 'health', label: 'Health' },
] as const
type ViewId = (typeof VIEWS)[number]['id']

const viewOf = (): ViewId => {
  const m = /^#\/(\w+)/.exec(location.hash)
  return (VIEWS.find((v) => v.id === m?.[1])?.id ?? 'map')
}

function SignIn({ message, onToken }: { message: string | null; onToken: (t: string) => void }) {
  const [value, setValue] = useState('')
  const [err, setErr] = useState<string | null>(message)
  const [busy, setBusy] = useState(false)
  return (
    <main class="signin">
      <form class="card" onSubmit={async (e) => {
        e.preventDefault()
        const t = value.trim()
        if (!t) return
        setBusy(true); setErr(null)
        token.set(t)
        try { await api('GET', '/whoami'); onToken(t) } catch (x) { token.clear(); setErr((x as { status?: number }).status === 401 ? 'This token is not known to the gateway.' : (x as Error).message) } finally { setBusy(false) }
      }}>
        <h1>AisleEdge console</h1>
        <p class="muted">Sign in with an admin token (viewer, operator or admin). It is kept for this browser tab only.</p>
        <input type="password" autocomplete="current-password" placeholder="admin token" aria-label="admin token" value={value} onInput={(e) => setValue((e.target as HTMLInputElement).value)} data-testid="token" />
        <button type="submit" class="btn primary" disabled={busy} data-testid="signin">{busy ? 'Checking…' : 'Sign in'}</button>
        {err ? <p class="error" role="alert">{err}</p> : null}
      </form>
    </main>
  )
}

function Toasts() {
  const s = useStore()
  return <div class="toasts" aria-live="polite">{s.toasts.map((t) => <div class={`toast ${t.kind}`}>{t.text}</div>)}</div>
}

function Console({ onSignOut, stream }: { onSignOut: () => void; stream: StreamState }) {
  const s = useStore()
  const [view, setView] = useState<ViewId>(viewOf())
  const [features, setFeatures] = useState<ApiFeatures>({ deviceRegistration: false })
  useEffect(() => {
    const on = () => setView(viewOf())
    window.addEventListener('hashchange', on)
    void detectFeatures().then(setFeatures)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  const problems = s.devices.devices.filter((d) => d.online === false).length + s.devices.neverSeen.filter((d) => d.silent).length
  const late = s.calls.open.length
  return (
    <>
      <header class="top">
        <div class="brand"><b>AisleEdge</b> <span>{s.store?.name ?? ''}</span></div>
        <nav aria-label="views">{VIEWS.map((v) => (
          <a href={`#/${v.id}`} class={view === v.id ? 'on' : ''} aria-current={view === v.id ? 'page' : undefined} data-view={v.id}>
            {v.label}{v.id === 'devices' && problems ? <span class="count bad">{problems}</span> : null}{v.id === 'calls' && late ? <span class="count">{late}</span> : null}
          </a>
        ))}</nav>
        <div class="who">
          <span class={`live stream-${stream}`} data-testid="stream-state" data-state={stream} title={stream}>{stream === 'live' ? 'live' : stream}</span>
          {s.you ? <Badge kind="info" title={`signed in as ${s.you.name}`}>{s.you.role}</Badge> : null}
          <button type="button" class="btn secondary" onClick={onSignOut}>Sign out</button>
        </div>
      </header>
      <main class={`view view-${view}`} data-testid={`view-${view}`}>
        {!s.ready ? <p class="empty">Connecting to the gateway…</p>
          : view === 'map' ? <MapView /> : view === 'devices' ? <DevicesView registration={features.deviceRegistration} /> : view === 'offers' ? <OffersView />
          : view === 'calls' ? <CallsView /> : view === 'calibration' ? <CalibrationView /> : <HealthView />}
      </main>
      <Toasts />
    </>
  )
}

function App() {
  const [signedIn, setSignedIn] = useState(!!token.get())
  const [stream, setStream] = useState<StreamState>('connecting')
  const [message, setMessage] = useState<string | null>(null)
  useEffect(() => {
    if (!signedIn) return
    const close = openStream({
      onEvent: apply,
      onState: (st, detail) => {
        setStream(st)
        if (st === 'denied') { token.clear(); setMessage(detail ?? 'signed out'); setSignedIn(false) }
      },
    })
    return () => { close(); resetState() }
  }, [signedIn])
  if (!signedIn) return <SignIn message={message} onToken={() => { setMessage(null); setSignedIn(true) }} />
  return <Console stream={stream} onSignOut={() => { token.clear(); setSignedIn(false); setMessage(null) }} />
}

takeTokenFromHash()
render(<App />, document.getElementById('console')!)
