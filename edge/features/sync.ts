/**
 * CRM sync (CONTRACT 7): the outbox drained to the central CRM (cloud-sync/drainer) over HTTP or MQTT, the ops
 * stream to `crm.opsUrl`, members, campaigns, layout and models pulled back (cloud-sync/inbound), the outbox
 * kept within its disk budget, and GET /v1/admin/sync.
 *
 * The outbox budget: near it (80%) an alarm (metric, /readyz detail, a log line); at it the ops stream drops its
 * oldest records (counted) and the CRM stream refuses new discretionary records (new offers are not made, Zone
 * Dwelled is not recorded), counted by event: Greengrass's "reject new" rather than "overwrite oldest", because
 * what was committed (an offer a member holds, a receipt, a clerk's call) must reach the CRM, and what is
 * refused instead is only what had not happened yet.
 */
import { createHmac } from 'node:crypto'
import { Counter, Gauge } from 'prom-client'
import { Drainer, type DrainControl, type DrainerHooks } from '../../cloud-sync/drainer.js'
import { DrainThread } from '../../cloud-sync/drain-thread.js'
import { SEALED_USER } from '../../cloud-sync/batch.js'
import { Puller, RESOURCES, type InboundPorts, type Resource } from '../../cloud-sync/inbound.js'
import { Outbox, STREAMS, type StreamCounts, type StreamName } from '../../cloud-sync/outbox.js'
import { transportsFor, type TransportSettings } from '../../cloud-sync/transport.js'
import { campaignProblems } from '../contract/resources.js'
import { syncRoutes } from '../http/admin/sync.js'
import type { ReadyCheck, SyncView } from '../http/services.js'
import { FEATURE_VERSION } from '../recommend/features.js'
import { messageId, outboxOp } from '../storage/store.js'
import { join } from 'node:path'
import type { Feature, GatewayContext } from './feature.js'
import type { LayoutFeature } from './layout.js'
import type { MembersFeature } from './members.js'
import type { OffersFeature } from './offers.js'
import type { RecommenderFeature } from './recommender.js'

/** CRM records refused at the budget: what has not happened yet (new offers are not made at all) */
const DISCRETIONARY = new Set(['Zone Dwelled'])
const ALARM_AT = 0.8
/** rows of a stream left unpacked (sent as they are when the CRM answers) */
const PACK_ABOVE = 6000
/** outbox rows the drainer reads at once (a packed block is read whole) */
const DRAIN_READ_ROWS = 2000

export interface SyncDeps { members: MembersFeature; offers: OffersFeature; layout: LayoutFeature; recommender: RecommenderFeature }

export class SyncFeature implements Feature {
  readonly name = 'sync'
  readonly adminRoutes = syncRoutes({ view: () => this.view(), retry: () => { this.drainer?.kick({ retryNow: true }); for (const r of RESOURCES) if (r !== 'models' || this.ctx.config.crm.modelPublicKey) void this.puller?.pull(r) } })
  readonly outbox: Outbox
  readonly drainer: DrainControl | null
  readonly puller: Puller | null
  private counts: Record<StreamName, StreamCounts> | null = null
  private budgetState: 'ok' | 'alarm' | 'full' = 'ok'
  /** erasures in progress (between their hold and their commit): no packing meanwhile */
  private erasing = 0
  private readonly erasingIds = new Map<string, number>()
  /** the largest backlog since the outbox was last empty: a long outage's pages are given back once it drains */
  private peakBacklog = 0
  private readonly overrides: { resource: string; id: string; at: number }[] = []
  private readonly m: { dropped: Counter<'stream'>; refused: Counter<'event'>; delivered: Counter<'stream'>; retried: Counter<'stream' | 'reason'>; parked: Counter<'stream'>; pulls: Counter<'resource' | 'outcome'>; overrides: Counter<'resource'> }
  private readonly budgetBytes: number

  constructor(private readonly ctx: GatewayContext, private readonly d: SyncDeps) {
    const { config, store, clock, log, storeId, metrics } = ctx
    const crm = config.crm
    const pepper = Buffer.from(ctx.secrets.pepper, 'hex')
    this.outbox = new Outbox(store, { subjectHash: (id) => createHmac('sha256', pepper).update(`outbox-subject:${id}`).digest('hex').slice(0, 12) })
    this.budgetBytes = crm.outboxBudgetMB * 1024 * 1024
    const r = metrics.registry
    this.m = {
      delivered: new Counter({ name: 'aisle_outbox_delivered_total', help: 'Outbox records the CRM (or the ops receiver) has acknowledged', labelNames: ['stream'], registers: [r] }),
      retried: new Counter({ name: 'aisle_outbox_retries_total', help: 'Batches that failed and will be retried, by reason', labelNames: ['stream', 'reason'], registers: [r] }),
      parked: new Counter({ name: 'aisle_outbox_parked_total', help: 'Records refused for good (or too large) and parked, so they do not block their stream', labelNames: ['stream'], registers: [r] }),
      dropped: new Counter({ name: 'aisle_outbox_dropped_total', help: 'Undelivered records dropped at the outbox budget (the ops stream only)', labelNames: ['stream'], registers: [r] }),
      refused: new Counter({ name: 'aisle_outbox_refused_total', help: 'New CRM records not made at the outbox budget, by event', labelNames: ['event'], registers: [r] }),
      pulls: new Counter({ name: 'aisle_sync_pulls_total', help: 'Inbound pulls from the CRM by resource and outcome', labelNames: ['resource', 'outcome'], registers: [r] }),
      overrides: new Counter({ name: 'aisle_sync_overrides_total', help: 'Store edits replaced by the CRM\'s version (the CRM owns members and campaigns)', labelNames: ['resource'], registers: [r] }),
    }
    const self = this
    new Gauge({ name: 'aisle_outbox_stream_backlog', help: 'Undelivered outbox records by stream (rows and packed)', labelNames: ['stream'], registers: [r], collect() { for (const s of STREAMS) this.set({ stream: s }, (self.counts?.[s].rows ?? 0) + (self.counts?.[s].packed ?? 0)) } })
    new Gauge({
      name: 'aisle_outbox_oldest_age_seconds', help: 'Age of the oldest undelivered outbox record by stream (0 when none, or on a stand-alone gateway)', labelNames: ['stream'], registers: [r],
      collect() { const now = clock.now(); for (const s of STREAMS) { const t = self.counts?.[s].oldestTs; this.set({ stream: s }, t == null || !self.sendsTo(s) ? 0 : Math.max(0, (now - t) / 1000)) } },
    })
    new Gauge({ name: 'aisle_outbox_bytes', help: 'Disk the undelivered outbox takes (estimated)', registers: [r], collect() { this.set(self.bytes()) } })
    new Gauge({ name: 'aisle_outbox_budget_ratio', help: 'Outbox bytes over crm.outboxBudgetMB (alarm at 0.8, full at 1)', registers: [r], collect() { this.set(self.bytes() / self.budgetBytes) } })

    if (!crm.url) {
      this.drainer = null
      this.puller = null
    } else {
      const timeoutMs = crm.timeoutSeconds * 1000
      const settings: TransportSettings = { url: crm.url, writeKey: crm.writeKey ?? null, opsUrl: crm.opsUrl ?? null, timeoutMs, mqtt: { url: crm.mqtt.url ?? null, username: crm.mqtt.username, password: crm.mqtt.password } }
      if (!crm.writeKey && !crm.mqtt.url) log.warn('crm.url is set without crm.writeKey (AISLE_CRM_WRITE_KEY): the CRM will likely refuse the batches')
      const hooks: DrainerHooks = {
        delivered: (s, n, packed) => { this.m.delivered.inc({ stream: s }, n); this.adjust(s, -n, packed) },
        retried: (s, reason) => this.m.retried.inc({ stream: s, reason: reason.slice(0, 24) }),
        parked: (s, _reason, _r, packed) => { this.m.parked.inc({ stream: s }); this.adjust(s, -1, packed) },
      }
      const maxBackoffMs = crm.maxBackoffSeconds * 1000
      // batches are built and sent on a thread of their own by default, off the loop that makes offers
      this.drainer = crm.drainThread
        ? new DrainThread({ outbox: this.outbox, now: () => clock.now(), hooks, log, data: { settings, storeId, version: ctx.version, storageKey: store.vault.exportKey(), maxBackoffMs, readRows: DRAIN_READ_ROWS } })
        : new Drainer({
          outbox: this.outbox, transports: transportsFor(settings, storeId, () => clock.now()), now: () => clock.now(), maxBackoffMs, log, hooks, readRows: DRAIN_READ_ROWS,
          envelope: { storeId, version: ctx.version, unseal: (sealed) => store.vault.open(sealed) },
        })
      this.puller = new Puller({
        baseUrl: crm.url, storeId, token: crm.storeToken ?? '', modelPublicKey: crm.modelPublicKey ?? null, timeoutMs, store, now: () => clock.now(), log,
        intervalsMs: { members: crm.pull.membersSeconds * 1000, campaigns: crm.pull.campaignsSeconds * 1000, layout: crm.pull.layoutSeconds * 1000, models: crm.pull.modelsSeconds * 1000 },
        ports: this.ports(),
        onPull: (res, outcome) => this.m.pulls.inc({ resource: res, outcome }),
        onOverride: (res, id) => { this.m.overrides.inc({ resource: res }); this.overrides.unshift({ resource: res, id, at: clock.now() }); this.overrides.length = Math.min(this.overrides.length, 20) },
      })
      // an erasure names the member to the CRM once more, to confirm it; its id is sealed at rest
      ctx.bus.on('memberErased', (e) => { this.confirmErasure(e.memberId).catch((err) => log.error({ err: (err as Error).message }, 'Member Erased could not be recorded for the CRM')) })
      // a store edit of what the CRM owns is remembered, so that the CRM's next version replacing it is visible
      ctx.bus.on('campaignChanged', (e) => { if (e.source !== 'crm') this.remember('campaigns', e.campaignId) })
      ctx.bus.on('memberChanged', (e) => { if (e.source !== 'crm') this.remember('members', e.memberId) })
    }
    d.members.onBeforeErase(async (memberId) => {
      // until the erasure commits: nothing is packed, and nothing read before it is sent or parked after it;
      // what is packed already loses the member's records now
      this.erasing++
      this.erasingIds.set(memberId, (this.erasingIds.get(memberId) ?? 0) + 1)
      await this.drainer?.pause()
      await this.outbox.erase([memberId, d.members.identity.pseudonym(memberId)])
    })
    d.members.onAfterErase((memberId) => {
      const n = this.erasingIds.get(memberId)
      if (!n) return // its hold never started
      if (n === 1) this.erasingIds.delete(memberId)
      else this.erasingIds.set(memberId, n - 1)
      this.erasing--
      this.drainer?.resume()
    })
    store.onOutbox = (s) => this.adjust(s as StreamName, 1)
    ctx.bus.on('deviceState', (e) => {
      void store.write([outboxOp({ stream: 'ops', messageId: messageId('device-state', storeId, e.id, e.ts), event: 'Device State Changed', anonymousId: storeId, ts: e.ts, properties: { device: e.id, kind: e.kind, online: e.online, silent: e.silent, reason: e.reason, lastSeen: new Date(e.lastSeen).toISOString() } })]).catch(() => {})
    })
  }

  /** a store edit through the admin API of a member or campaign (the CRM owns both) */
  remember(resource: 'members' | 'campaigns', id: string): void {
    const set = this.puller?.localEdits[resource]
    if (!set) return
    if (set.size >= 10_000) set.delete(set.values().next().value!)
    set.add(id)
  }

  private sendsTo(s: StreamName): boolean { return this.drainer !== null && this.drainer.state[s].transport !== null }

  private bytes(): number { return (this.counts?.crm.bytes ?? 0) + (this.counts?.ops.bytes ?? 0) }

  /** keep the in-memory count current between two recounts */
  private adjust(s: StreamName, n: number, packed = false): void {
    const c = this.counts?.[s]
    if (!c) return
    if (packed) c.packed = Math.max(0, c.packed + n)
    else c.rows = Math.max(0, c.rows + n)
    c.bytes = Math.max(0, c.bytes + n * (packed ? 30 : 330))
    if (n > 0) this.drainer?.kick()
  }

  private ports(): InboundPorts {
    const { members, offers, layout, recommender } = this.d
    const problems = (list: readonly { path: string; expected: string }[]) => (list.length ? list.map((x) => `${x.path} ${x.expected}`).join('; ') : null)
    return {
      upsertMember: async (m) => { await members.upsert(m, 'crm', 'crm') },
      eraseMember: (id) => members.erase(id, 'crm'),
      confirmErasure: (id) => this.confirmErasure(id),
      campaigns: async () => (await offers.listCampaigns(false)).map((c) => c.campaign),
      checkCampaign: (c) => problems(campaignProblems(c, layout.zoneIds)),
      upsertCampaign: async (c) => { const r = await offers.upsertCampaign(c, 'crm', 'crm'); return 'problems' in r && r.problems ? problems(r.problems) : null },
      retireCampaign: async (id) => { await offers.retireCampaign(id, 'crm', 'crm') },
      replaceLayout: async (l) => problems((await layout.replace(l, 'crm', 'crm')) ?? []),
      featureVersion: FEATURE_VERSION,
      modelVersion: (name) => {
        const a = recommender.registry.active
        return a && a.entry.name === name ? (a.entry as { crmVersion?: string }).crmVersion ?? null : null
      },
      installModel: async (e, bytes) => {
        const r = await recommender.registry.upload(join(this.ctx.config.dataDir, 'models'), e.name, bytes, e.sha256, { crmVersion: e.version })
        return r.ok ? null : r.error
      },
    }
  }

  /** `Member Erased`: the CRM learns the erasure is done; the member id is sealed in the outbox row */
  async confirmErasure(memberId: string): Promise<void> {
    const { store, storeId, clock } = this.ctx
    if (!this.ctx.config.crm.url) return
    const now = clock.now()
    const tag = createHmac('sha256', Buffer.from(this.ctx.secrets.pepper, 'hex')).update(`erased:${memberId}`).digest('hex').slice(0, 24)
    await store.write([outboxOp({ stream: 'crm', messageId: messageId('member-erased', storeId, tag, Math.floor(now / 60_000)), event: 'Member Erased', anonymousId: storeId, ts: now, properties: { [SEALED_USER]: store.vault.seal(memberId), storeId } })])
  }

  async start(): Promise<void> {
    this.counts = await this.outbox.counts()
    this.drainer?.start()
    this.puller?.start()
    if (!this.ctx.config.crm.url) this.ctx.log.info('CRM sync off (no crm.url): the gateway runs stand-alone; the outbox keeps what the CRM would get, within its budget')
    else this.ctx.log.info({ crm: this.ctx.config.crm.url, transport: this.ctx.config.crm.mqtt.url ? 'mqtt' : 'http', ops: this.ctx.config.crm.opsUrl ?? 'kept at the edge' }, 'CRM sync on')
  }

  /** set on the store only while the outbox is full: writes pay nothing for it otherwise */
  private readonly gate = (stream: string, event: string, asking?: boolean): boolean => {
    if (stream !== 'crm') return true
    // a new offer is refused before it is decided (the decider asks); a unit already holding one keeps its row
    if (event === 'Offer Issued' ? !asking : !DISCRETIONARY.has(event)) return true
    this.m.refused.inc({ event })
    return false
  }

  async housekeeping(): Promise<void> {
    // pack what waits (an outage), recount, then hold the budget
    for (const s of STREAMS) {
      for (let i = 0; i < 20; i++) {
        const c = this.counts?.[s]
        if (!c || c.rows <= PACK_ABOVE) break
        if ((await this.outbox.pack(s, () => this.erasing > 0)) === 0) break
        c.rows -= this.outbox.blockRows
      }
    }
    const pruned = await this.outbox.pruneParked(10_000)
    if (pruned > 0) this.ctx.log.warn({ pruned }, 'parked outbox records over 10,000: the oldest removed (is the CRM refusing everything?)')
    this.counts = await this.outbox.counts()
    const backlog = STREAMS.reduce((n, s) => n + this.counts![s].rows + this.counts![s].packed, 0)
    // the backlog gauge is kept in memory between writes; each recount sets it right again
    this.ctx.store.outboxBacklog = backlog
    this.peakBacklog = Math.max(this.peakBacklog, backlog)
    if (backlog === 0 && this.peakBacklog >= 20_000) {
      const before = await this.ctx.store.sizeBytes()
      await this.ctx.store.compact()
      this.ctx.log.info({ backlogWas: this.peakBacklog, freedMB: Math.round((before - (await this.ctx.store.sizeBytes())) / 1048576) }, 'outbox drained: its pages given back to the file system')
      this.peakBacklog = 0
    }
    let bytes = this.bytes()
    if (bytes >= this.budgetBytes) {
      const over = bytes - this.budgetBytes * 0.9
      const dropped = await this.outbox.dropOldest('ops', over)
      if (dropped > 0) {
        this.m.dropped.inc({ stream: 'ops' }, dropped)
        this.ctx.log.warn({ dropped, budgetMB: this.ctx.config.crm.outboxBudgetMB }, 'outbox at its budget: the oldest ops records were dropped')
        this.counts = await this.outbox.counts()
        bytes = this.bytes()
      }
    }
    const state = bytes >= this.budgetBytes ? 'full' : bytes >= this.budgetBytes * ALARM_AT ? 'alarm' : 'ok'
    if (state !== this.budgetState) {
      const mb = (bytes / 1048576).toFixed(0)
      if (state === 'full') this.ctx.log.error({ mb, budgetMB: this.ctx.config.crm.outboxBudgetMB }, 'outbox full: no new offers and no Zone Dwelled records until the CRM takes the backlog (receipts, redemptions, calls and erasures are still kept)')
      else if (state === 'alarm') this.ctx.log.warn({ mb, budgetMB: this.ctx.config.crm.outboxBudgetMB }, 'outbox near its budget (80%): is the CRM reachable?')
      else this.ctx.log.info({ mb }, 'outbox back under its budget')
      this.budgetState = state
      this.ctx.store.outboxGate = state === 'full' ? this.gate : null
    }
  }

  ready(): Record<string, ReadyCheck> {
    const pct = Math.round((this.bytes() / this.budgetBytes) * 100)
    const crm = this.ctx.config.crm
    const st = this.drainer?.state.crm
    const detail = !crm.url ? 'stand-alone (no crm.url)'
      : st?.lastError && st.failures > 0 ? `CRM unreachable: ${st.lastError}` : `CRM ${crm.mqtt.url ? 'over MQTT' : crm.url}`
    // a full outbox does not make the gateway unready (it still senses, calls clerks and redeems), it is an alarm
    return { sync: { ok: true, detail: `${detail}; outbox ${pct}% of ${crm.outboxBudgetMB} MB${this.budgetState === 'full' ? ' (FULL: no new offers)' : this.budgetState === 'alarm' ? ' (near the budget)' : ''}` } }
  }

  async stop(): Promise<void> {
    await this.puller?.stop()
    await this.drainer?.stop()
    this.ctx.store.outboxGate = null
    this.ctx.store.onOutbox = null
  }

  async view(): Promise<SyncView> {
    const counts = this.counts ?? await this.outbox.counts()
    const now = this.ctx.clock.now()
    const iso = (t: number | null | undefined) => (t == null ? null : new Date(t).toISOString())
    const parkedCounts = await this.outbox.parkedCounts()
    const streams = Object.fromEntries(STREAMS.map((s) => {
      const c = counts[s]
      const st = this.drainer?.state[s]
      return [s, {
        destination: !st?.transport ? (s === 'ops' ? 'kept at the edge (no crm.opsUrl)' : 'none (stand-alone)') : st.transport,
        backlog: c.rows + c.packed, packed: c.packed, oldestAgeSeconds: c.oldestTs === null ? null : Math.max(0, Math.round((now - c.oldestTs) / 1000)),
        delivered: st?.delivered ?? 0, retried: st?.retried ?? 0, parked: parkedCounts[s] ?? 0,
        lastSuccess: iso(st?.lastSuccess), lastError: st?.lastError ?? null, nextAttempt: iso(st?.retryAt),
      }]
    })) as SyncView['streams']
    const crm = this.drainer?.state.crm
    const oldest = counts.crm.oldestTs
    return {
      mode: !this.ctx.config.crm.url ? 'stand-alone' : this.ctx.config.crm.mqtt.url ? 'mqtt' : 'http',
      backlog: counts.crm.rows + counts.crm.packed + counts.ops.rows + counts.ops.packed,
      oldestAgeSeconds: oldest === null ? null : Math.max(0, Math.round((now - oldest) / 1000)),
      lastSuccess: iso(crm?.lastSuccess),
      lastError: !this.ctx.config.crm.url ? 'CRM sync is off: no crm.url (AISLE_CRM_URL); the gateway runs stand-alone' : crm?.lastError ?? null,
      delivered: (this.drainer?.state.crm.delivered ?? 0) + (this.drainer?.state.ops.delivered ?? 0),
      parked: Object.values(parkedCounts).reduce((a, b) => a + b, 0),
      byStream: { crm: counts.crm.rows + counts.crm.packed, ops: counts.ops.rows + counts.ops.packed },
      streams,
      budget: { bytes: this.bytes(), budgetBytes: this.budgetBytes, state: this.budgetState },
      inbound: Object.fromEntries(RESOURCES.map((r: Resource) => {
        const s = this.puller?.state[r]
        return [r, { lastPull: iso(s?.lastPull), lastApplied: iso(s?.lastApplied), lastError: s ? s.lastError : 'stand-alone', notModified: s?.notModified ?? 0 }]
      })),
      recentlyParked: (await this.outbox.parked(10)).map((p) => ({ stream: p.stream, event: p.event, messageId: p.messageId, reason: p.reason, parkedAt: new Date(p.parkedAt).toISOString() })),
      overrides: this.overrides.map((o) => ({ resource: o.resource, id: o.id, at: new Date(o.at).toISOString() })),
    }
  }
}
