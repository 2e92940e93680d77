import type { AssistService } from '../features/assist.js'
/** What the HTTP layer needs from the gateway: a narrow port, so routes never reach into internals. */
import type { Campaign, Layout, Member } from '../contract/resources.js'
import type { Role } from '../config/schema.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Metrics } from '../core/metrics.js'
import type { MemberHub } from '../delivery/hub.js'
import type { MemberTokenVerifier } from '../delivery/jwt.js'
import type { DeviceView } from '../ingest/devices.js'
import type { CalibrationService } from '../features/calibration.js'
import type { RegistryState } from '../recommend/registry.js'
import type { CampaignFigures } from '../features/figures.js'

export interface ReadyCheck { ok: boolean; detail: string }

export interface PresenceView { subject: string; zone: string | null; since: string | null; dwellSeconds: number; lastSeen: string }

export interface MemberSummary {
  memberId: string
  consent: { offers: boolean; location: boolean }
  tier: string | null
  source: string
  updatedAt: string
}

export interface CampaignView { campaign: Campaign; source: string; retiredAt: string | null }

export interface DeadLetterView { id: number; receivedAt: string; topic: string; device: string | null; reason: string; detail: string | null; size: number; payload: string }

export interface SyncView { backlog: number; oldestAgeSeconds: number | null; lastSuccessAt: string | null; lastError: string | null; byStream: Record<string, number> }

export interface DecisionView { id: number; ts: string; memberId: string; zone: string | null; trigger: string; offerId: string | null; campaignId: string | null; modelVersion: string | null; fallback: string | null; considered: { campaignId: string; outcome: string; score?: number }[] }

export type ProblemList = { path: string; value: unknown; expected: string }[]

export interface GatewayServices {
  version: string
  storeId: string
  clock: Clock
  log: Logger
  metrics: Metrics
  hub: MemberHub
  memberTokens: MemberTokenVerifier
  models: {
    state(): RegistryState
    activate(name: string): Promise<{ ok: true; version: string } | { ok: false; error: string }>
    rollback(): Promise<{ ok: true; version: string } | { ok: false; error: string }>
    upload(name: string, bytes: Uint8Array, sha256: string): Promise<{ ok: true; version: string } | { ok: false; error: string }>
  }
  decisions(q: { member?: string | undefined; campaign?: string | undefined; limit: number }): Promise<DecisionView[]>
  figures(campaignId?: string): Promise<CampaignFigures[]>
  assist: AssistService
  stock: {
    list(): { sku: string; level: number | null; price: number | null; updatedAt: string }[]
    set(items: { sku: string; level: number }[]): Promise<void>
  }
  calibration: Pick<CalibrationService, 'start' | 'cancel' | 'build' | 'deleteSamples' | 'status'>
  /** sha256(token) -> holder */
  adminTokens: Map<string, { name: string; role: Role }>
  ready(): Record<string, ReadyCheck>
  layout(): Layout
  setLayout(l: Layout, by: string): Promise<ProblemList | null>
  presence(): PresenceView[]
  devices(): DeviceView[]
  members: {
    list(): Promise<MemberSummary[]>
    upsert(m: Member, by: string): Promise<'created' | 'updated'>
    erase(memberId: string, by: string): Promise<boolean>
  }
  campaigns: {
    list(includeRetired: boolean): Promise<CampaignView[]>
    upsert(c: Campaign, by: string): Promise<{ result: 'created' | 'updated' } | { problems: ProblemList }>
    retire(id: string, by: string): Promise<boolean>
  }
  deadLetters(q: { reason?: string | undefined; device?: string | undefined; limit: number; before?: number | undefined }): Promise<DeadLetterView[]>
  sync(): Promise<SyncView>
  /** member ids and ready-made tokens for the demo's member app links (demo only) */
  demoMembers?: () => Promise<{ memberId: string; token: string }[]>
}
