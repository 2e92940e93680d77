/**
 * The composition root: config in, a running gateway out. It opens storage, builds the shared context
 * (clock, log, bus, metrics, MQTT publishing) and then the list of feature modules the gateway is made of,
 * each with its own bus handlers, periodic work, readiness checks, admin routes and shutdown
 * (edge/features/). Nothing is wired inline here.
 */
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { defaultPrefix, topics, type GatewayStatus } from './contract/index.js'
import type { Config } from './config/schema.js'
import { EventBus } from './core/bus.js'
import { systemClock, type Clock } from './core/clock.js'
import { createLogger, type Logger } from './core/log.js'
import { Metrics } from './core/metrics.js'
import { loadOrCreateSecrets, type Secrets } from './core/secrets.js'
import { AssistFeature } from './features/assist.js'
import { DeadLettersFeature } from './features/dead-letters.js'
import { DeliveryFeature } from './features/delivery.js'
import { DevicesFeature } from './features/devices.js'
import type { Feature, GatewayContext, GatewayEvents } from './features/feature.js'
import { IngestFeature } from './features/ingest.js'
import { LayoutFeature } from './features/layout.js'
import { LiveFeature } from './features/live.js'
import { MembersFeature } from './features/members.js'
import { memberHash } from './identity/identity.js'
import { OffersFeature } from './features/offers.js'
import { PresenceFeature } from './features/presence.js'
import { RecommenderFeature } from './features/recommender.js'
import { SyncFeature } from './features/sync.js'
import { buildHttp } from './http/server.js'
import { sha256Hex } from './http/auth.js'
import type { ReadyCheck } from './http/services.js'
import { EmbeddedBroker } from './mqtt/embedded.js'
import { ExternalBroker } from './mqtt/external.js'
import type { MqttPort } from './mqtt/port.js'
import { seedFromConfig } from './storage/seed.js'
import { Store } from './storage/store.js'
import { version } from './version.js'

export type { GatewayEvents } from './features/feature.js'

export interface GatewayOptions {
  config: Config
  envAdminToken?: string | undefined
  clock?: Clock
  log?: Logger
  /** demo mode: the generated demo admin token is accepted and member tokens can be minted for the demo page */
  demo?: boolean
  /** an MQTT port started by the caller (benchmarks, embedding); the gateway then does not stop it */
  mqtt?: MqttPort
}

export interface Gateway {
  readonly config: Config
  readonly httpUrl: string
  readonly httpPort: number
  readonly mqttUrl: string
  readonly mqttPort: number | null
  readonly prefix: string
  readonly dbFile: string
  readonly secrets: Secrets
  readonly log: Logger
  /** the internal event bus, for instrumentation and extensions (listeners run after the gateway's own) */
  readonly bus: EventBus<GatewayEvents>
  /** admin token printed by the demo (only in demo mode) */
  readonly demoAdminToken: string | null
  /** mint a member JWT with the gateway's own HS256 secret (demo and tests) */
  memberToken(memberId: string, ttlSeconds?: number): Promise<string>
  /** run the periodic work now (time passes for presence, pseudonyms, call-for-service): simulations in virtual time call it */
  tick(): void
  /** wait until every queued write is committed */
  flush(): Promise<void>
  stop(): Promise<void>
}

export async function startGateway(o: GatewayOptions): Promise<Gateway> {
  const config = o.config
  const clock = o.clock ?? systemClock
  const log = o.log ?? createLogger({ level: config.log.level })
  const storeId = config.store.id
  const prefix = config.mqtt.topicPrefix ?? defaultPrefix(storeId)
  const ver = version()
  const { secrets, created } = loadOrCreateSecrets(config.dataDir)
  if (created.includes('memberJwtSecret') && !config.member.jwt.secret && config.member.jwt.alg === 'HS256') {
    log.warn('member.jwt.secret is not set: generated one in the data folder; member tokens issued by the CRM will not verify until the shared secret is configured')
  }

  const dbFile = join(config.dataDir, config.storage.file)
  const stopping: (() => Promise<void> | void)[] = []
  let metrics: Metrics | null = null
  const store = await Store.open(dbFile, {
    now: clock.now(), flushMs: config.storage.flushMs, maxBatch: config.storage.maxBatch,
    onError: (err) => log.error({ err }, 'storage write failed'),
    onCommit: (st) => metrics?.writeBatches.observe(st.ms / 1000),
  })
  stopping.push(() => store.close())

  try {
    const features: Feature[] = []
    let delivery: DeliveryFeature | null = null
    const m = new Metrics({ outboxBacklog: () => store.outboxBacklog, wsConnections: () => delivery?.hub.connections ?? 0 })
    metrics = m
    stopping.push(() => m.stop())
    const bus = new EventBus<GatewayEvents>((event, err) => log.error({ err, event }, 'event handler failed'))

    const statusTopic = topics.gatewayStatus(prefix)
    const statusPayload = (online: boolean) => JSON.stringify({ online, version: ver, ts: clock.now() } satisfies GatewayStatus)
    const will = { topic: statusTopic, payload: statusPayload(false), qos: 1 as const, retain: true }
    const mqtt: MqttPort = o.mqtt ?? (config.mqtt.url
      ? new ExternalBroker({ url: config.mqtt.url, clientId: config.mqtt.clientId ?? `aisle-edge-${storeId}`, username: config.mqtt.username, password: config.mqtt.password, will, birth: { ...will, payload: statusPayload(true) }, log })
      : new EmbeddedBroker({ host: config.mqtt.embedded.host, port: config.mqtt.embedded.port, reservedPrefixes: [`${prefix}/gateway/`, `${prefix}/events/`], will, log }))
    const ctx: GatewayContext = {
      config, clock, log, store, bus, metrics: m, secrets, storeId, prefix, version: ver,
      publish: (topic, payload, qos = 0, retain = false) => {
        mqtt.publish(topic, JSON.stringify(payload), { qos, retain }).catch((err) => log.debug({ err: (err as Error).message, topic }, 'publish failed'))
      },
    }

    // ---- what the gateway is made of, in dependency order
    const seeded = await seedFromConfig(store, config, (id) => memberHash(Buffer.from(secrets.pepper, 'hex'), id), clock.now())
    if (seeded.applied.skippedErased) log.info({ count: seeded.applied.skippedErased }, 'members in config were erased earlier and are not re-created')
    const layout = new LayoutFeature(ctx, seeded.layout)
    const members = new MembersFeature(ctx, seeded.members)
    const devices = await DevicesFeature.create(ctx, layout)
    const deadLetters = new DeadLettersFeature(ctx)
    const recommender = await RecommenderFeature.create(ctx)
    delivery = await DeliveryFeature.create(ctx)
    const presence = await PresenceFeature.create(ctx, { layout, members, delivery })
    const offers = await OffersFeature.create(ctx, { layout, members, recommender }, seeded.campaigns)
    const assist = await AssistFeature.create(ctx, { layout, members, presence, delivery })
    const sync = new SyncFeature(ctx)
    const live = new LiveFeature(ctx, { layout, devices, presence, offers, assist, recommender, features })
    const ingest = new IngestFeature(ctx, mqtt, { devices, layout })
    features.push(layout, members, devices, deadLetters, recommender, delivery, presence, offers, assist, sync, live, ingest)
    stopping.push(async () => { for (const f of [...features].reverse()) await stopQuietly(f, log) })

    // ---- the broker: ingest takes messages before any device can send one
    await ingest.subscribe()
    if (!o.mqtt) {
      await mqtt.start()
      stopping.push(() => mqtt.stop())
    }
    ctx.publish(statusTopic, JSON.parse(statusPayload(true)), 1, true)
    for (const f of features) await f.start?.()

    // ---- periodic work
    const tickOnce = () => {
      const now = clock.now()
      for (const f of features) f.tick?.(now)
    }
    const tick = setInterval(tickOnce, config.presence.tickMs)
    const housekeeping = setInterval(() => {
      const now = clock.now()
      for (const f of features) void Promise.resolve(f.housekeeping?.(now)).catch((err) => log.warn({ err, feature: f.name }, 'housekeeping failed'))
    }, 5000)
    stopping.push(() => { clearInterval(tick); clearInterval(housekeeping) })

    // ---- HTTP
    const adminTokens = new Map(config.admin.tokens.map((t) => [t.sha256, { name: t.name, role: t.role }]))
    if (o.envAdminToken) adminTokens.set(sha256Hex(o.envAdminToken), { name: 'AISLE_ADMIN_TOKEN', role: 'admin' })
    if (o.demo) adminTokens.set(sha256Hex(secrets.demoAdminToken), { name: 'demo', role: 'admin' })
    const ready = (): Record<string, ReadyCheck> => {
      const q = store.queue.stats
      const checks: Record<string, ReadyCheck> = { database: { ok: q.lastError === null || q.failedUnits === 0, detail: q.lastError ?? `${dbFile} (WAL)` } }
      for (const f of features) Object.assign(checks, f.ready?.())
      return checks
    }
    const http: FastifyInstance = await buildHttp({
      host: config.http.host, port: config.http.port,
      services: {
        version: ver, storeId, clock, log, metrics: m, hub: delivery.hub, memberTokens: delivery.tokens, adminTokens, ready,
        adminRoutes: features.flatMap((f) => (f.adminRoutes ? [f.adminRoutes] : [])),
      },
    })
    await http.listen({ host: config.http.host, port: config.http.port })
    stopping.push(() => http.close())
    stopping.push(() => d.hub.closeAll()) // member apps are told first (1001), then HTTP closes
    const d = delivery
    const httpPort = (http.server.address() as AddressInfo).port
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host
    const httpUrl = config.http.publicUrl ?? `http://${shownHost}:${httpPort}`

    log.info({ http: httpUrl, mqtt: mqtt.displayUrl, prefix, db: dbFile, members: members.identity.size, campaigns: offers.engine.listCampaigns().length, zones: layout.layout.zones.length, features: features.map((f) => f.name) }, 'gateway started')

    let stopped = false
    return {
      config, httpUrl, httpPort, prefix, dbFile, secrets, log, bus,
      mqttUrl: mqtt.displayUrl,
      mqttPort: mqtt instanceof EmbeddedBroker ? mqtt.port : null,
      demoAdminToken: o.demo ? secrets.demoAdminToken : null,
      memberToken: (memberId, ttl) => d.memberToken(memberId, ttl),
      flush: () => store.queue.flush(),
      tick: tickOnce,
      stop: async () => {
        if (stopped) return
        stopped = true
        await runStops(stopping, log)
      },
    }
  } catch (err) {
    await runStops(stopping, log)
    throw err
  }
}

async function stopQuietly(f: Feature, log: Logger): Promise<void> {
  try {
    await f.stop?.()
  } catch (err) {
    log.warn({ err, feature: f.name }, 'error while stopping')
  }
}

async function runStops(stopping: (() => Promise<void> | void)[], log: Logger): Promise<void> {
  for (const s of stopping.reverse()) {
    try {
      await s()
    } catch (err) {
      log.warn({ err }, 'error while stopping')
    }
  }
}
