/**
 * What the gateway is made of: feature modules with one lifecycle (ARCHITECTURE rule 6). A feature owns its
 * bus handlers (subscribed when it is built), its periodic work (`tick`, `housekeeping`), its readiness checks,
 * its admin routes and its shutdown. The composition root (edge/gateway.ts) builds them in dependency order,
 * hands each the shared context and the features it needs, and wires nothing inline.
 */
import type { Config } from '../config/schema.js'
import type { EventBus } from '../core/bus.js'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import type { Metrics } from '../core/metrics.js'
import type { Secrets } from '../core/secrets.js'
import type { AdminRoutes } from '../http/admin/kit.js'
import type { ReadyCheck } from '../http/services.js'
import type { IngestEvents } from '../ingest/ingest.js'
import type { IssuedOffer } from '../offers/engine.js'
import type { ZoneEvent } from '../presence/types.js'
import type { Layout } from '../contract/resources.js'
import type { Store } from '../storage/store.js'

/** The gateway's internal events: what ingest hands on, plus what features tell each other. */
export interface GatewayEvents extends IngestEvents {
  /** presence (or a dwell sensor) placed a subject: enter, dwell, exit */
  zone: ZoneEvent
  /** an offer was issued and committed */
  offerIssued: IssuedOffer
  /** the layout was replaced (and committed) */
  layout: Layout
  /** a member's erasure committed: drop everything held in memory about them */
  memberErased: { memberId: string; pseudonym: string }
  /** a device's online state changed (P/status, its last will, or silence past its expected interval) */
  deviceState: { id: string; kind: string; online: boolean | null; silent: boolean; reason: string | null; lastSeen: number; ts: number }
  /** a campaign was created, replaced or retired (and committed) */
  campaignChanged: { campaignId: string; change: 'created' | 'updated' | 'retired'; ts: number; source: string }
  /** a member was created or replaced (and committed); `source` says where from (admin, crm, config) */
  memberChanged: { memberId: string; change: 'created' | 'updated'; source: string }
  /** an offer was redeemed (and committed) */
  offerRedeemed: { offerId: string; campaignId: string; ts: number; memberId: string }
  /** a call-for-service request changed state (and its record was queued for storage) */
  assistChanged: { requestId: string; from: string | null; to: string; zone: string | null; band: string | null; clerkId: string | null; priority: number; createdAt: number; ts: number }
}

/** Shared by every feature: configuration, time, logging, storage, the bus, metrics and MQTT publishing. */
export interface GatewayContext {
  readonly config: Config
  readonly clock: Clock
  readonly log: Logger
  readonly store: Store
  readonly bus: EventBus<GatewayEvents>
  readonly metrics: Metrics
  readonly secrets: Secrets
  readonly storeId: string
  /** MQTT topic prefix, `aisle/<storeId>` by default */
  readonly prefix: string
  readonly version: string
  /** publish on the broker; failures are logged, never thrown (the broker may be down) */
  publish(topic: string, payload: unknown, qos?: 0 | 1, retain?: boolean): void
}

export interface Feature {
  readonly name: string
  /** after every feature is built and the broker is up, in list order */
  start?(): Promise<void> | void
  /** frequent periodic work (every `presence.tickMs`; simulations in virtual time call `gateway.tick()`) */
  tick?(now: number): void
  /** slow periodic work (every few seconds): persistence of counters, pruning */
  housekeeping?(now: number): Promise<void> | void
  /** readiness checks for /readyz, by name */
  ready?(): Record<string, ReadyCheck>
  /** admin routes, registered under /v1/admin */
  readonly adminRoutes?: AdminRoutes
  /** in reverse list order */
  stop?(): Promise<void> | void
}
