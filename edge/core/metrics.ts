/**
 * Prometheus metrics (prom-client) with the names of CONTRACT section 8. Hot paths count into plain
 * integers (`HotCounter`); the values are handed to prom-client when /metrics is scraped, so ingest never
 * pays for label hashing per message.
 */
import { monitorEventLoopDelay, type IntervalHistogram } from 'node:perf_hooks'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'

/** One label combination of a HotCounter: bump `n` directly on hot paths. */
export interface CounterCell { n: number; synced: number; readonly labels: readonly string[] }

/** A labelled counter counted in plain cells and synced into a prom-client Counter at scrape time. */
export class HotCounter<L extends string> {
  private readonly cells = new Map<string, CounterCell>()
  readonly counter: Counter<L>

  constructor(registry: Registry, name: string, help: string, private readonly labelNames: readonly L[]) {
    const cells = this.cells
    const labelsOf = (c: CounterCell) => this.labelsOf(c.labels)
    this.counter = new Counter<L>({
      name, help, labelNames: [...labelNames], registers: [registry],
      collect() {
        for (const c of cells.values()) {
          const delta = c.n - c.synced
          if (delta > 0) {
            this.inc(labelsOf(c), delta)
            c.synced = c.n
          }
        }
      },
    })
  }

  /** The cell for a label combination (values in labelNames order); keep it to count without lookups. */
  cell(values: readonly string[]): CounterCell {
    const key = values.join('\u0000')
    let c = this.cells.get(key)
    if (!c) {
      c = { n: 0, synced: 0, labels: [...values] }
      this.cells.set(key, c)
    }
    return c
  }

  inc(values: readonly string[], by = 1): void {
    this.cell(values).n += by
  }

  get(values: readonly string[]): number {
    return this.cells.get(values.join('\u0000'))?.n ?? 0
  }

  total(): number {
    let n = 0
    for (const c of this.cells.values()) n += c.n
    return n
  }

  private labelsOf(values: readonly string[]): Record<L, string> {
    const labels = {} as Record<L, string>
    this.labelNames.forEach((n, i) => { labels[n] = values[i] ?? '' })
    return labels
  }
}

const ASSIST_BUCKETS = [5, 10, 20, 30, 45, 60, 90, 120, 180, 300, 480, 600, 900]

export class Metrics {
  readonly registry = new Registry()
  readonly messages: HotCounter<'kind' | 'outcome'>
  readonly deadLetters: HotCounter<'reason'>
  readonly dwellEvents: HotCounter<'state'>
  readonly offersIssued: HotCounter<'campaign'>
  readonly offersDelivered: Counter
  readonly offersRedeemed: Counter<'campaign'>
  readonly assistRequests: Counter<'state'>
  readonly assistSeconds: Histogram<'stage'>
  readonly assistZoneSeconds: Histogram<'stage' | 'zone'>
  readonly assistClerkSeconds: Histogram<'stage' | 'clerk'>
  readonly assistAcksIgnored: Counter<'reason'>
  readonly assistEscalations: Counter
  readonly assistUnplaced: Counter<'source'>
  readonly outboxBacklog: Gauge
  readonly eventLoopLag: Gauge
  readonly decisions: HotCounter<'outcome'>
  readonly recommenderFallbacks: HotCounter<'reason'>
  readonly couponRefusals: HotCounter<'reason'>
  readonly mqttRefusals: HotCounter<'reason'>
  /** MQTT clients connected to the embedded broker (set by the gateway) */
  mqttConnections: () => number = () => 0
  mqttSockets: () => number = () => 0
  readonly wsConnections: Gauge
  readonly writeBatches: Histogram
  private readonly loop: IntervalHistogram

  /** campaign figures for the gauges below, provided by the gateway once storage is open */
  /** open requests by state and bands by availability, provided by the gateway */
  assistState: (() => { open: Record<string, number>; bands: Record<string, number> }) | null = null

  figures: (() => Promise<{ campaignId: string; issued: number; delivered: number; seen: number; redeemed: number; redemptionRate: number | null; offered: { rate: number | null }; holdout: { rate: number | null }; uplift: number | null }[]>) | null = null

  constructor(opts: { outboxBacklog: () => number; wsConnections: () => number; defaultMetrics?: boolean }) {
    const r = this.registry
    if (opts.defaultMetrics !== false) collectDefaultMetrics({ register: r, prefix: 'aisle_process_' })
    this.messages = new HotCounter(r, 'aisle_messages_total', 'Inbound MQTT messages by kind and outcome (ok | dead-letter)', ['kind', 'outcome'])
    this.deadLetters = new HotCounter(r, 'aisle_dead_letters_total', 'Messages dead-lettered, by reason', ['reason'])
    this.dwellEvents = new HotCounter(r, 'aisle_dwell_events_total', 'Zone events by state (enter | dwell | exit)', ['state'])
    this.offersIssued = new HotCounter(r, 'aisle_offers_issued_total', 'Offers issued, by campaign', ['campaign'])
    this.decisions = new HotCounter(r, 'aisle_offer_decisions_total', 'Campaigns considered in offer decisions, by outcome', ['outcome'])
    this.couponRefusals = new HotCounter(r, 'aisle_coupon_refusals_total', 'Coupon redemptions refused, by reason (already-redeemed, expired, bad-mac, ...)', ['reason'])
    this.mqttRefusals = new HotCounter(r, 'aisle_mqtt_refusals_total', 'MQTT clients or operations the broker refused, by reason (anonymous, unknown-device, bad-secret, publish-denied, subscribe-denied, too-many-connections-from-address, oversized-packet, ...)', ['reason'])
    this.recommenderFallbacks = new HotCounter(r, 'aisle_recommender_fallbacks_total', 'Decisions ranked by rule priority instead of the model, by reason', ['reason'])
    this.offersDelivered = new Counter({ name: 'aisle_offers_delivered_total', help: 'Offers delivered to a member app', registers: [r] })
    this.offersRedeemed = new Counter({ name: 'aisle_offers_redeemed_total', help: 'Offers redeemed, by campaign', labelNames: ['campaign'], registers: [r] })
    this.assistRequests = new Counter({ name: 'aisle_assist_requests_total', help: 'Call-for-service requests by state', labelNames: ['state'], registers: [r] })
    this.assistSeconds = new Histogram({
      name: 'aisle_assist_seconds', help: 'Call-for-service stage durations (accept | arrive | done)', labelNames: ['stage'], registers: [r],
      buckets: ASSIST_BUCKETS,
    })
    this.assistZoneSeconds = new Histogram({ name: 'aisle_assist_zone_seconds', help: 'Call-for-service stage durations per zone', labelNames: ['stage', 'zone'], registers: [r], buckets: ASSIST_BUCKETS })
    this.assistClerkSeconds = new Histogram({ name: 'aisle_assist_clerk_seconds', help: 'Call-for-service stage durations per clerk', labelNames: ['stage', 'clerk'], registers: [r], buckets: ASSIST_BUCKETS })
    this.assistAcksIgnored = new Counter({ name: 'aisle_assist_acks_ignored_total', help: 'Band acknowledgements that changed nothing, by reason (duplicate, late, taken, busy, closed, unknown-alert, not-yours, not-accepted)', labelNames: ['reason'], registers: [r] })
    this.assistEscalations = new Counter({ name: 'aisle_assist_escalations_total', help: 'Requests escalated to the supervisors', registers: [r] })
    this.assistUnplaced = new Counter({ name: 'aisle_assist_unplaced_calls_total', help: 'calls from a button or shelf code whose place the layout does not know (clerks get the button id)', labelNames: ['source'], registers: [r] })
    const self0 = this
    new Gauge({
      name: 'aisle_assist_open', help: 'Open call-for-service requests by state', labelNames: ['state'], registers: [r],
      collect() { this.reset(); const s = self0.assistState?.(); if (s) for (const [state, n] of Object.entries(s.open)) this.set({ state }, n) },
    })
    new Gauge({
      name: 'aisle_bands', help: 'Clerk bands by status (available, busy, offered, off-shift, offline)', labelNames: ['status'], registers: [r],
      collect() { this.reset(); const s = self0.assistState?.(); if (s) for (const [status, n] of Object.entries(s.bands)) this.set({ status }, n) },
    })
    this.outboxBacklog = new Gauge({
      name: 'aisle_outbox_backlog', help: 'Outbox records not yet synced to the CRM', registers: [r],
      collect() { this.set(opts.outboxBacklog()) },
    })
    this.loop = monitorEventLoopDelay({ resolution: 10 })
    this.loop.enable()
    const loop = this.loop
    this.eventLoopLag = new Gauge({
      name: 'aisle_event_loop_lag_seconds', help: 'Event loop delay, 99th percentile since the previous scrape', registers: [r],
      collect() {
        this.set(loop.count > 0 ? loop.percentile(99) / 1e9 : 0)
        loop.reset()
      },
    })
    const self1 = this
    new Gauge({ name: 'aisle_mqtt_connections', help: 'MQTT clients connected to the embedded broker', registers: [r], collect() { this.set(self1.mqttConnections()) } })
    new Gauge({ name: 'aisle_mqtt_sockets', help: 'Sockets open on the embedded broker, including those that have not sent CONNECT yet', registers: [r], collect() { this.set(self1.mqttSockets()) } })
    this.wsConnections = new Gauge({
      name: 'aisle_member_ws_connections', help: 'Open member app WebSockets', registers: [r],
      collect() { this.set(opts.wsConnections()) },
    })
    // campaign figures, read from storage when scraped
    const self = this
    let pending: ReturnType<NonNullable<Metrics['figures']>> | null = null
    const figures = async () => {
      if (!self.figures) return []
      // the four gauges below are collected together in one scrape: they share one query
      if (!pending) {
        pending = self.figures()
        void pending.finally(() => setTimeout(() => { pending = null }, 0))
      }
      return pending
    }
    new Gauge({
      name: 'aisle_campaign_offers', help: 'Offers of a campaign by stage (issued, delivered, seen, redeemed)', labelNames: ['campaign', 'stage'], registers: [r],
      async collect() {
        this.reset()
        for (const f of await figures()) for (const stage of ['issued', 'delivered', 'seen', 'redeemed'] as const) this.set({ campaign: f.campaignId, stage }, f[stage])
      },
    })
    new Gauge({
      name: 'aisle_campaign_redemption_rate', help: 'Redeemed / issued, per campaign', labelNames: ['campaign'], registers: [r],
      async collect() { this.reset(); for (const f of await figures()) if (f.redemptionRate !== null) this.set({ campaign: f.campaignId }, f.redemptionRate) },
    })
    new Gauge({
      name: 'aisle_campaign_conversion_rate', help: 'Share of exposed members who redeemed or bought the campaign\'s SKUs, offered vs holdout', labelNames: ['campaign', 'group'], registers: [r],
      async collect() {
        this.reset()
        for (const f of await figures()) {
          if (f.offered.rate !== null) this.set({ campaign: f.campaignId, group: 'offered' }, f.offered.rate)
          if (f.holdout.rate !== null) this.set({ campaign: f.campaignId, group: 'holdout' }, f.holdout.rate)
        }
      },
    })
    new Gauge({
      name: 'aisle_campaign_uplift', help: 'Conversion rate of offered minus holdout members, per campaign', labelNames: ['campaign'], registers: [r],
      async collect() { this.reset(); for (const f of await figures()) if (f.uplift !== null) this.set({ campaign: f.campaignId }, f.uplift) },
    })
    this.writeBatches = new Histogram({
      name: 'aisle_storage_commit_seconds', help: 'SQLite write batch commit time', registers: [r],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1],
    })
  }

  stop(): void {
    this.loop.disable()
  }
}
