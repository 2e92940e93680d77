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
import { lockDataDir } from './core/lock.js'
import { loadOrCreateSecrets, type Secrets } from './core/secrets.js'
import { AssistFeature } from './features/assist.js'
import { DeadLettersFeature } from './features/dead-letters.js'
import { DeliveryFeature } from './features/delivery.js'
import { DeviceIdentityFeature } from './features/device-identity.js'
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
import { StorageFeature } from './features/storage.js'
import { SyncFeature } from './features/sync.js'
import { buildHttp } from './http/server.js'
import { NO_TOKENS, sha256Hex } from './http/auth.js'
import type { ReadyCheck } from './http/services.js'
import { EmbeddedBroker } from './mqtt/embedded.js'
import { ExternalBroker } from './mqtt/external.js'
import type { MqttPort, WillMessage } from './mqtt/port.js'
import { sealPersonalData } from './storage/privacy.js'
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
  /** the gateway's storage (tools and tests) */
  readonly store: Store
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
  /** run the slow periodic work now (outbox packing and budget, counters, pruning), as every 5 s */
  housekeep(): Promise<void>
  /** readiness checks, as /readyz reports them */
  ready(): Record<string, ReadyCheck>
  /** admin API tokens configured (0: nobody can use the admin API) */
  readonly adminTokenCount: number
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
  // one gateway per data folder: a second start refuses instead of opening the live database
  const lock = lockDataDir(config.dataDir)
  if (lock.tookOver) log.warn({ lock: lock.file }, `took over ${lock.tookOver}`)
  let secrets: Secrets
  let created: (keyof Secrets)[]
  try {
    ({ secrets, created } = loadOrCreateSecrets(config.dataDir))
  } catch (err) {
    lock.release()
    throw err
  }
  if (created.includes('memberJwtSecret') && !config.member.jwt.secret && config.member.jwt.alg === 'HS256') {
    log.warn('member.jwt.secret is not set: generated one in the data folder; member tokens issued by the CRM will not verify until the shared secret is configured')
  }

  const dbFile = join(config.dataDir, config.storage.file)
  const stopping: (() => Promise<void> | void)[] = [() => lock.release()]
  let metrics: Metrics | null = null
  let store: Store
  try {
    store = await Store.open(dbFile, {
      now: clock.now(), flushMs: config.storage.flushMs, maxBatch: config.storage.maxBatch, storageKey: Buffer.from(secrets.storageKey, 'hex'), onNote: (msg) => log.info(msg),
      onError: (err) => log.error({ err }, 'storage write failed'),
      onCommit: (st) => metrics?.writeBatches.observe(st.ms / 1000),
    })
  } catch (err) {
    lock.release()
    throw new StartError(`cannot open the database ${dbFile}: ${(err as Error).message}`)
  }
  stopping.push(() => store.close())

  try {
    const upgraded = await sealPersonalData(store, Buffer.from(secrets.pepper, 'hex'), clock.now())
    if (upgraded) log.info(upgraded, 'personal data at rest sealed and hashed (once, for a database of an earlier version)')
    const features: Feature[] = []
    let delivery: DeliveryFeature | null = null
    const m = new Metrics({ outboxBacklog: () => store.outboxBacklog, wsConnections: () => delivery?.hub.connections ?? 0 })
    metrics = m
    stopping.push(() => m.stop())
    const bus = new EventBus<GatewayEvents>((event, err) => log.error({ err, event }, 'event handler failed'))

    const statusTopic = topics.gatewayStatus(prefix)
    const statusPayload = (online: boolean) => JSON.stringify({ online, version: ver, ts: clock.now() } satisfies GatewayStatus)
    const will = { topic: statusTopic, payload: statusPayload(false), qos: 1 as const, retain: true }
    let mqtt: MqttPort | null = o.mqtt ?? null
    const ctx: GatewayContext = {
      config, clock, log, store, bus, metrics: m, secrets, storeId, prefix, version: ver,
      publish: (topic, payload, qos = 0, retain = false) => {
        if (!mqtt) return
        mqtt.publish(topic, JSON.stringify(payload), { qos, retain }).catch((err) => log.debug({ err: (err as Error).message, topic }, 'publish failed'))
      },
    }

    // ---- what the gateway is made of, in dependency order
    const seeded = await seedFromConfig(store, config, (id) => memberHash(Buffer.from(secrets.pepper, 'hex'), id), clock.now())
    if (seeded.applied.skippedErased) log.info({ count: seeded.applied.skippedErased }, 'members in config were erased earlier and are not re-created')
    const storage = new StorageFeature(ctx)
    const layout = new LayoutFeature(ctx, seeded.layout)
    const deviceIdentity = await DeviceIdentityFeature.create(ctx, layout)
    if (!mqtt) mqtt = makeBroker(config, prefix, will, statusPayload(true), log, deviceIdentity, m)
    const members = new MembersFeature(ctx, seeded.members)
    const devices = await DevicesFeature.create(ctx, layout, (id) => deviceIdentity.isRegistered(id))
    const deadLetters = new DeadLettersFeature(ctx, members)
    const recommender = await RecommenderFeature.create(ctx)
    delivery = await DeliveryFeature.create(ctx)
    const presence = await PresenceFeature.create(ctx, { layout, members, delivery })
    const offers = await OffersFeature.create(ctx, { layout, members, recommender }, seeded.campaigns)
    const assist = await AssistFeature.create(ctx, { layout, members, presence, delivery })
    const sync = new SyncFeature(ctx, { members, offers, layout, recommender })
    const broker: MqttPort = mqtt
    const live = new LiveFeature(ctx, { layout, devices, presence, offers, assist, recommender, features })
    const ingest = new IngestFeature(ctx, broker, { devices, layout })
    features.push(storage, layout, deviceIdentity, members, devices, deadLetters, recommender, delivery, presence, offers, assist, sync, live, ingest)
    stopping.push(async () => { for (const f of [...features].reverse()) await stopQuietly(f, log) })

    // ---- the broker: ingest takes messages before any device can send one
    await ingest.subscribe()
    if (!o.mqtt) {
      await broker.start().catch((err) => { throw listenError(err, 'MQTT broker', config.mqtt.embedded.host, config.mqtt.embedded.port, 'AISLE_MQTT_PORT') })
      stopping.push(() => broker.stop())
    }
    ctx.publish(statusTopic, JSON.parse(statusPayload(true)), 1, true)
    for (const f of features) await f.start?.()

    // ---- periodic work
    const tickOnce = () => {
      const now = clock.now()
      for (const f of features) f.tick?.(now)
    }
    const tick = setInterval(tickOnce, config.presence.tickMs)
    const housekeepOnce = async () => {
      const now = clock.now()
      await Promise.all(features.map((f) => Promise.resolve(f.housekeeping?.(now)).catch((err) => log.warn({ err, feature: f.name }, 'housekeeping failed'))))
    }
    let housekeepingRun: Promise<void> | null = null
    const housekeeping = setInterval(() => { if (!housekeepingRun) housekeepingRun = housekeepOnce().finally(() => { housekeepingRun = null }) }, 5000)
    stopping.push(() => { clearInterval(tick); clearInterval(housekeeping) })

    // ---- HTTP
    const adminTokens = new Map(config.admin.tokens.map((t) => [t.sha256, { name: t.name, role: t.role }]))
    if (o.envAdminToken) adminTokens.set(sha256Hex(o.envAdminToken), { name: 'AISLE_ADMIN_TOKEN', role: 'admin' })
    if (o.demo) adminTokens.set(sha256Hex(secrets.demoAdminToken), { name: 'demo', role: 'admin' })
    if (adminTokens.size === 0) log.warn(NO_TOKENS)
    const ready = (): Record<string, ReadyCheck> => {
      const checks: Record<string, ReadyCheck> = {}
      for (const f of features) Object.assign(checks, f.ready?.())
      checks['admin'] = adminTokens.size === 0 ? { ok: true, detail: NO_TOKENS } : { ok: true, detail: `${adminTokens.size} admin API token(s)` }
      return checks
    }
    const http: FastifyInstance = await buildHttp({
      host: config.http.host, port: config.http.port,
      services: {
        version: ver, storeId, clock, log, metrics: m, hub: delivery.hub, memberTokens: delivery.tokens, adminTokens, ready, metricsToken: config.metrics.token,
        adminRoutes: features.flatMap((f) => (f.adminRoutes ? [f.adminRoutes] : [])),
      },
    })
    await http.listen({ host: config.http.host, port: config.http.port }).catch(async (err) => {
      await http.close().catch(() => {})
      throw listenError(err, 'HTTP', config.http.host, config.http.port, 'AISLE_HTTP_PORT')
    })
    stopping.push(() => http.close())
    stopping.push(() => d.hub.closeAll()) // member apps are told first (1001), then HTTP closes
    const d = delivery
    const httpPort = (http.server.address() as AddressInfo).port
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host
    const httpUrl = config.http.publicUrl ?? `http://${shownHost}:${httpPort}`

    log.info({ http: httpUrl, mqtt: broker.displayUrl, prefix, db: dbFile, members: members.identity.size, campaigns: offers.engine.listCampaigns().length, zones: layout.layout.zones.length, features: features.map((f) => f.name) }, 'gateway started')

    let stopped = false
    return {
      config, httpUrl, httpPort, prefix, dbFile, secrets, log, bus, store,
      mqttUrl: broker.displayUrl,
      mqttPort: broker instanceof EmbeddedBroker ? broker.port : null,
      demoAdminToken: o.demo ? secrets.demoAdminToken : null,
      memberToken: (memberId, ttl) => d.memberToken(memberId, ttl),
      flush: () => store.queue.flush(),
      tick: tickOnce,
      housekeep: housekeepOnce,
      ready,
      adminTokenCount: adminTokens.size,
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

/** The broker of the config: an external one (Mosquitto, EMQX), or the embedded aedes with device identity (CONTRACT 7a). */
function makeBroker(config: Config, prefix: string, will: WillMessage, birth: string, log: Logger, identity: DeviceIdentityFeature, m: Metrics): MqttPort {
  if (config.mqtt.url) {
    return new ExternalBroker({ url: config.mqtt.url, clientId: config.mqtt.clientId ?? `aisle-edge-${config.store.id}`, username: config.mqtt.username, password: config.mqtt.password, will, birth: { ...will, payload: birth }, log })
  }
  const e = config.mqtt.embedded
  const broker = new EmbeddedBroker({
    host: e.host, port: e.port, plain: e.plain, tls: e.tls, reservedPrefixes: [`${prefix}/gateway/`, `${prefix}/events/`], will, log,
    auth: identity.auth,
    limits: { ...e.limits, connectTimeoutMs: e.limits.connectTimeoutSeconds * 1000 },
    onRefused: (reason) => m.mqttRefusals.inc([reason]),
  })
  identity.attach(broker)
  m.mqttConnections = () => broker.connections
  m.mqttSockets = () => broker.sockets
  return broker
}

/** A start-up failure with a message for people (one line, what to do). */
export class StartError extends Error {
  constructor(message: string) { super(message); this.name = 'StartError' }
}

function listenError(err: unknown, what: string, host: string, port: number, env: string): Error {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EADDRINUSE') return new StartError(`${what} port ${port} on ${host} is already in use (another gateway, or a Mosquitto?): stop it or choose another port with ${env}`)
  if (code === 'EACCES') return new StartError(`${what} port ${port} on ${host} needs privileges: choose a port above 1023 with ${env}`)
  if (code === 'EADDRNOTAVAIL') return new StartError(`${what} address ${host} is not an address of this machine`)
  return err instanceof Error ? err : new Error(String(err))
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
