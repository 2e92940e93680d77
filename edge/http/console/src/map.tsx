/**
 * The store map, drawn from the layout: zone polygons (or a tidy grid of boxes for zones without one),
 * anchors coloured by their device's state, shoppers as dots (pseudonymous), clerks' bands by name, open
 * calls with their timers. Zones are coloured by people now, visits in the last hour, or average dwell.
 */
import { useMemo, useState } from 'preact/hooks'
import { Badge, Card, Empty, clock, duration } from './ui.js'
import { gatewayNow, useStore, type Anchor, type Layout, type State, type Subject, type Zone } from './store.js'
import { useTick } from './tick.js'

type Pt = [number, number]
interface ZoneGeo { zone: Zone; poly: Pt[]; centre: Pt; box: { x0: number; y0: number; x1: number; y1: number } }
interface Geo { zones: Map<string, ZoneGeo>; view: { x: number; y: number; w: number; h: number }; anchors: (Anchor & { at: Pt })[] }

const GRID_W = 8
const GRID_H = 6
const GAP = 1

function bbox(poly: Pt[]) {
  let x0 = Infinity; let y0 = Infinity; let x1 = -Infinity; let y1 = -Infinity
  for (const [x, y] of poly) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y) }
  return { x0, y0, x1, y1 }
}

function centroid(poly: Pt[]): Pt {
  let a = 0; let cx = 0; let cy = 0
  for (let i = 0; i < poly.length; i++) {
    const [x0, y0] = poly[i]!
    const [x1, y1] = poly[(i + 1) % poly.length]!
    const f = x0 * y1 - x1 * y0
    a += f; cx += (x0 + x1) * f; cy += (y0 + y1) * f
  }
  if (Math.abs(a) < 1e-9) { const b = bbox(poly); return [(b.x0 + b.x1) / 2, (b.y0 + b.y1) / 2] }
  return [cx / (3 * a), cy / (3 * a)]
}

function inside(p: Pt, poly: Pt[]): boolean {
  let hit = false
  for (let i = 0, j = poly.length - 1; i < poly.length; j = i++) {
    const [xi, yi] = poly[i]!
    const [xj, yj] = poly[j]!
    if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) hit = !hit
  }
  return hit
}

/** Zones and anchors in screen coordinates (y up, so a store's front is at the bottom). */
export function geometry(l: Layout): Geo {
  const drawn = l.zones.filter((z) => z.polygon && z.polygon.length >= 3)
  const all = drawn.flatMap((z) => z.polygon!)
  const placed = l.anchors.filter((a) => a.x !== undefined && a.y !== undefined)
  const pts: Pt[] = [...all, ...placed.map((a) => [a.x!, a.y!] as Pt)]
  const b = pts.length ? bbox(pts) : { x0: 0, y0: 0, x1: 0, y1: 0 }
  const flip = (p: Pt): Pt => [p[0], b.y1 - p[1] + b.y0]
  const zones = new Map<string, ZoneGeo>()
  for (const z of drawn) {
    const poly = z.polygon!.map(flip)
    zones.set(z.id, { zone: z, poly, centre: centroid(poly), box: bbox(poly) })
  }
  // zones without a polygon: a grid of boxes under the drawn plan
  const rest = l.zones.filter((z) => !zones.has(z.id))
  const cols = Math.max(1, Math.min(rest.length, drawn.length ? Math.max(3, Math.floor((b.x1 - b.x0 + GAP) / (GRID_W + GAP))) : Math.ceil(Math.sqrt(rest.length))))
  const top = drawn.length ? b.y1 + 2 : 0
  rest.forEach((z, i) => {
    const x = b.x0 + (i % cols) * (GRID_W + GAP)
    const y = top + Math.floor(i / cols) * (GRID_H + GAP)
    const poly: Pt[] = [[x, y], [x + GRID_W, y], [x + GRID_W, y + GRID_H], [x, y + GRID_H]]
    zones.set(z.id, { zone: z, poly, centre: [x + GRID_W / 2, y + GRID_H / 2], box: bbox(poly) })
  })
  const every = [...zones.values()].flatMap((g) => g.poly)
  const vb = every.length ? bbox(every) : { x0: 0, y0: 0, x1: 10, y1: 10 }
  const anchors = l.anchors.flatMap((a) => {
    if (a.x !== undefined && a.y !== undefined) return [{ ...a, at: flip([a.x, a.y]) }]
    const g = a.zone ? zones.get(a.zone) : undefined
    return g ? [{ ...a, at: [g.box.x0 + 0.8, g.box.y0 + 0.8] as Pt }] : []
  })
  const pad = 1
  return { zones, anchors, view: { x: vb.x0 - pad, y: vb.y0 - pad, w: vb.x1 - vb.x0 + 2 * pad, h: vb.y1 - vb.y0 + 2 * pad } }
}

function hash(s: string, seed = 0): number {
  let h = 2166136261 ^ seed
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 16777619) }
  return (h >>> 0) / 4294967296
}

/** a stable spot for a subject inside its zone */
function spot(subject: string, g: ZoneGeo): Pt {
  const { x0, y0, x1, y1 } = g.box
  const m = Math.min(1, (x1 - x0) / 6, (y1 - y0) / 6)
  for (let k = 0; k < 12; k++) {
    const p: Pt = [x0 + m + hash(subject, k * 2) * (x1 - x0 - 2 * m), y0 + m + 1.4 + hash(subject, k * 2 + 1) * Math.max(0, y1 - y0 - 2 * m - 1.4)]
    if (inside(p, g.poly)) return p
  }
  return g.centre
}

/** a label shortened to fit a width (an average glyph is about 0.58 em) */
function fit(label: string, width: number, fs: number): string {
  const n = Math.max(3, Math.floor(width / (fs * 0.58)))
  return label.length <= n ? label : `${label.slice(0, n - 1)}…`
}

/** a subject id short enough for a table cell that still tells two apart: its kind prefix and its end */
export function shortId(id: string): string {
  if (id.length <= 22) return id
  const colon = id.indexOf(':')
  const head = colon > 0 && colon < 12 ? id.slice(0, colon + 1) : ''
  return `${head}…${id.slice(-(21 - head.length))}`
}

const subjectKind = (s: string): 'member' | 'band' | 'tag' => (s.startsWith('pm:') ? 'member' : s.startsWith('band:') ? 'band' : 'tag')

type Colour = 'now' | 'traffic' | 'dwell'
const COLOURS: { id: Colour; label: string }[] = [{ id: 'now', label: 'People now' }, { id: 'traffic', label: 'Visits, last hour' }, { id: 'dwell', label: 'Average dwell' }]

function zoneValues(s: State, colour: Colour, now: number): Map<string, number> {
  const out = new Map<string, number>()
  if (colour === 'traffic') { for (const [z, n] of Object.entries(s.traffic)) out.set(z, n); return out }
  const sums = new Map<string, { n: number; dwell: number }>()
  for (const x of s.subjects.values()) {
    if (!x.zone || subjectKind(x.subject) === 'band') continue
    const a = sums.get(x.zone) ?? { n: 0, dwell: 0 }
    a.n++; a.dwell += x.since === null ? 0 : Math.max(0, now - x.since) / 1000
    sums.set(x.zone, a)
  }
  for (const [z, a] of sums) out.set(z, colour === 'now' ? a.n : a.dwell / a.n)
  return out
}

const fill = (v: number, max: number) => {
  if (!(max > 0) || !(v > 0)) return 'hsl(210 30% 97%)'
  const t = Math.min(1, v / max)
  return `hsl(${210 - 20 * t} ${55 + 25 * t}% ${94 - 34 * t}%)`
}

const MAX_DOTS = 1500

export function MapView() {
  const s = useStore()
  useTick(1000)
  const [selected, setSelected] = useState<string | null>(null)
  const [colour, setColour] = useState<Colour>('now')
  const geo = useMemo(() => geometry(s.layout), [s.layout])
  const now = gatewayNow()
  const values = zoneValues(s, colour, now)
  const max = Math.max(0, ...values.values())
  const people = [...s.subjects.values()].filter((x) => subjectKind(x.subject) !== 'band')
  const devById = new Map(s.devices.devices.map((d) => [d.id, d]))
  const never = new Set(s.devices.neverSeen.map((d) => d.id))
  const bandsAt = s.bands.filter((b) => b.zone && geo.zones.has(b.zone))
  const { view } = geo
  const fs = Math.max(0.5, Math.min(0.9, view.w / 56))
  const unit = colour === 'dwell' ? ' s' : ''

  if (!s.layout.zones.length) return <Empty>The layout has no zones yet: an admin sets them with <code>PUT /v1/admin/layout</code>.</Empty>

  return (
    <div class="map-layout">
      <div class="map-main">
        <div class="toolbar">
          <div class="segmented" role="radiogroup" aria-label="colour zones by">
            {COLOURS.map((c) => <button type="button" role="radio" aria-checked={colour === c.id} class={colour === c.id ? 'on' : ''} onClick={() => setColour(c.id)}>{c.label}</button>)}
          </div>
          <div class="legend">
            <span class="swatch" style={{ background: fill(0.05, 1) }} />0
            <span class="swatch" style={{ background: fill(0.5, 1) }} />
            <span class="swatch" style={{ background: fill(1, 1) }} />{colour === 'dwell' ? duration(max) : Math.round(max)}
            <span class="sep" />
            <span class="dot member" />member <span class="dot tag" />tag or phone <span class="dot band" />clerk <span class="call-key">!</span>call
            <span class="sep" />
            <span class="key scanner" />scanner <span class="key beacon" />beacon <span class="key button" />call button
          </div>
        </div>
        <svg class="store-map" viewBox={`${view.x} ${view.y} ${view.w} ${view.h}`} preserveAspectRatio="xMidYMid meet" aria-label="store map" data-testid="store-map">
          {[...geo.zones.values()].map((g) => {
            const v = values.get(g.zone.id) ?? 0
            const count = people.filter((p) => p.zone === g.zone.id).length
            return (
              <g class={`zone ${selected === g.zone.id ? 'selected' : ''}`} data-zone={g.zone.id} data-count={count} onClick={() => setSelected(selected === g.zone.id ? null : g.zone.id)} role="button" aria-label={`zone ${g.zone.name ?? g.zone.id}: ${count} people`}>
                <polygon points={g.poly.map((p) => p.join(',')).join(' ')} style={{ fill: fill(v, max) }} />
              </g>
            )
          })}
          {geo.anchors.map((a) => {
            const d = devById.get(a.id)
            // a button that was never pressed is normal; a scanner never heard is not
            const st = a.kind === 'beacon' ? 'beacon' : d ? (d.online === false ? 'bad' : d.online === true ? 'ok' : 'unknown') : never.has(a.id) && a.kind === 'scanner' ? 'never' : 'unknown'
            const r = fs * 0.32
            return (
              <g class={`anchor ${a.kind} ${st}`} data-anchor={a.id}>
                <title>{`${a.kind} ${a.id}${d ? ` · ${d.online === false ? (d.onlineReason === 'silent' ? 'silent' : 'offline') : d.online ? 'online' : 'state unknown'}` : a.kind === 'beacon' ? '' : ' · never heard'}`}</title>
                {a.kind === 'scanner' ? <rect x={a.at[0] - r} y={a.at[1] - r} width={2 * r} height={2 * r} rx={r * 0.3} />
                  : a.kind === 'button' ? <circle cx={a.at[0]} cy={a.at[1]} r={r} />
                  : <path d={`M${a.at[0]} ${a.at[1] - r} L${a.at[0] + r} ${a.at[1]} L${a.at[0]} ${a.at[1] + r} L${a.at[0] - r} ${a.at[1]} Z`} />}
              </g>
            )
          })}
          {people.slice(0, MAX_DOTS).map((p) => {
            const g = p.zone ? geo.zones.get(p.zone) : undefined
            if (!g) return null
            const [x, y] = spot(p.subject, g)
            return <circle key={p.subject} class={`subject ${subjectKind(p.subject)}`} r={fs * 0.28} style={{ transform: `translate(${x}px, ${y}px)` }} data-subject={p.subject} data-zone={p.zone}><title>{`${p.subject} · ${duration(p.since === null ? 0 : (now - p.since) / 1000)} here`}</title></circle>
          })}
          {bandsAt.map((b) => {
            const g = geo.zones.get(b.zone!)!
            const [x, y] = spot(`band:${b.band}`, g)
            return (
              <g key={b.band} class={`band ${b.status}`} style={{ transform: `translate(${x}px, ${y}px)` }} data-band={b.band}>
                <circle r={fs * 0.42} />
                <text y={-fs * 0.6} font-size={fs * 0.8} text-anchor="middle">{b.clerkId ?? b.band}</text>
              </g>
            )
          })}
          {s.calls.open.map((c, i) => {
            const g = c.zone ? geo.zones.get(c.zone) : undefined
            if (!g) return null
            const waited = (now - c.createdAt) / 1000
            const late = c.state !== 'arrived' && waited > 120
            const x = g.box.x1 - 1.6 * fs - i * 0.4
            const y = g.box.y1 - 1.2 * fs
            return (
              <g class={`call ${c.state} ${late ? 'late' : ''}`} data-call={c.requestId}>
                <circle cx={x} cy={y} r={fs * 0.55} />
                <text x={x} y={y + fs * 0.3} font-size={fs * 0.8} text-anchor="middle" class="bang">!</text>
                <text x={x - fs * 0.8} y={y + fs * 0.3} font-size={fs * 0.75} text-anchor="end" class="timer">{`${c.state} ${clock(waited)}`}</text>
              </g>
            )
          })}
          {/* zone names and figures last, with a halo: markers never hide them */}
          <g class="zone-labels" aria-hidden="true">{[...geo.zones.values()].map((g) => {
            const v = values.get(g.zone.id) ?? 0
            return (
              <g key={g.zone.id}>
                <text x={g.box.x0 + 0.5} y={g.box.y0 + 0.5 + fs} font-size={fs} class="zone-name">{fit(g.zone.name ?? g.zone.id, g.box.x1 - g.box.x0 - 1 - 2.5 * fs, fs)}</text>
                <text x={g.box.x1 - 0.5} y={g.box.y0 + 0.5 + fs} font-size={fs} class="zone-count" text-anchor="end">{colour === 'dwell' ? (v ? duration(v) : '') : v ? `${Math.round(v)}${unit}` : ''}</text>
              </g>
            )
          })}</g>
        </svg>
        {people.length > MAX_DOTS ? <p class="muted small">{people.length} people: the first {MAX_DOTS} are drawn; zone figures count everyone.</p> : null}
      </div>
      <aside class="map-side">{selected && geo.zones.has(selected) ? <ZonePanel id={selected} onClose={() => setSelected(null)} /> : <Summary />}</aside>
    </div>
  )
}

function Summary() {
  const s = useStore()
  const all = [...s.subjects.values()]
  const members = all.filter((x) => subjectKind(x.subject) === 'member').length
  const tags = all.filter((x) => subjectKind(x.subject) === 'tag').length
  const onShift = s.bands.filter((b) => b.onShift)
  const zoneRank = s.layout.zones.map((z) => ({ z, n: all.filter((x) => x.zone === z.id && subjectKind(x.subject) !== 'band').length })).sort((a, b) => b.n - a.n)
  const offline = s.devices.devices.filter((d) => d.online === false).length + s.devices.neverSeen.filter((d) => d.silent).length
  return (
    <Card title="The store now">
      <dl class="facts">
        <dt>People located</dt><dd data-testid="people-count">{members + tags}</dd>
        <dt>members / tags and phones</dt><dd>{members} / {tags}</dd>
        <dt>Clerks on shift</dt><dd>{onShift.length}</dd>
        <dt>Open calls</dt><dd>{s.calls.open.length}</dd>
        <dt>Devices offline</dt><dd>{offline ? <Badge kind="bad">{offline}</Badge> : <Badge kind="ok">0</Badge>}</dd>
      </dl>
      <h3>Busiest zones</h3>
      <ol class="rank">{zoneRank.slice(0, 8).map(({ z, n }) => <li><span>{z.name ?? z.id}</span><b>{n}</b></li>)}</ol>
      <p class="muted small">Click a zone for who is there and what triggers there. {s.presenceNote ? `Locating: ${s.presenceNote}.` : ''}</p>
    </Card>
  )
}

function ZonePanel({ id, onClose }: { id: string; onClose: () => void }) {
  const s = useStore()
  const now = gatewayNow()
  const z = s.layout.zones.find((x) => x.id === id)!
  const here: Subject[] = [...s.subjects.values()].filter((x) => x.zone === id && subjectKind(x.subject) !== 'band').sort((a, b) => (a.since ?? 0) - (b.since ?? 0))
  const bands = s.bands.filter((b) => b.zone === id)
  const calls = s.calls.open.filter((c) => c.zone === id)
  const campaigns = s.campaigns.filter((c) => c.campaign.trigger.zone === id)
  const anchors = s.layout.anchors.filter((a) => a.zone === id)
  const devById = new Map(s.devices.devices.map((d) => [d.id, d]))
  return (
    <Card title={z.name ?? z.id} actions={<button type="button" class="btn secondary" onClick={onClose} aria-label="close">✕</button>} class="zone-panel">
      <p class="muted small" data-testid="zone-facts">{[z.name && z.name !== z.id ? z.id : null, z.kind && z.kind !== z.id && z.kind !== z.name ? z.kind : null, `dwell after ${z.dwellSeconds ?? 10} s`, `${s.traffic[id] ?? 0} visits in the last hour`].filter(Boolean).join(' · ')}</p>
      <dl class="facts">
        <dt>Here now</dt><dd>{here.length}</dd>
        <dt>Average time here</dt><dd data-testid="zone-avg-dwell">{here.length ? duration(here.reduce((n, x) => n + (x.since === null ? 0 : Math.max(0, now - x.since) / 1000), 0) / here.length) : '—'}</dd>
      </dl>
      {here.length ? (
        <table class="compact"><thead><tr><th>Who</th><th>Id</th><th class="num">Here for</th></tr></thead><tbody>{here.slice(0, 50).map((x) => <tr><td>{subjectKind(x.subject) === 'member' ? 'member' : 'tag or phone'}</td><td class="mono" title={x.subject}>{shortId(x.subject)}</td><td class="num">{duration(x.since === null ? 0 : (now - x.since) / 1000)}</td></tr>)}</tbody></table>
      ) : <Empty>Nobody is located here.</Empty>}
      {here.length > 50 ? <p class="muted small">and {here.length - 50} more</p> : null}
      {bands.length ? <><h3>Clerks</h3><ul class="plain">{bands.map((b) => <li>{b.clerkId ?? b.band} <Badge kind={b.status === 'available' ? 'ok' : b.status === 'busy' ? 'info' : 'muted'}>{b.status}</Badge></li>)}</ul></> : null}
      {calls.length ? <><h3>Open calls</h3><ul class="plain">{calls.map((c) => <li>{c.state} for {clock((now - c.createdAt) / 1000)} {c.clerkId ? `· ${c.clerkId}` : ''}</li>)}</ul></> : null}
      <h3>Campaigns triggered here</h3>
      {campaigns.length ? <ul class="plain">{campaigns.map((c) => <li><b>{c.campaign.title}</b> <span class="muted">{c.campaign.trigger.kind}{c.campaign.trigger.seconds ? ` ${c.campaign.trigger.seconds} s` : ''}</span> <Badge kind={c.state === 'active' ? 'ok' : 'muted'}>{c.state}</Badge></li>)}</ul> : <Empty>None.</Empty>}
      <h3>Devices</h3>
      <ul class="plain">{anchors.map((a) => {
        const d = devById.get(a.id)
        return <li><span class="mono">{a.id}</span> <span class="muted">{a.kind}</span> {a.kind === 'beacon' ? null : d ? <Badge kind={d.online === false ? 'bad' : d.online ? 'ok' : 'muted'}>{d.online === false ? (d.onlineReason === 'silent' ? 'silent' : 'offline') : d.online ? 'online' : 'unknown'}</Badge> : <Badge kind="muted">never heard</Badge>}</li>
      })}</ul>
    </Card>
  )
}
