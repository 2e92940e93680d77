/**
 * Offers: the day's offers (issued and redeemed per 15 minutes), campaigns with their figures and uplift
 * against the holdout with its 95% interval; operators retire, edit, create and re-activate campaigns; the
 * recommender model in use (admins activate or roll back); the decisions of a member or a campaign.
 */
import { useMemo, useState } from 'preact/hooks'
import uPlot from 'uplot'
import { api } from './api.js'
import { Chart } from './chart.js'
import { Action, Badge, Card, Empty, ago, errorText, num, pct, pts, storeTimeAxis } from './ui.js'
import { can, gatewayNow, patch, state, toast, useStore, type Campaign, type CampaignItem, type Day, type Figures } from './store.js'

function dayData(day: Day, now: number): uPlot.AlignedData {
  const n = Math.max(1, Math.ceil((Math.min(now, day.start + 86_400_000) - day.start) / day.bucketMs))
  const xs = Array.from({ length: n }, (_, i) => (day.start + i * day.bucketMs) / 1000)
  const a = new Array<number>(n).fill(0)
  const b = new Array<number>(n).fill(0)
  for (const [i, c] of day.issued) if (i >= 0 && i < n) a[i] = c
  for (const [i, c] of day.redeemed) if (i >= 0 && i < n) b[i] = c
  return [xs, a, b]
}

function DayChart({ day, tz }: { day: Day; tz: string }) {
  const data = useMemo(() => dayData(day, gatewayNow()), [day])
  const bars = uPlot.paths.bars!({ size: [0.8, 40], gap: 1 })
  const options = useMemo<Omit<uPlot.Options, 'width' | 'height'>>(() => {
    const time = storeTimeAxis(tz)
    return {
    tzDate: time.tzDate,
    scales: { x: { time: true }, y: { range: (_u, _min, max) => [0, Math.max(4, max * 1.15)] } },
    series: [{ label: 'time', ...time.x }, { label: 'issued', stroke: '#2f6fb5', fill: 'rgba(47,111,181,.35)', paths: bars, points: { show: false } }, { label: 'redeemed', stroke: '#0b7a4b', width: 2, points: { show: false } }],
    axes: [time.axis, { label: 'offers per 15 min', size: 50 }],
    legend: { live: true },
    }
  }, [tz])
  return <Chart options={options} data={data} height={200} label="offers issued and redeemed today, per 15 minutes" />
}

function Uplift({ f }: { f: Figures | undefined }) {
  if (!f || f.uplift === null) return <span class="muted" title="needs exposures in both the offered and the holdout group">—</span>
  const ci = f.upliftCi
  const lo = Math.max(-1, ci?.low ?? f.uplift)
  const hi = Math.min(1, ci?.high ?? f.uplift)
  // a small bar from -50 to +50 points: the interval, the estimate, and 0
  const x = (v: number) => `${50 + Math.max(-50, Math.min(50, v * 100))}%`
  return (
    <span class="uplift" title={`offered ${pct(f.offered.rate)} of ${f.offered.exposures} vs holdout ${pct(f.holdout.rate)} of ${f.holdout.exposures}; 95% interval ${pts(lo)} to ${pts(hi)} (Newcombe)`}>
      <b class={f.upliftSignificant ? (f.uplift > 0 ? 'good' : 'warn-text') : ''}>{pts(f.uplift)}</b>
      <span class="ci-text">{ci ? `${pts(lo)} … ${pts(hi)}` : ''}</span>
      <span class="ci-bar" aria-hidden="true"><span class="zero" style={{ left: '50%' }} /><span class="range" style={{ left: x(lo), width: `calc(${x(hi)} - ${x(lo)})` }} /><span class="est" style={{ left: x(f.uplift) }} /></span>
    </span>
  )
}

const TEMPLATE: Campaign = {
  id: 'new-campaign', title: 'New offer', body: '', trigger: { kind: 'dwell', zone: '', seconds: 10 },
  offer: { category: '', discount: { kind: 'percent', value: 10 } }, limits: { perMemberPerDay: 1 }, validMinutes: 30, priority: 5,
}

async function refreshCampaigns() {
  const r = await api<{ campaigns: { campaign: Campaign; source: string; retiredAt: string | null }[] }>('GET', '/campaigns?retired=true')
  const now = gatewayNow()
  patch({ campaigns: r.campaigns.map((c) => ({ campaign: c.campaign, source: c.source, retiredAt: c.retiredAt ? Date.parse(c.retiredAt) : null, state: c.retiredAt ? 'retired' : c.campaign.from && Date.parse(c.campaign.from) > now ? 'scheduled' : c.campaign.to && Date.parse(c.campaign.to) < now ? 'ended' : 'active' })) })
}

function Editor({ initial, isNew, onClose }: { initial: Campaign; isNew: boolean; onClose: () => void }) {
  const [text, setText] = useState(JSON.stringify(initial, null, 2))
  const [err, setErr] = useState<string | null>(null)
  return (
    <Card title={isNew ? 'New campaign' : `Edit ${initial.id}`} actions={<button type="button" class="btn secondary" onClick={onClose}>Cancel</button>}>
      <p class="muted small">The campaign in the same JSON the CRM sends. The gateway checks it and names any field it refuses.</p>
      <textarea class="json" rows={16} value={text} onInput={(e) => setText((e.target as HTMLTextAreaElement).value)} spellcheck={false} aria-label="campaign JSON" data-testid="campaign-json" />
      {err ? <p class="error" data-testid="campaign-error">{err}</p> : null}
      <div class="row-end">
        <Action testid="campaign-save" run={async () => {
          setErr(null)
          let c: Campaign
          try { c = JSON.parse(text) as Campaign } catch (e) { setErr(`not JSON: ${(e as Error).message}`); return }
          try {
            await api('PUT', `/campaigns/${encodeURIComponent(c.id)}`, c)
            toast(`campaign ${c.id} saved`, 'ok')
            await refreshCampaigns()
            onClose()
          } catch (e) { setErr(errorText(e)) }
        }}>Save</Action>
      </div>
    </Card>
  )
}

function Campaigns() {
  const s = useStore()
  const [editing, setEditing] = useState<{ c: Campaign; isNew: boolean } | null>(null)
  const [showRetired, setShowRetired] = useState(false)
  const operator = can(s.you?.role, 'operator')
  const figs = new Map((s.figures?.campaigns ?? []).map((f) => [f.campaignId, f]))
  const list = s.campaigns.filter((c) => showRetired || c.state !== 'retired')
  const retired = s.campaigns.filter((c) => c.state === 'retired').length
  const row = (c: CampaignItem) => {
    const f = figs.get(c.campaign.id)
    const t = c.campaign.trigger
    return (
      <tr data-campaign={c.campaign.id} data-state={c.state}>
        <td><b>{c.campaign.title}</b><div class="muted small mono">{c.campaign.id} · {c.source}</div></td>
        <td>{t.kind}{t.zone ? ` · ${t.zone}` : ''}{t.seconds ? ` · ${t.seconds} s` : ''}{t.sku ? ` · ${t.sku}` : ''}</td>
        <td><Badge kind={c.state === 'active' ? 'ok' : c.state === 'retired' ? 'muted' : 'info'}>{c.state}</Badge></td>
        <td class="num">{num(f?.issued ?? 0)}</td><td class="num">{num(f?.delivered ?? 0)}</td><td class="num">{num(f?.seen ?? 0)}</td><td class="num">{num(f?.redeemed ?? 0)}</td>
        <td class="num">{pct(f?.redemptionRate ?? null)}</td>
        <td><Uplift f={f} /></td>
        {operator ? (
          <td class="actions-cell">
            {c.state !== 'retired' ? <>
              <button type="button" class="btn secondary" onClick={() => setEditing({ c: c.campaign, isNew: false })}>Edit</button>
              <Action kind="danger" testid={`retire-${c.campaign.id}`} confirm={`Retire "${c.campaign.title}"? No new offers; coupons already issued stay valid.`} run={async () => { await api('DELETE', `/campaigns/${encodeURIComponent(c.campaign.id)}`); toast(`${c.campaign.id} retired`, 'ok'); await refreshCampaigns() }}>Retire</Action>
            </> : <Action kind="secondary" testid={`activate-${c.campaign.id}`} run={async () => { await api('PUT', `/campaigns/${encodeURIComponent(c.campaign.id)}`, c.campaign); toast(`${c.campaign.id} active again`, 'ok'); await refreshCampaigns() }}>Activate</Action>}
          </td>
        ) : null}
      </tr>
    )
  }
  return (
    <>
      {editing ? <Editor initial={editing.c} isNew={editing.isNew} onClose={() => setEditing(null)} /> : null}
      <Card title="Campaigns" actions={<>
        {retired ? <label class="inline small"><input type="checkbox" checked={showRetired} onChange={(e) => setShowRetired((e.target as HTMLInputElement).checked)} /> show {retired} retired</label> : null}
        {operator ? <button type="button" class="btn primary" onClick={() => setEditing({ c: { ...TEMPLATE, trigger: { ...TEMPLATE.trigger, zone: s.layout.zones[0]?.id ?? '' } }, isNew: true })}>New campaign</button> : null}
      </>}>
        {list.length ? <div class="table-wrap"><table data-testid="campaigns-table">
          <thead><tr><th>Campaign</th><th>Trigger</th><th>State</th><th class="num">Issued</th><th class="num">Delivered</th><th class="num">Seen</th><th class="num">Redeemed</th><th class="num">Redemption</th><th>Uplift vs holdout (95% CI)</th>{operator ? <th /> : null}</tr></thead>
          <tbody>{list.map(row)}</tbody>
        </table></div> : <Empty>No campaigns.</Empty>}
        <p class="muted small">Uplift: share of offered members who redeemed or bought the campaign's SKUs, minus the same share of the holdout group, with a 95% Newcombe interval; bold when the interval leaves out 0.</p>
      </Card>
    </>
  )
}

function Model() {
  const s = useStore()
  const m = s.health?.model
  const [pick, setPick] = useState('')
  const admin = can(s.you?.role, 'admin')
  if (!m) return null
  return (
    <Card title="Recommender model">
      {!s.health?.recommenderEnabled ? <p>The recommender is switched off: offers are ranked by campaign priority.</p> : m.active ? (
        <dl class="facts">
          <dt>In use</dt><dd data-testid="model-version"><b>{m.active.version}</b></dd>
          <dt>architecture</dt><dd>{m.active.architecture ?? '—'}</dd>
          <dt>trained</dt><dd>{m.active.trainedAt ?? '—'}</dd>
          <dt>loaded</dt><dd>{ago(m.active.loadedAt)}</dd>
          <dt>previous</dt><dd>{m.previous?.version ?? '—'}</dd>
        </dl>
      ) : <p class="warn-text">No model: offers are ranked by campaign priority. {m.lastError ?? ''}</p>}
      {m.lastError && m.active ? <p class="error small">Last refusal: {m.lastError}</p> : null}
      {admin && m.available.length ? (
        <div class="form-row">
          <select value={pick} onChange={(e) => setPick((e.target as HTMLSelectElement).value)} aria-label="model to activate"><option value="">choose a model…</option>{m.available.map((a) => <option value={a.name}>{a.name}{a.auc ? ` (AUC ${a.auc.toFixed(3)})` : ''}</option>)}</select>
          <Action disabled={!pick} run={async () => { const r = await api<{ version: string }>('POST', '/models/activate', { name: pick }); toast(`model ${r.version} in use`, 'ok') }}>Activate</Action>
          <Action kind="secondary" disabled={!m.previous} run={async () => { const r = await api<{ version: string }>('POST', '/models/rollback'); toast(`rolled back to ${r.version}`, 'ok') }}>Roll back</Action>
        </div>
      ) : null}
    </Card>
  )
}

interface Decision { id: number; ts: string; memberId: string; zone: string | null; trigger: string; offerId: string | null; campaignId: string | null; modelVersion: string | null; fallback: string | null; considered: { campaignId: string; outcome: string; score?: number }[] }

function Decisions() {
  const s = useStore()
  const [member, setMember] = useState('')
  const [campaign, setCampaign] = useState('')
  const [rows, setRows] = useState<Decision[] | null>(null)
  const [err, setErr] = useState<string | null>(null)
  const load = async () => {
    setErr(null)
    const q = new URLSearchParams({ limit: '50' })
    if (member) q.set('member', member)
    if (campaign) q.set('campaign', campaign)
    try { setRows((await api<{ decisions: Decision[] }>('GET', `/decisions?${q}`)).decisions) } catch (e) { setErr(errorText(e)) }
  }
  return (
    <Card title="Decisions">
      <form class="form-row" onSubmit={(e) => { e.preventDefault(); void load() }}>
        <label>Member <input value={member} onInput={(e) => setMember((e.target as HTMLInputElement).value.trim())} placeholder="member id" /></label>
        <label>Campaign <select value={campaign} onChange={(e) => setCampaign((e.target as HTMLSelectElement).value)}><option value="">any</option>{s.campaigns.map((c) => <option value={c.campaign.id}>{c.campaign.id}</option>)}</select></label>
        <button type="submit" class="btn primary">Show</button>
      </form>
      {err ? <p class="error">{err}</p> : null}
      {rows === null ? <p class="muted small">Every decision is kept with each campaign it considered and why it was or was not chosen.</p> : rows.length ? (
        <div class="table-wrap"><table class="compact">
          <thead><tr><th>When</th><th>Member</th><th>Trigger</th><th>Zone</th><th>Chosen</th><th>Ranked by</th><th>Considered</th></tr></thead>
          <tbody>{rows.map((d) => <tr><td>{ago(d.ts)}</td><td class="mono">{d.memberId}</td><td>{d.trigger}</td><td>{d.zone ?? '—'}</td><td>{d.campaignId ?? '—'}</td><td class="small">{d.modelVersion ?? `rules${d.fallback ? ` (${d.fallback})` : ''}`}</td>
            <td class="small">{d.considered.map((c) => `${c.campaignId}: ${c.outcome}${c.score !== undefined ? ` ${c.score.toFixed(3)}` : ''}`).join('; ')}</td></tr>)}</tbody>
        </table></div>
      ) : <Empty>No decisions match.</Empty>}
    </Card>
  )
}

export function OffersView() {
  const s = useStore()
  const f = s.figures
  const totals = (f?.campaigns ?? []).reduce((a, x) => ({ issued: a.issued + x.issued, redeemed: a.redeemed + x.redeemed }), { issued: 0, redeemed: 0 })
  const todayIssued = f?.day.issued.reduce((n, [, c]) => n + c, 0) ?? 0
  const todayRedeemed = f?.day.redeemed.reduce((n, [, c]) => n + c, 0) ?? 0
  return (
    <div class="stack">
      <div class="grid-2">
        <Card title="Offers today" class="wide">
          <div class="chips"><span class="chip"><b>{todayIssued}</b> issued today</span><span class="chip ok"><b>{todayRedeemed}</b> redeemed today</span><span class="chip"><b>{num(totals.issued)}</b> issued in all</span><span class="chip"><b>{num(totals.redeemed)}</b> redeemed in all</span></div>
          {f ? <DayChart day={f.day} tz={state.store?.timezone ?? 'UTC'} /> : null}
          {s.offers.length ? <p class="muted small">Latest: {s.offers.slice(0, 4).map((o) => `${o.event} ${o.campaignId}${o.zone ? ` at ${o.zone}` : ''} ${ago(o.ts)}`).join(' · ')}</p> : null}
        </Card>
        <Model />
      </div>
      <Campaigns />
      <Decisions />
    </div>
  )
}
