/**
 * What the console knows, kept up to date by the live stream: one mutable state and a version number;
 * components re-render (at most once an animation frame) when it changes. Everything is bounded by what
 * the gateway holds: subjects leave on exit and are replaced wholesale every minute, lists are replaced,
 * not appended.
 */
import { useEffect, useState } from 'preact/hooks'

export type Role = 'viewer' | 'operator' | 'admin'
const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 }
export const can = (role: Role | undefined, needs: Role): boolean => role !== undefined && RANK[role] >= RANK[needs]

export interface Zone { id: string; name?: string; kind?: string; polygon?: [number, number][]; dwellSeconds?: number }
export interface Anchor { id: string; kind: 'scanner' | 'beacon' | 'button'; zone?: string; x?: number; y?: number }
export interface Layout { zones: Zone[]; anchors: Anchor[] }
export interface Subject { subject: string; zone: string | null; since: number | null }
export interface Band { band: string; clerkId: string | null; status: string; onShift: boolean; battery: number | null; lastHeartbeat: number | null; zone: string | null; busyWith: string | null; supervisor: boolean }
export interface Call { requestId: string; source: string; zone: string | null; priority: number; presses: number; state: string; createdAt: number; acceptedAt: number | null; arrivedAt: number | null; closedAt: number | null; escalatedAt: number | null; band: string | null; clerkId: string | null; closeReason: string | null; offered: string[] }
export interface Device {
  id: string; kind: string; firstSeen: string; lastSeen: string; messageRate: number; messages: number; badMessages: number
  lastBadReason: string | null; lastBadAt: string | null; battery: number | null; online: boolean | null; onlineReason: string | null
  silent: boolean; expectedIntervalSeconds: number | null; statusAt: string | null; recentBad: { reason: string; at: string }[]; zone: string | null; placed: boolean
}
export interface NeverSeen { id: string; kind: string; zone: string | null; silent: boolean; expectedIntervalSeconds: number | null }
export interface Campaign {
  id: string; title: string; body?: string
  trigger: { kind: string; zone?: string; seconds?: number; sku?: string }
  offer: { skus?: string[]; category?: string; discount: { kind: string; value?: number } }
  validMinutes: number; priority?: number; from?: string; to?: string
  [k: string]: unknown
}
export interface CampaignItem { campaign: Campaign; source: string; retiredAt: number | null; state: string }
export interface Interval { low: number; high: number }
export interface Figures {
  campaignId: string; issued: number; delivered: number; seen: number; dismissed: number; redeemed: number; redemptionRate: number | null
  offered: { exposures: number; converted: number; rate: number | null; ci?: Interval | null }
  holdout: { exposures: number; converted: number; rate: number | null; ci?: Interval | null }
  uplift: number | null; upliftCi?: (Interval & { level: number }) | null; upliftSignificant?: boolean | null
}
export interface Day { start: number; bucketMs: number; issued: [number, number][]; redeemed: [number, number][] }
export interface StageStats { count: number; median: number | null; p90: number | null; mean: number | null; max: number | null }
export interface StageSet { accept: StageStats; arrive: StageStats; done: StageStats }
export interface AssistFigures { since: number; goalSeconds: number; requests: number; byState: Record<string, number>; overall: StageSet; byZone: Record<string, StageSet & { requests: number }>; byClerk: Record<string, StageSet & { requests: number }>; byHour: Record<string, StageSet & { requests: number }> }
export interface ModelState { active: { version: string; name: string; architecture: string | null; trainedAt: string | null; loadedAt: string } | null; previous: { version: string } | null; lastError: string | null; available: { name: string; featureVersion: string; architecture?: string; auc?: number }[] }
export interface Calibration {
  sessions: { id: number; zone: string; subject: string; startedAt: string; endsAt: string; state: string; samples: number; createdBy: string }[]
  samples: Record<string, number>
  model: { builtAt: string; zones: string[]; anchors: number; fingerprints: number; check: { zones: { zone: string; samples: number; tested: number; accuracy: number }[]; accuracy: number; problems: string[] } } | null
}
export interface Health {
  ready: boolean; checks: Record<string, { ok: boolean; detail: string }>; sync: Record<string, unknown>
  deadLetters: { stored: Record<string, number>; lastHour: Record<string, number> }
  eventLoop: { ts: number; p99: number; max: number }; database: { bytes: number; walBytes: number }
  process: { rss: number; heapUsed: number; uptimeSeconds: number }; model: ModelState; recommenderEnabled: boolean; streams: number
}
export interface DeadLetterNote { receivedAt: number; topic: string; device: string | null; reason: string; detail: string }
export interface OfferNote { offerId: string; campaignId: string; zone: string | null; ts: number; event: 'issued' | 'redeemed' }
export interface Toast { id: number; text: string; kind: 'warn' | 'ok' | 'info'; at: number }

export interface State {
  ready: boolean
  /** gateway clock minus this browser's clock (ms): every age on the page is judged by the gateway's time */
  skew: number
  you: { name: string; role: Role } | null
  store: { id: string; name: string; timezone: string } | null
  version: string
  layout: Layout
  subjects: Map<string, Subject>
  traffic: Record<string, number>
  bands: Band[]
  calls: { open: Call[]; recent: Call[] }
  assistFigures: AssistFigures | null
  devices: { devices: Device[]; total: number; neverSeen: NeverSeen[] }
  campaigns: CampaignItem[]
  figures: { campaigns: Figures[]; day: Day } | null
  calibration: Calibration | null
  health: Health | null
  lagHistory: { ts: number; p99: number; max: number }[]
  deadLetters: { lastHour: Record<string, number>; recent: DeadLetterNote[] }
  offers: OfferNote[]
  toasts: Toast[]
  presenceNote: string | null
}

const initial = (): State => ({
  ready: false, skew: 0, you: null, store: null, version: '', layout: { zones: [], anchors: [] }, subjects: new Map(), traffic: {},
  bands: [], calls: { open: [], recent: [] }, assistFigures: null, devices: { devices: [], total: 0, neverSeen: [] }, campaigns: [],
  figures: null, calibration: null, health: null, lagHistory: [], deadLetters: { lastHour: {}, recent: [] }, offers: [], toasts: [], presenceNote: null,
})

export let state: State = initial()
let version = 0
const listeners = new Set<() => void>()
let frame = 0

function changed(): void {
  version++
  if (frame) return
  frame = requestAnimationFrame(() => {
    frame = 0
    for (const l of listeners) l()
  })
}

export function resetState(): void { state = initial(); changed() }

/** re-render when the state changes */
export function useStore(): State {
  const [, setV] = useState(0)
  useEffect(() => {
    const l = () => setV(version)
    listeners.add(l)
    return () => { listeners.delete(l) }
  }, [])
  return state
}

/** the gateway's clock, now */
export const gatewayNow = (): number => Date.now() + state.skew

let toastSeq = 0
export function toast(text: string, kind: Toast['kind'] = 'info'): void {
  const id = ++toastSeq
  state.toasts = [...state.toasts.slice(-4), { id, text, kind, at: gatewayNow() }]
  changed()
  setTimeout(() => { state.toasts = state.toasts.filter((t) => t.id !== id); changed() }, 6000)
}

const MAX_OFFER_NOTES = 50

type AnyRec = Record<string, unknown>

/** Apply one event of the live stream. */
export function apply(event: string, raw: unknown): void {
  const d = raw as AnyRec
  if (typeof d['now'] === 'number') state.skew = (d['now'] as number) - Date.now()
  switch (event) {
    case 'snapshot': {
      const s = d as unknown as AnyRec & { subjects: Subject[]; health: Health & { lagHistory: State['lagHistory'] } }
      state = {
        ...state,
        ready: true,
        you: s['you'] as State['you'],
        store: s['store'] as State['store'],
        version: s['version'] as string,
        layout: s['layout'] as Layout,
        subjects: new Map(s.subjects.map((x) => [x.subject, x])),
        traffic: s['traffic'] as Record<string, number>,
        bands: s['bands'] as Band[],
        calls: s['assist'] as State['calls'],
        assistFigures: s['assistFigures'] as AssistFigures,
        devices: s['devices'] as State['devices'],
        campaigns: s['campaigns'] as CampaignItem[],
        figures: s['figures'] as State['figures'],
        calibration: s['calibration'] as Calibration,
        health: s.health,
        lagHistory: s.health.lagHistory ?? [],
        deadLetters: s['deadLetters'] as State['deadLetters'],
        presenceNote: (s['presenceNote'] as string | null) ?? null,
      }
      break
    }
    case 'presence':
      for (const c of d['changes'] as Subject[]) {
        if (c.zone === null) state.subjects.delete(c.subject)
        else state.subjects.set(c.subject, c)
      }
      break
    case 'presenceAll':
      state.subjects = new Map((d['subjects'] as Subject[]).map((x) => [x.subject, x]))
      state.traffic = d['traffic'] as Record<string, number>
      break
    case 'bands': state.bands = d['bands'] as Band[]; break
    case 'assist': state.calls = { open: d['open'] as Call[], recent: d['recent'] as Call[] }; break
    case 'assistFigures': state.assistFigures = d as unknown as AssistFigures; break
    case 'devices': state.devices = { devices: d['devices'] as Device[], total: d['total'] as number, neverSeen: d['neverSeen'] as NeverSeen[] }; break
    case 'deviceState': {
      for (const e of d['events'] as { id: string; kind: string; online: boolean | null; silent: boolean; reason: string | null }[]) {
        const dev = state.devices.devices.find((x) => x.id === e.id && x.kind === e.kind)
        if (dev) { dev.online = e.online; dev.silent = e.silent; dev.onlineReason = e.reason }
        if (e.online === false) toast(`${e.kind} ${e.id} ${e.reason === 'silent' ? 'went silent' : 'is offline'}`, 'warn')
        else if (e.online === true) toast(`${e.kind} ${e.id} is back online`, 'ok')
      }
      state.devices = { ...state.devices, devices: [...state.devices.devices] }
      break
    }
    case 'deadLetters': state.deadLetters = d as unknown as State['deadLetters']; break
    case 'offers': state.offers = [...(d['recent'] as OfferNote[]), ...state.offers].slice(0, MAX_OFFER_NOTES); break
    case 'figures': state.figures = { campaigns: d['campaigns'] as Figures[], day: d['day'] as Day }; break
    case 'campaigns': state.campaigns = d['campaigns'] as CampaignItem[]; break
    case 'calibration': state.calibration = d['calibration'] as Calibration; break
    case 'health': {
      const h = d as unknown as Health
      state.health = h
      state.lagHistory = [...state.lagHistory, h.eventLoop].slice(-120)
      break
    }
    case 'layout': state.layout = d['layout'] as Layout; break
    default: return
  }
  changed()
}

/** a REST answer that replaces part of the state (after an action) */
export function patch(p: Partial<State>): void {
  state = { ...state, ...p }
  changed()
}
