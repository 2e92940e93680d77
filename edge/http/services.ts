/** Views the admin API returns, and the port the HTTP server is built on. */
import type { Campaign } from '../contract/resources.js'
import type { Role } from '../config/schema.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Metrics } from '../core/metrics.js'
import type { MemberHub } from '../delivery/hub.js'
import type { MemberAuth } from '../delivery/jwt.js'
import type { AdminRoutes } from './admin/kit.js'

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

export interface SyncStreamView { destination: string; backlog: number; packed: number; oldestAgeSeconds: number | null; delivered: number; retried: number; parked: number; lastSuccess: string | null; lastError: string | null; nextAttempt: string | null }
export interface SyncView {
  mode: 'stand-alone' | 'http' | 'mqtt'
  backlog: number; oldestAgeSeconds: number | null; lastSuccess: string | null; lastError: string | null; delivered: number; parked: number
  byStream: Record<string, number>
  streams: { crm: SyncStreamView; ops: SyncStreamView }
  budget: { bytes: number; budgetBytes: number; state: 'ok' | 'alarm' | 'full' }
  inbound: Record<string, { lastPull: string | null; lastApplied: string | null; lastError: string | null; notModified: number }>
  recentlyParked: { stream: string; event: string; messageId: string; reason: string; parkedAt: string }[]
  overrides: { resource: string; id: string; at: string }[]
}

export interface DecisionView { id: number; ts: string; memberId: string; zone: string | null; trigger: string; offerId: string | null; campaignId: string | null; modelVersion: string | null; fallback: string | null; considered: { campaignId: string; outcome: string; score?: number }[] }

export type ProblemList = { path: string; value: unknown; expected: string }[]

/** What the HTTP layer needs from the gateway: a narrow port, so routes never reach into internals. */
export interface GatewayServices {
  version: string
  storeId: string
  clock: Clock
  log: Logger
  metrics: Metrics
  hub: MemberHub
  memberTokens: MemberAuth
  /** sha256(token) -> holder */
  adminTokens: Map<string, { name: string; role: Role }>
  ready(): Record<string, ReadyCheck>
  /** /metrics needs this bearer token when set */
  metricsToken?: string | undefined
  /** every feature's admin routes, registered under /v1/admin */
  adminRoutes: AdminRoutes[]
}
