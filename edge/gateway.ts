/**
 * The composition root: config in, a running gateway out. Storage, identity, presence, offers, delivery,
 * MQTT and HTTP are built here and wired through one typed event bus; each has a start and a stop.
 */
import { randomBytes } from 'node:crypto'
import { join } from 'node:path'
import type { FastifyInstance } from 'fastify'
import type { AddressInfo } from 'node:net'
import { SignJWT } from 'jose'
import { defaultPrefix, inboundSubscriptions, topics, layoutProblems, campaignProblems, type Campaign, type DwellEvent, type GatewayStatus, type Layout, type Member, type OfferEvent } from './contract/index.js'
import type { Config } from './config/schema.js'
import { EventBus } from './core/bus.js'
import { systemClock, type Clock } from './core/clock.js'
import { createLogger, type Logger } from './core/log.js'
import { Metrics } from './core/metrics.js'
import { loadOrCreateSecrets, type Secrets } from './core/secrets.js'
import { MemberHub } from './delivery/hub.js'
import { MemberTokenVerifier } from './delivery/jwt.js'
import { buildHttp } from './http/server.js'
import { sha256Hex } from './http/auth.js'
import type { GatewayServices, MemberSummary, SyncView } from './http/services.js'
import { Identity } from './identity/identity.js'
import { DeviceRegistry } from './ingest/devices.js'
import { Ingest, type IngestEvents } from './ingest/ingest.js'
import { EmbeddedBroker } from './mqtt/embedded.js'
import { ExternalBroker } from './mqtt/external.js'
import type { MqttPort } from './mqtt/port.js'
import { CouponCodec } from './offers/coupon.js'
import { OfferEngine, type IssuedOffer, type TriggerEvent } from './offers/engine.js'
import { MemberStats } from './offers/member-stats.js'
import { StockBook } from './offers/stock.js'
import { Redemptions, stockOps } from './features/redemption.js'
import { campaignFigures } from './features/figures.js'
import { localDay } from './offers/time.js'
import { buildPresence, makeLocator } from './presence/factory.js'
import type { Presence } from './presence/engine.js'
import { CalibrationService } from './features/calibration.js'
import { OfferDecider } from './features/decider.js'
import { ModelRegistry } from './recommend/registry.js'
import { Ranker } from './recommend/ranker.js'
import { packageRoot } from './config/load.js'
import type { ZoneEvent } from './presence/types.js'
import {
  campaignRetireOps, campaignUpsertOps, deadLetterOps, deviceUpsertOps, dwellSessionOps, layoutOps, loadCampaigns, loadDevices,
  memberEraseOps, memberUpsertOps, offerIssuedOps, offersSince, pruneDeadLettersOp,
} from './storage/repos.js'
import { AssistService } from './features/assist.js'
import { seedFromConfig } from './storage/seed.js'
import { Store } from './storage/store.js'
import { version } from './version.js'

export interface GatewayEvents extends IngestEvents {
  zone: ZoneEvent
  offerIssued: IssuedOffer
}

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
  const jwtSecret = config.member.jwt.secret ?? secrets.memberJwtSecret
  if (created.includes('memberJwtSecret') && !config.member.jwt.secret && config.member.jwt.alg === 'HS256') {
    log.warn('member.jwt.secret is not set: generated one in the data folder; member tokens issued by the CRM will not verify until the shared secret is configured')
  }
  if (!config.coupon.key) log.warn('coupon.key is not set: using a key generated for this gateway; POS lanes elsewhere in the chain cannot verify its coupons until the chain key is configured')

  // ---- storage
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
    // ---- identity and state
    const identity = new Identity(Buffer.from(secrets.pepper, 'hex'))
    const seeded = await seedFromConfig(store, config, (id) => identity.memberHash(id), clock.now())
    if (seeded.applied.skippedErased) log.info({ count: seeded.applied.skippedErased }, 'members in config were erased earlier and are not re-created')
    for (const m of seeded.members) identity.upsert(m)
    identity.advance(clock.now())
    let layout: Layout = seeded.layout
    let zoneIds = new Set(layout.zones.map((z) => z.id))
    let placedIds = new Set(layout.anchors.map((a) => a.id))

    const hub: { current: MemberHub | null } = { current: null }
    metrics = new Metrics({ outboxBacklog: () => store.outboxBacklog, wsConnections: () => hub.current?.connections ?? 0 })
    const m = metrics
    stopping.push(() => m.stop())
    const bus = new EventBus<GatewayEvents>((event, err) => log.error({ err, event }, 'event handler failed'))

    // ---- devices
    const devices = new DeviceRegistry()
    for (const d of await loadDevices(store)) devices.restore(d)

    // ---- presence
    let presenceNote = ''
    let presenceRef: Presence | null = null
    const calibration = new CalibrationService({
      store, clock, log,
      vectors: () => presenceRef!,
      keyOf: (s) => identity.keyOf(s),
      zones: () => zoneIds,
      k: config.presence.knn,
      bandwidth: config.presence.fingerprintBandwidth,
      onModel: (model) => {
        if (config.presence.locator !== 'fingerprint' || !presenceRef) return
        presenceRef.setLocator(makeLocator('fingerprint', config.presence, model))
        presenceNote = `fingerprint locator (${model.zones.length} zones, ${model.samples.length} fingerprints), ${config.presence.smoothing.kind} smoothing`
        log.info({ presence: presenceNote }, 'presence locator updated')
      },
    })
    const model = await calibration.init(config.presence.calibrationFile)
    const built = buildPresence(config.presence, layout, (e) => bus.emit('zone', e), model)
    const presence = built.engine
    presenceRef = presence
    presenceNote = built.note
    log.info({ presence: presenceNote }, 'presence')

    // ---- offers
    const codec = new CouponCodec({ id: config.coupon.keyId, key: Buffer.from(config.coupon.key ?? secrets.couponKey, 'hex') })
    const stock = new StockBook()
    stock.restore((await store.all<{ sku: string; level: number | null; price: number | null; updated_at: number }>('SELECT * FROM stock')).map((r) => ({ sku: r.sku, level: r.level, price: r.price, updatedAt: r.updated_at })))
    const memberStats = new MemberStats()
    const offers = new OfferEngine(clock, { timezone: config.store.timezone, ...config.offers }, codec, () => `o-${randomBytes(9).toString('base64url')}`, stock, seeded.campaigns)
    const weekAgo = clock.now() - 8 * 86_400_000
    offers.restore([
      ...(await offersSince(store, weekAgo)).map((r) => ({ memberId: r.member_id, campaignId: r.campaign_id, issuedAt: r.issued_at, value: r.value ?? 0 })),
      ...(await store.all<{ member_id: string; campaign_id: string; ts: number }>('SELECT member_id, campaign_id, ts FROM exposures WHERE holdout = 1 AND ts >= ?', [weekAgo])).map((r) => ({ memberId: r.member_id, campaignId: r.campaign_id, issuedAt: r.ts, value: 0, holdout: true })),
    ])

    // ---- recommender
    const registry = new ModelRegistry([join(config.dataDir, 'models'), config.recommender.modelDir ?? join(packageRoot(), 'models')], log, () => clock.now())
    stopping.push(() => registry.close())
    const ranker = new Ranker(registry, (reason) => m.recommenderFallbacks.inc([reason]))
    if (config.recommender.enabled) {
      const r = await registry.activate(config.recommender.model ?? undefined)
      if (!r.ok) log.warn({ error: r.error }, 'no recommender model: offers are ranked by campaign rule priority')
    }

    // ---- MQTT
    const statusTopic = topics.gatewayStatus(prefix)
    const statusPayload = (online: boolean) => JSON.stringify({ online, version: ver, ts: clock.now() } satisfies GatewayStatus)
    const will = { topic: statusTopic, payload: statusPayload(false), qos: 1 as const, retain: true }
    const mqtt: MqttPort = o.mqtt ?? (config.mqtt.url
      ? new ExternalBroker({ url: config.mqtt.url, clientId: config.mqtt.clientId ?? `aisle-edge-${storeId}`, username: config.mqtt.username, password: config.mqtt.password, will, birth: { ...will, payload: statusPayload(true) }, log })
      : new EmbeddedBroker({ host: config.mqtt.embedded.host, port: config.mqtt.embedded.port, reservedPrefixes: [`${prefix}/gateway/`, `${prefix}/events/`], will, log }))
    if (!o.mqtt) {
      await mqtt.start()
      stopping.push(() => mqtt.stop())
    }
    const publish = (topic: string, payload: unknown, qos: 0 | 1 = 0, retain = false) => {
      mqtt.publish(topic, JSON.stringify(payload), { qos, retain }).catch((err) => log.debug({ err: (err as Error).message, topic }, 'publish failed'))
    }

    // ---- delivery
    const memberTokens = await MemberTokenVerifier.create({ ...config.member.jwt, secret: jwtSecret })
    // call for service (created right below; the hub's callbacks only run once the gateway is up)
    let assist: AssistService | null = null
    const memberHub = new MemberHub({
      store, storeId, clock, log, queueMax: config.member.offlineQueueMax,
      onDelivered: () => m.offersDelivered.inc(),
      onAssist: (memberId, zone, action) => (assist ? assist.appCall(memberId, zone, action) : 'assist-unavailable'),
      onConnect: (memberId) => { const f = assist?.statusFor(memberId); return f ? [f] : [] },
      onRanging: (memberId, beacons, ts) => {
        const member = identity.member(memberId)
        if (!member?.consentLocation) return 'no-location-consent'
        const subject = identity.pseudonym(memberId)
        const at = ts !== undefined && Math.abs(ts - clock.now()) <= config.ingest.clockSkewSeconds * 1000 ? ts : clock.now()
        for (const b of beacons) presence.observe({ subject, anchor: b.id, rssi: b.rssi, ts: at })
        return null
      },
    })
    hub.current = memberHub
    const assistService = new AssistService({
      config: config.assist, layout, store, storeId, timeZone: config.store.timezone, clock, log, metrics: m,
      publishAlert: (band, alert) => publish(topics.bandAlert(prefix, band), alert, 1),
      sendToMember: (memberId, frame) => memberHub.send(memberId, frame),
      pseudonym: (memberId) => identity.pseudonym(memberId),
      memberZone: (memberId) => (identity.member(memberId)?.consentLocation ? presence.zoneOf(identity.pseudonym(memberId)) : null),
      newId: () => `as-${randomBytes(6).toString('base64url')}`,
    })
    await assistService.init()
    assist = assistService
    bus.on('button', ({ button, action, ts }) => assistService.button(button, action, ts))
    bus.on('bandStatus', ({ band, msg, ts }) => assistService.bandStatus(band, msg, ts))
    bus.on('bandAck', ({ band, msg, ts }) => assistService.bandAck(band, msg.alertId, msg.action, ts))

    // ---- wiring: ingest -> presence -> identity -> decide -> deliver
    let deadSeq = 0
    const runId = randomBytes(4).toString('hex')
    bus.on('deadLetter', (d) => {
      store.write(deadLetterOps(d, storeId, `${runId}:${deadSeq++}`)).catch(() => {})
    })
    bus.on('readings', ({ source, device, readings }) => {
      if (source === 'ranging') {
        // a mobile subject heard fixed beacons
        const subject = identity.keyOf(device, readings[0]!.ts)
        for (let i = 0; i < readings.length; i++) presence.observeRaw(subject, readings[i]!.id, readings[i]!.rssi, readings[i]!.ts)
        return
      }
      // a fixed scanner heard mobile subjects
      const slot = presence.anchorSlot(device)
      if (slot < 0) return // a scanner not placed in the layout: seen in /devices, not located
      for (let i = 0; i < readings.length; i++) {
        const r = readings[i]!
        presence.observeAt(identity.keyOf(r.id, r.ts), slot, r.rssi, r.ts)
      }
      if (calibration.recording) calibration.tick(readings[readings.length - 1]!.ts)
    })
    bus.on('dwellReport', ({ sensor, msg, ts }) => {
      const subject = msg.subject !== undefined ? identity.keyOf(msg.subject) : `anon:${sensor}`
      const seconds = msg.seconds ?? 0
      bus.emit('zone', { subject, zone: msg.zone, state: msg.state, seconds, ts, since: ts - seconds * 1000 })
    })

    /** visits that reached their dwell threshold, with the time they did */
    const dwelled = new Map<string, number>()
    bus.on('zone', (e) => {
      m.dwellEvents.inc([e.state])
      assistService.zoneEvent(e, e.subject.startsWith('pm:') ? identity.memberOfKey(e.subject) : undefined)
      publish(topics.dwellEvents(prefix), { subject: e.subject, zone: e.zone, state: e.state, seconds: Math.round(e.seconds * 10) / 10, ts: e.ts } satisfies DwellEvent)
      const visit = `${e.subject}|${e.zone}|${e.since}`
      if (e.state === 'dwell') {
        dwelled.set(visit, e.ts)
        decide(e.subject, { kind: 'dwell', zone: e.zone, seconds: e.seconds })
      } else if (e.state === 'enter') {
        decide(e.subject, { kind: 'enter', zone: e.zone })
      } else if (e.state === 'exit' && dwelled.has(visit)) {
        const dwellAt = dwelled.get(visit)!
        dwelled.delete(visit)
        const memberId = identity.memberOfKey(e.subject)
        const member = memberId === undefined ? undefined : identity.member(memberId)
        const userId = member?.consentLocation ? member.memberId : undefined
        store.write(dwellSessionOps(e, dwellAt, e.subject.startsWith('anon:') ? `sensor:${e.subject.slice(5)}` : 'presence', userId, storeId)).catch(() => {})
      }
    })

    const redemptions: Redemptions = new Redemptions({
      store, storeId, clock, log, codec, stock, stats: memberStats,
      campaignSkus: (id) => offers.campaign(id)?.offer.skus ?? [],
      onRedeemed: (o) => {
        m.offersRedeemed.inc({ campaign: o.campaignId })
        decider.redeemed(o.memberId, o.campaignId)
        log.info({ offerId: o.offerId, campaign: o.campaignId }, 'offer redeemed')
      },
      onRefused: (reason) => m.couponRefusals.inc([reason]),
      onMemberReceipt: (memberId, skus) => { void decider.decide({ kind: 'receipt', skus }, memberId) },
    })
    await redemptions.init()
    m.figures = () => campaignFigures(store)
    const issued = (offer: IssuedOffer) => {
      redemptions.issued(offer)
      m.offersIssued.inc([offer.campaignId])
      log.info({ offerId: offer.offerId, campaign: offer.campaignId, zone: offer.zone }, 'offer issued')
      bus.emit('offerIssued', offer)
      memberHub.deliver(offer)
      publish(topics.offerEvents(prefix), { offerId: offer.offerId, campaignId: offer.campaignId, zone: offer.zone, ts: offer.issuedAt } satisfies OfferEvent)
    }
    const decider: OfferDecider = new OfferDecider({
      store, storeId, clock, log, identity, engine: offers, stats: memberStats, ranker: config.recommender.enabled ? ranker : null, timeZone: config.store.timezone,
      zoneKind: (z) => layout.zones.find((x) => x.id === z)?.kind,
      onIssued: issued,
      onDecision: (d) => { for (const c of d.considered) m.decisions.inc([c.outcome]) },
    })
    decider.onExposure = (e) => redemptions.track(e)
    await decider.init()
    function decide(subject: string, t: TriggerEvent): void {
      const memberId = identity.memberOfKey(subject)
      if (memberId === undefined) return
      void decider.decide(t, memberId)
    }

    // receipts, coupons, stock, and handheld scanners (a member card scanned first makes product scans that member's)
    bus.on('receipt', ({ lane, msg, ts }) => {
      redemptions.receipt(lane, msg, ts).catch((err) => log.error({ err, receipt: msg.receiptId }, 'receipt not stored'))
    })
    bus.on('stock', ({ items, ts }) => {
      store.write(stockOps(stock.set(items, ts))).catch((err) => log.error({ err }, 'stock not stored'))
    })
    const scanSessions = new Map<string, { memberId: string; until: number }>()
    bus.on('scan', ({ scanner, msg, ts }) => {
      if (msg.kind === 'coupon') {
        void redemptions.scan(scanner, msg.code, ts).catch((err) => log.error({ err }, 'coupon scan not stored'))
        return
      }
      if (msg.kind === 'member') {
        if (identity.member(msg.code)) scanSessions.set(scanner, { memberId: msg.code, until: ts + config.offers.scanSessionMinutes * 60_000 })
        return
      }
      if (msg.kind === 'call') { assistService.scanCall(scanner, msg.code, ts); return }
      const session = scanSessions.get(scanner)
      if (!session || session.until < ts) { scanSessions.delete(scanner); return }
      void decider.decide({ kind: 'scan', sku: msg.code }, session.memberId)
    })

    const ingest = new Ingest({
      prefix, maxPayloadBytes: config.ingest.maxPayloadBytes, clockSkewMs: config.ingest.clockSkewSeconds * 1000, clock,
      emit: (k, p) => bus.emit(k, p as GatewayEvents[typeof k]), messages: m.messages, deadLetters: m.deadLetters, devices,
      knownZone: (z) => zoneIds.has(z),
      onInternalError: (err, topic) => log.error({ err, topic }, 'ingest failed on a message'),
    })
    const unsubscribe = await mqtt.subscribe(inboundSubscriptions(prefix), (topic, payload) => ingest.handle(topic, payload))
    if (o.mqtt) stopping.push(() => unsubscribe())
    publish(statusTopic, JSON.parse(statusPayload(true)), 1, true)

    // ---- timers
    const tickOnce = () => {
      const now = clock.now()
      identity.advance(now)
      presence.tick(now)
      calibration.tick(now)
      assistService.tick(now)
    }
    const tick = setInterval(tickOnce, config.presence.tickMs)
    let lastPrune = 0
    const housekeeping = setInterval(() => {
      const dirty = devices.takeDirty()
      if (dirty.length) store.write(deviceUpsertOps(dirty)).catch(() => {})
      if (deadSeq - lastPrune >= Math.max(100, config.ingest.deadLetterMax / 10)) {
        lastPrune = deadSeq
        store.write([pruneDeadLettersOp(config.ingest.deadLetterMax)]).catch(() => {})
      }
    }, 5000)
    stopping.push(() => { clearInterval(tick); clearInterval(housekeeping) })
    stopping.push(async () => {
      const dirty = devices.takeDirty()
      if (dirty.length) await store.write(deviceUpsertOps(dirty)).catch(() => {})
      await store.write([pruneDeadLettersOp(config.ingest.deadLetterMax)]).catch(() => {})
    })

    // ---- admin tokens
    const adminTokens = new Map(config.admin.tokens.map((t) => [t.sha256, { name: t.name, role: t.role }]))
    if (o.envAdminToken) adminTokens.set(sha256Hex(o.envAdminToken), { name: 'AISLE_ADMIN_TOKEN', role: 'admin' })
    if (o.demo) adminTokens.set(sha256Hex(secrets.demoAdminToken), { name: 'demo', role: 'admin' })

    const memberToken = (memberId: string, ttlSeconds = 12 * 3600): Promise<string> => {
      if (config.member.jwt.alg !== 'HS256') return Promise.reject(new Error('member tokens can only be minted with HS256'))
      const now = Math.floor(clock.now() / 1000)
      let jwt = new SignJWT({}).setProtectedHeader({ alg: 'HS256' }).setSubject(memberId).setIssuedAt(now).setExpirationTime(now + ttlSeconds)
      if (config.member.jwt.issuer) jwt = jwt.setIssuer(config.member.jwt.issuer)
      if (config.member.jwt.audience) jwt = jwt.setAudience(config.member.jwt.audience)
      return jwt.sign(new TextEncoder().encode(jwtSecret))
    }

    // ---- HTTP
    const services: GatewayServices = {
      version: ver, storeId, clock, log, metrics: m, hub: memberHub, memberTokens, adminTokens, calibration,
      figures: (id) => campaignFigures(store, id),
      assist: assistService,
      stock: {
        list: () => stock.list().map((x) => ({ sku: x.sku, level: x.level, price: x.price, updatedAt: new Date(x.updatedAt).toISOString() })),
        set: async (items) => { await store.writeNow(stockOps(stock.set(items, clock.now()))) },
      },
      models: {
        state: () => registry.state(),
        activate: (name) => registry.activate(name),
        rollback: async () => registry.rollback(),
        upload: (name, bytes, sha) => registry.upload(join(config.dataDir, 'models'), name, bytes, sha),
      },
      decisions: async (q) => {
        const where: string[] = []
        const params: (string | number)[] = []
        if (q.member) { where.push('member_id = ?'); params.push(q.member) }
        if (q.campaign) { where.push('(campaign_id = ? OR instr(considered, ?) > 0)'); params.push(q.campaign, `"campaignId":"${q.campaign}"`) }
        const rows = await store.all<{ id: number; ts: number; member_id: string; zone: string | null; trigger_kind: string; offer_id: string | null; campaign_id: string | null; model_version: string | null; fallback: string | null; considered: string }>(
          `SELECT * FROM decisions ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, q.limit])
        return rows.map((r) => ({ id: r.id, ts: new Date(r.ts).toISOString(), memberId: r.member_id, zone: r.zone, trigger: r.trigger_kind, offerId: r.offer_id, campaignId: r.campaign_id, modelVersion: r.model_version, fallback: r.fallback, considered: JSON.parse(r.considered) as { campaignId: string; outcome: string; score?: number }[] }))
      },
      ready: () => ({
        broker: { ok: mqtt.isConnected(), detail: `${mqtt.mode} ${mqtt.displayUrl}` },
        database: { ok: store.queue.stats.lastError === null || store.queue.stats.failedUnits === 0, detail: store.queue.stats.lastError ?? `${dbFile} (WAL)` },
        model: { ok: true, detail: !config.recommender.enabled ? 'recommender off: campaign rule priority' : registry.active ? `recommender ${registry.active.version}` : `no recommender model (${registry.state().lastError ?? 'none'}): campaign rule priority` },
        presence: { ok: true, detail: presenceNote },
      }),
      layout: () => layout,
      setLayout: async (l, by) => {
        const problems = layoutProblems(l)
        const zones = new Set(l.zones.map((z) => z.id))
        for (const c of offers.listCampaigns()) for (const p of campaignProblems(c, zones)) problems.push({ path: `(campaign ${c.id}) ${p.path}`, value: p.value, expected: `${p.expected}: retire or change the campaign first` })
        if (problems.length) return problems
        await store.writeNow(layoutOps(l, 'admin', clock.now()))
        layout = l
        zoneIds = zones
        placedIds = new Set(l.anchors.map((a) => a.id))
        presence.setLayout(l)
        assistService.setLayout(l)
        log.info({ by, zones: l.zones.length, anchors: l.anchors.length }, 'layout replaced; presence restarted')
        return null
      },
      presence: () => presence.snapshot(clock.now()).map((p) => ({
        subject: p.subject, zone: p.zone, since: p.since === null ? null : new Date(p.since).toISOString(),
        dwellSeconds: Math.round(p.dwellSeconds * 10) / 10, lastSeen: new Date(p.lastSeen).toISOString(),
      })),
      devices: () => devices.list(clock.now(), (id) => placedIds.has(id)),
      members: {
        list: async () => (await store.all<{ member_id: string; body: string; source: string; updated_at: number }>('SELECT member_id, body, source, updated_at FROM members ORDER BY member_id')).map((r): MemberSummary => {
          const mm = JSON.parse(r.body) as Member
          return { memberId: r.member_id, consent: mm.consent, tier: mm.tier ?? null, source: r.source, updatedAt: new Date(r.updated_at).toISOString() }
        }),
        upsert: async (mm, by) => {
          const existed = identity.member(mm.memberId) !== undefined
          await store.writeNow([...memberUpsertOps(mm, 'admin', clock.now()), { op: 'sql', sql: 'DELETE FROM erased_members WHERE member_hash = ?', params: [identity.memberHash(mm.memberId)] }])
          identity.upsert(mm)
          log.info({ by, memberId: mm.memberId }, existed ? 'member replaced' : 'member created')
          return existed ? 'updated' : 'created'
        },
        erase: async (memberId, by) => {
          const exists = identity.member(memberId) !== undefined || (await store.get('SELECT 1 AS x FROM members WHERE member_id = ?', [memberId])) !== undefined
          if (!exists) return false
          const pseudonym = identity.pseudonym(memberId)
          memberHub.disconnect(memberId)
          presence.forget(pseudonym)
          identity.remove(memberId)
          offers.forgetMember(memberId)
          decider.forgetMember(memberId)
          redemptions.forgetMember(memberId)
          assistService.forgetMember(memberId, pseudonym)
          for (const [k, v] of scanSessions) if (v.memberId === memberId) scanSessions.delete(k)
          await store.writeNow(memberEraseOps(memberId, identity.memberHash(memberId), pseudonym, clock.now()))
          store.outboxBacklog = (await store.get<{ n: number }>('SELECT COUNT(*) AS n FROM outbox WHERE sent_at IS NULL'))?.n ?? 0
          log.info({ by }, 'member erased')
          return true
        },
      },
      campaigns: {
        list: async (includeRetired) => (await loadCampaigns(store, includeRetired)).map((c) => ({ campaign: c.campaign, source: c.source, retiredAt: c.retiredAt === null ? null : new Date(c.retiredAt).toISOString() })),
        upsert: async (c: Campaign, by) => {
          const problems = campaignProblems(c, zoneIds)
          if (problems.length) return { problems }
          const existed = offers.listCampaigns().some((x) => x.id === c.id)
          await store.writeNow(campaignUpsertOps(c, 'admin', clock.now()))
          offers.setCampaign(c)
          log.info({ by, campaign: c.id }, existed ? 'campaign replaced' : 'campaign created')
          return { result: existed ? 'updated' : 'created' }
        },
        retire: async (id, by) => {
          if (!offers.listCampaigns().some((x) => x.id === id)) return false
          await store.writeNow(campaignRetireOps(id, clock.now()))
          offers.removeCampaign(id)
          log.info({ by, campaign: id }, 'campaign retired')
          return true
        },
      },
      deadLetters: async (q) => {
        const where: string[] = []
        const params: (string | number)[] = []
        if (q.reason) { where.push('reason = ?'); params.push(q.reason) }
        if (q.device) { where.push('device = ?'); params.push(q.device) }
        if (q.before) { where.push('id < ?'); params.push(q.before) }
        const rows = await store.all<{ id: number; received_at: number; topic: string; device: string | null; reason: string; detail: string | null; size: number; payload: Buffer }>(
          `SELECT * FROM dead_letters ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT ?`, [...params, q.limit])
        return rows.map((r) => ({
          id: r.id, receivedAt: new Date(r.received_at).toISOString(), topic: r.topic, device: r.device, reason: r.reason, detail: r.detail, size: r.size,
          payload: Buffer.isBuffer(r.payload) && isText(r.payload) ? r.payload.toString('utf8') : Buffer.from(r.payload).toString('base64'),
        }))
      },
      sync: async (): Promise<SyncView> => {
        const rows = await store.all<{ stream: string; n: number; oldest: number | null }>('SELECT stream, COUNT(*) AS n, MIN(ts) AS oldest FROM outbox WHERE sent_at IS NULL GROUP BY stream')
        const oldest = rows.reduce<number | null>((acc, r) => (r.oldest !== null && (acc === null || r.oldest < acc) ? r.oldest : acc), null)
        return {
          backlog: rows.reduce((n, r) => n + r.n, 0),
          oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.round((clock.now() - oldest) / 1000)),
          lastSuccessAt: null,
          lastError: 'CRM sync is not configured on this gateway yet',
          byStream: Object.fromEntries(rows.map((r) => [r.stream, r.n])),
        }
      },
    }
    const http: FastifyInstance = await buildHttp({ host: config.http.host, port: config.http.port, services })
    await http.listen({ host: config.http.host, port: config.http.port })
    stopping.push(() => http.close())
    stopping.push(() => memberHub.closeAll())
    const httpPort = (http.server.address() as AddressInfo).port
    const shownHost = config.http.host === '0.0.0.0' || config.http.host === '::' ? 'localhost' : config.http.host
    const httpUrl = config.http.publicUrl ?? `http://${shownHost}:${httpPort}`

    log.info({ http: httpUrl, mqtt: mqtt.displayUrl, prefix, db: dbFile, members: identity.size, campaigns: offers.listCampaigns().length, zones: layout.zones.length }, 'gateway started')

    let stopped = false
    return {
      config, httpUrl, httpPort, prefix, dbFile, secrets, log, bus,
      mqttUrl: mqtt.displayUrl,
      mqttPort: mqtt instanceof EmbeddedBroker ? mqtt.port : null,
      demoAdminToken: o.demo ? secrets.demoAdminToken : null,
      memberToken,
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

async function runStops(stopping: (() => Promise<void> | void)[], log: Logger): Promise<void> {
  for (const s of stopping.reverse()) {
    try {
      await s()
    } catch (err) {
      log.warn({ err }, 'error while stopping')
    }
  }
}

function isText(b: Buffer): boolean {
  // eslint-disable-next-line no-control-regex
  return !/[\u0000-\u0008\u000e-\u001f]/.test(b.toString('utf8')) && Buffer.from(b.toString('utf8'), 'utf8').equals(b)
}
