/**
 * Inbound pulls (CONTRACT 7.2): members by cursor pages (with erasures), campaigns, layout and the model
 * manifest, each on its own interval with `If-None-Match`. What fails validation is not applied and what runs
 * stays; a cursor or ETag is stored only after what it names is applied. The gateway's features do the
 * applying through the ports below, exactly as the admin API would.
 */
import { createHash, createPublicKey, verify, type KeyObject } from 'node:crypto'
import { describeProblems, resourceChecks, type Campaign, type Layout, type Member } from '../edge/contract/index.js'
import type { Store } from '../edge/storage/store.js'

export type Resource = 'members' | 'campaigns' | 'layout' | 'models'
export const RESOURCES: readonly Resource[] = ['members', 'campaigns', 'layout', 'models']

export interface ModelEntry { name: string; version: string; sha256: string; featureVersion: string; url: string; signature: string }

export interface InboundPorts {
  upsertMember(m: Member): Promise<void>
  /** applied as DELETE /v1/admin/members/<id>; false: not known here (nothing to erase) */
  eraseMember(memberId: string): Promise<boolean>
  /** confirm to the CRM (`Member Erased`) the erasure of a member this gateway did not know */
  confirmErasure(memberId: string): Promise<void>
  campaigns(): Promise<Campaign[]>
  /** what the edge would refuse in a campaign (unknown zone, say), checked for the whole set before any is applied */
  checkCampaign(c: Campaign): string | null
  upsertCampaign(c: Campaign): Promise<string | null>
  retireCampaign(id: string): Promise<void>
  replaceLayout(l: Layout): Promise<string | null>
  /** the feature version the gateway builds */
  featureVersion: string
  /** the version of the model of that name in use here, if any */
  modelVersion(name: string): string | null
  installModel(e: ModelEntry, bytes: Uint8Array): Promise<string | null>
}

export interface ResourceState { lastPull: number | null; lastApplied: number | null; lastError: string | null; notModified: number; applied: number }

export interface PullerOptions {
  baseUrl: string
  storeId: string
  token: string
  /** Ed25519 public key (PEM); without it models are not pulled */
  modelPublicKey: string | null
  intervalsMs: Record<Resource, number>
  timeoutMs: number
  store: Store
  ports: InboundPorts
  now: () => number
  log: { warn(o: object, msg: string): void; info(o: object, msg: string): void }
  /** one pull's outcome, for metrics */
  onPull?(r: Resource, outcome: 'applied' | 'not-modified' | 'refused' | 'failed'): void
  /** a local edit the CRM's version replaced (the CRM owns members and campaigns) */
  onOverride?(r: Resource, id: string): void
}

const { member: checkMember, campaign: checkCampaign, layout: checkLayout } = resourceChecks

class Refused extends Error {}

const MAX_BODY = 64 * 1024 * 1024
const MAX_PAGES_A_CYCLE = 1000

export class Puller {
  readonly state: Record<Resource, ResourceState>
  private readonly key: KeyObject | null
  private readonly timers = new Set<NodeJS.Timeout>()
  private readonly inFlight = new Map<Resource, Promise<void>>()
  private stopped = false
  /** model versions installed from the CRM, by name (bounded by the manifest's names) */
  private readonly installed = new Map<string, string>()
  /** ids edited at the store (admin API) since the CRM last sent them: their override is logged */
  readonly localEdits: Record<'members' | 'campaigns', Set<string>> = { members: new Set(), campaigns: new Set() }

  constructor(private readonly o: PullerOptions) {
    this.state = Object.fromEntries(RESOURCES.map((r) => [r, { lastPull: null, lastApplied: null, lastError: null, notModified: 0, applied: 0 }])) as Record<Resource, ResourceState>
    let key: KeyObject | null = null
    if (o.modelPublicKey) {
      try { key = createPublicKey(o.modelPublicKey) } catch (err) { this.state.models.lastError = `crm.modelPublicKey is not a public key: ${(err as Error).message}` }
      if (key && key.asymmetricKeyType !== 'ed25519') { this.state.models.lastError = `crm.modelPublicKey is ${key.asymmetricKeyType}, not Ed25519`; key = null }
    } else this.state.models.lastError = 'no crm.modelPublicKey: models are not pulled'
    this.key = key
  }

  start(): void {
    for (const r of RESOURCES) {
      if (r === 'models' && !this.key) continue
      const every = this.o.intervalsMs[r]
      const go = () => {
        if (this.stopped) return
        void this.pull(r).finally(() => {
          if (this.stopped) return
          const t = setTimeout(() => { this.timers.delete(t); go() }, every)
          this.timers.add(t)
        })
      }
      go()
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    for (const t of this.timers) clearTimeout(t)
    this.timers.clear()
    await Promise.all(this.inFlight.values())
  }

  /** One pull of a resource (never throws; at most one at a time per resource). */
  pull(r: Resource): Promise<void> {
    const running = this.inFlight.get(r)
    if (running) return running
    const p = this.pullOnce(r).finally(() => this.inFlight.delete(r))
    this.inFlight.set(r, p)
    return p
  }

  private async pullOnce(r: Resource): Promise<void> {
    const st = this.state[r]
    try {
      const outcome = r === 'members' ? await this.members() : r === 'campaigns' ? await this.campaigns() : r === 'layout' ? await this.layout() : await this.models()
      st.lastPull = this.o.now()
      if (outcome === 'applied') { st.lastApplied = st.lastPull; st.applied++ } else st.notModified++
      st.lastError = null
      this.o.onPull?.(r, outcome)
    } catch (err) {
      st.lastPull = this.o.now()
      const refused = err instanceof Refused
      const msg = (err as Error).message
      if (st.lastError !== msg) this.o.log.warn({ resource: r, error: msg }, refused ? 'CRM sync: pulled resource refused, what runs stays' : 'CRM sync: pull failed')
      st.lastError = msg
      this.o.onPull?.(r, refused ? 'refused' : 'failed')
    }
  }

  // ---------- HTTP ----------

  private async get(path: string, etagKey: string | null): Promise<{ status: 200; etag: string | null; body: unknown } | { status: 304 } | { status: 404 }> {
    const etag = etagKey ? await this.getState(etagKey) : undefined
    const url = new URL(path, this.o.baseUrl.endsWith('/') ? this.o.baseUrl : `${this.o.baseUrl}/`)
    const res = await fetch(url, { headers: { authorization: `Bearer ${this.o.token}`, accept: 'application/json', ...(etag ? { 'if-none-match': etag } : {}) }, signal: AbortSignal.timeout(this.o.timeoutMs) })
      .catch((err: Error & { cause?: { code?: string } }) => { throw new Error(`network: ${err.name === 'TimeoutError' ? 'timeout' : err.cause?.code ?? err.message}`) })
    if (res.status === 304) { await res.body?.cancel(); return { status: 304 } }
    if (res.status === 404) { await res.body?.cancel(); return { status: 404 } }
    if (res.status !== 200) throw new Error(`${url.pathname}: ${res.status} ${(await res.text().catch(() => '')).slice(0, 120)}`.trim())
    const len = Number(res.headers.get('content-length') ?? 0)
    if (len > MAX_BODY) throw new Refused(`${url.pathname}: ${len} bytes, over the ${MAX_BODY / 1048576} MB a pull may take`)
    const text = await res.text()
    let body: unknown
    try { body = JSON.parse(text) } catch { throw new Refused(`${url.pathname}: not JSON`) }
    return { status: 200, etag: res.headers.get('etag'), body }
  }

  private async getState(key: string): Promise<string | undefined> {
    return (await this.o.store.get<{ value: string }>('SELECT value FROM sync_state WHERE key = ?', [key]))?.value
  }

  private async setState(key: string, value: string | null): Promise<void> {
    if (value === null) return
    await this.o.store.writeNow([{ op: 'sql', sql: 'INSERT INTO sync_state (key, value, updated_at) VALUES (?, ?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at', params: [key, value, this.o.now()] }])
  }

  // ---------- resources ----------

  private async members(): Promise<'applied' | 'not-modified'> {
    let applied = false
    for (let page = 0; page < MAX_PAGES_A_CYCLE && !this.stopped; page++) {
      const cursor = await this.getState('members.cursor')
      const res = await this.get(`v1/stores/${encodeURIComponent(this.o.storeId)}/members${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`, 'members.etag')
      if (res.status === 304) break
      if (res.status === 404) throw new Error('members: 404 (the CRM does not know this store)')
      const b = res.body as { members?: unknown; erasures?: unknown; cursor?: unknown; more?: unknown }
      if (!Array.isArray(b.members) || !Array.isArray(b.erasures) || typeof b.cursor !== 'string' || typeof b.more !== 'boolean') throw new Refused('members page: expected {members: [], erasures: [], cursor: string, more: bool}')
      // the whole page is checked before any of it is applied
      const members: Member[] = []
      for (const [i, m] of b.members.entries()) {
        if (!checkMember.check(m)) throw new Refused(`members page: member ${i} (${String((m as { memberId?: unknown })?.memberId ?? '?').slice(0, 64)}): ${describeProblems(checkMember.problems(m))}`)
        members.push(m)
      }
      const erasures = b.erasures.filter((x): x is string => typeof x === 'string' && x.length > 0 && x.length <= 128)
      if (erasures.length !== b.erasures.length) throw new Refused('members page: an erasure that is not a member id')
      for (const m of members) {
        if (this.localEdits.members.delete(m.memberId)) { this.o.onOverride?.('members', m.memberId); this.o.log.info({ memberId: m.memberId }, 'CRM sync: a member edited at the store was replaced by the CRM\'s version (the CRM owns members)') }
        await this.o.ports.upsertMember(m)
      }
      for (const id of erasures) {
        // an erasure here confirms itself (memberErased); one of a member never seen here is confirmed all the same
        if (!(await this.o.ports.eraseMember(id))) await this.o.ports.confirmErasure(id)
      }
      await this.setState('members.cursor', b.cursor)
      if (!b.more) await this.setState('members.etag', res.etag)
      if (members.length || erasures.length) applied = true
      if (!b.more) break
    }
    return applied ? 'applied' : 'not-modified'
  }

  private async campaigns(): Promise<'applied' | 'not-modified'> {
    const res = await this.get(`v1/stores/${encodeURIComponent(this.o.storeId)}/campaigns`, 'campaigns.etag')
    if (res.status === 304) return 'not-modified'
    if (res.status === 404) throw new Error('campaigns: 404 (the CRM does not know this store)')
    const b = res.body as { campaigns?: unknown }
    if (!Array.isArray(b.campaigns)) throw new Refused('campaigns: expected {campaigns: []}')
    const list: Campaign[] = []
    for (const [i, c] of b.campaigns.entries()) {
      if (!checkCampaign.check(c)) throw new Refused(`campaign ${i} (${String((c as { id?: unknown })?.id ?? '?').slice(0, 64)}): ${describeProblems(checkCampaign.problems(c))}`)
      list.push(c)
    }
    const ids = new Set(list.map((c) => c.id))
    if (ids.size !== list.length) throw new Refused('campaigns: the same id twice')
    const refused = list.map((c) => [c.id, this.o.ports.checkCampaign(c)] as const).filter(([, p]) => p !== null)
    if (refused.length) throw new Refused(`campaigns not applied (none of the set): ${refused.slice(0, 3).map(([id, p]) => `${id}: ${p}`).join('; ')}${refused.length > 3 ? ` (+${refused.length - 3})` : ''}`)
    const current = new Map((await this.o.ports.campaigns()).map((c) => [c.id, c]))
    const problems: string[] = []
    for (const c of list) {
      const was = current.get(c.id)
      if (was && JSON.stringify(was) === JSON.stringify(c)) continue
      if (this.localEdits.campaigns.delete(c.id)) { this.o.onOverride?.('campaigns', c.id); this.o.log.info({ campaign: c.id }, 'CRM sync: a campaign edited at the store was replaced by the CRM\'s version (the CRM owns campaigns)') }
      const p = await this.o.ports.upsertCampaign(c)
      if (p) problems.push(`${c.id}: ${p}`)
    }
    for (const id of current.keys()) {
      if (ids.has(id)) continue
      if (this.localEdits.campaigns.delete(id)) { this.o.onOverride?.('campaigns', id); this.o.log.info({ campaign: id }, 'CRM sync: a campaign created at the store is not in the CRM\'s set: retired (the CRM owns campaigns)') }
      await this.o.ports.retireCampaign(id)
    }
    if (problems.length) {
      // the valid ones are applied; the ETag is not kept, so the set is asked for again
      throw new Refused(`campaigns not applied: ${problems.slice(0, 3).join('; ')}${problems.length > 3 ? ` (+${problems.length - 3})` : ''}`)
    }
    await this.setState('campaigns.etag', res.etag)
    return 'applied'
  }

  private async layout(): Promise<'applied' | 'not-modified'> {
    const res = await this.get(`v1/stores/${encodeURIComponent(this.o.storeId)}/layout`, 'layout.etag')
    if (res.status === 304 || res.status === 404) return 'not-modified' // 404: the layout is managed at the store
    if (!checkLayout.check(res.body)) throw new Refused(`layout: ${describeProblems(checkLayout.problems(res.body))}`)
    const p = await this.o.ports.replaceLayout(res.body)
    if (p) throw new Refused(`layout: ${p}`)
    await this.setState('layout.etag', res.etag)
    return 'applied'
  }

  private async models(): Promise<'applied' | 'not-modified'> {
    const res = await this.get('v1/models/manifest', 'models.etag')
    if (res.status === 304 || res.status === 404) return 'not-modified'
    const b = res.body as { models?: unknown }
    if (!Array.isArray(b.models)) throw new Refused('model manifest: expected {models: []}')
    let applied = false
    const problems: string[] = []
    for (const e of b.models as ModelEntry[]) {
      const name = String(e?.name ?? '?').slice(0, 64)
      if (typeof e?.name !== 'string' || typeof e.version !== 'string' || typeof e.sha256 !== 'string' || typeof e.featureVersion !== 'string' || typeof e.url !== 'string' || typeof e.signature !== 'string') { problems.push(`${name}: entry incomplete`); continue }
      if (this.o.ports.modelVersion(e.name) === e.version || this.installed.get(e.name) === e.version) continue
      const problem = await this.fetchModel(e)
      if (problem) problems.push(`${e.name} ${e.version}: ${problem}`)
      else { applied = true; this.installed.set(e.name, e.version) }
    }
    if (problems.length) throw new Refused(`model not installed, the working model stays: ${problems.join('; ')}`)
    await this.setState('models.etag', res.etag)
    return applied ? 'applied' : 'not-modified'
  }

  /** signature, then SHA-256, then feature version, then the registry's own checks and atomic swap */
  private async fetchModel(e: ModelEntry): Promise<string | null> {
    const text = `${e.name}\n${e.version}\n${e.sha256}\n${e.featureVersion}`
    let good = false
    try { good = verify(null, Buffer.from(text, 'utf8'), this.key!, Buffer.from(e.signature, 'base64')) } catch { good = false }
    if (!good) return 'signature does not verify with crm.modelPublicKey'
    if (e.featureVersion !== this.o.ports.featureVersion) return `trained for features ${e.featureVersion}, the gateway builds ${this.o.ports.featureVersion}`
    const url = new URL(e.url, this.o.baseUrl.endsWith('/') ? this.o.baseUrl : `${this.o.baseUrl}/`)
    const res = await fetch(url, { headers: { authorization: `Bearer ${this.o.token}` }, signal: AbortSignal.timeout(this.o.timeoutMs) })
    if (res.status !== 200) return `download ${url.pathname}: ${res.status}`
    const bytes = new Uint8Array(await res.arrayBuffer())
    const digest = createHash('sha256').update(bytes).digest('hex')
    if (digest !== e.sha256.toLowerCase()) return `SHA-256 ${digest.slice(0, 12)}... is not the signed ${e.sha256.slice(0, 12)}...`
    return this.o.ports.installModel(e, bytes)
  }
}
