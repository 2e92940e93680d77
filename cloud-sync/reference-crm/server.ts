/**
 * A reference central CRM (CONTRACT.md section 7): a development and test aid, not a product.
 *
 * - `POST /v1/batch` (Segment-compatible, strict: the CRM events of 7.1 only) and `POST /v1/ops/batch`
 *   (same format, any event name: where `crm.opsUrl` points). Basic auth, user = write key, empty password.
 * - The pulls of 7.2 (members change feed, campaigns, layout, signed model manifest), Bearer store token,
 *   strong ETags and `If-None-Match` -> 304.
 * - Fault knobs (`faults`) and data setters, in process and over HTTP under `/_admin/...` (Bearer store token).
 *
 * Everything lives in one SQLite file (`:memory:` by default) through the gateway's `Db` wrapper. Every
 * database access runs through one queue, so a batch's transaction never interleaves with anything else.
 * Stats are in memory only.
 */
import { createHash, createPublicKey, generateKeyPairSync, sign, timingSafeEqual, type KeyObject } from 'node:crypto'
import type { AddressInfo } from 'node:net'
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import Type from 'typebox'
import { Db, type Param } from '../../edge/storage/db.js'
import { campaignProblems, layoutProblems, resourceChecks, type Campaign, type Layout, type Member } from '../../edge/contract/resources.js'
import { compile, describeProblems } from '../../edge/contract/validate.js'
import { isMacLike, reMember, reStore } from '../../edge/contract/ids.js'

export interface ReferenceCrmOptions {
  host?: string
  port?: number
  dbFile?: string
  /** Basic auth user name on the batch POSTs (empty password), as Segment */
  writeKey: string
  /** Bearer token for the inbound GETs and /_admin */
  storeToken: string
  /** Ed25519 private key for model manifests; generated when absent */
  signingKey?: KeyObject
  /** members per page, default 500 */
  pageSize?: number
  logger?: boolean
}

export interface Faults {
  /** answer 503 to the next N batch POSTs */
  unavailable?: number
  /** answer 429 + Retry-After to the next N batch POSTs */
  tooMany?: { count: number; retryAfterSeconds: number }
  /** delay the answer of every batch that gets past the refusing faults (down, unavailable, tooMany, refuseMessageIds) */
  slowMs?: number
  /** for the next N batch POSTs: read the body, store it, then destroy the socket without answering */
  dropAfterBody?: number
  /** a batch holding any of these messageIds is answered 400 {error, messageIds} and nothing of it is stored */
  refuseMessageIds?: string[]
  /** every request except /_admin is answered 503 until cleared */
  down?: boolean
}

export type Stream = 'crm' | 'ops'

export interface ReceivedEvent {
  messageId: string
  type: string
  event: string
  userId: string | null
  anonymousId: string | null
  properties: Record<string, unknown>
  timestamp: string
  store: string | null
  receivedAt: number
  seq: number
  /** 'crm' from /v1/batch, 'ops' from /v1/ops/batch */
  stream: Stream
  context: Record<string, unknown>
}

export interface EventFilter { event?: string; store?: string; stream?: Stream; after?: number; limit?: number }

export interface ReferenceCrmStats {
  /** batch POSTs received (both streams, whatever the answer) */
  batches: number
  /** events stored (new messageIds) */
  accepted: number
  /** events of accepted batches whose messageId was already stored */
  duplicates: number
  /** batches answered 400 */
  refused: number
  /** pulls answered 304 */
  notModified: number
  /** answers to batch POSTs by status code; 'dropped' for dropAfterBody */
  byStatus: Record<string, number>
}

export interface ReferenceCrm {
  readonly url: string
  readonly publicKeyPem: string
  faults: Faults
  readonly stats: ReferenceCrmStats
  events(filter?: EventFilter): Promise<ReceivedEvent[]>
  count(): Promise<number>
  upsertMember(storeId: string, member: Member): Promise<void>
  /** every member id the CRM has had for the store, erased ones included */
  memberIds(storeId: string): Promise<string[]>
  eraseMember(storeId: string, memberId: string): Promise<void>
  putCampaign(storeId: string, c: Campaign): Promise<void>
  retireCampaign(storeId: string, id: string): Promise<void>
  setLayout(storeId: string, layout: Layout | null): Promise<void>
  publishModel(m: { name: string; version: string; featureVersion: string; bytes: Uint8Array }, opts?: { badSignature?: boolean; wrongSha?: boolean }): Promise<void>
  close(): Promise<void>
}

export const CRM_EVENTS: readonly string[] = ['Zone Dwelled', 'Offer Issued', 'Offer Delivered', 'Offer Redeemed', 'Assist Requested', 'Assist Completed', 'Receipt Recorded', 'Member Erased']
// the limits of CONTRACT 7.1, one definition for both sides
import { MAX_BATCH_BYTES, MAX_EVENT_BYTES } from '../batch.js'
export { MAX_BATCH_BYTES, MAX_EVENT_BYTES }

const SCHEMA = `
CREATE TABLE IF NOT EXISTS events (seq INTEGER PRIMARY KEY AUTOINCREMENT, stream TEXT NOT NULL, message_id TEXT NOT NULL,
  type TEXT NOT NULL, event TEXT NOT NULL, user_id TEXT, anonymous_id TEXT, properties TEXT NOT NULL, timestamp TEXT NOT NULL,
  store TEXT, context TEXT NOT NULL, received_at INTEGER NOT NULL, UNIQUE (stream, message_id));
CREATE TABLE IF NOT EXISTS members (store TEXT NOT NULL, member_id TEXT NOT NULL, body TEXT, seq INTEGER NOT NULL, PRIMARY KEY (store, member_id));
CREATE INDEX IF NOT EXISTS members_feed ON members (store, seq);
CREATE TABLE IF NOT EXISTS store_seq (store TEXT PRIMARY KEY, seq INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS campaigns (store TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (store, id));
CREATE TABLE IF NOT EXISTS layouts (store TEXT PRIMARY KEY, body TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS models (n INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, version TEXT NOT NULL, sha256 TEXT NOT NULL,
  feature_version TEXT NOT NULL, signature TEXT NOT NULL, bytes BLOB NOT NULL, UNIQUE (name, version));
`

const { member: memberCheck, campaign: campaignCheck, layout: layoutCheck } = resourceChecks
const faultsCheck = compile<Faults>(Type.Object({
  unavailable: Type.Optional(Type.Integer({ minimum: 0 })),
  tooMany: Type.Optional(Type.Object({ count: Type.Integer({ minimum: 0 }), retryAfterSeconds: Type.Integer({ minimum: 0 }) }, { additionalProperties: false })),
  slowMs: Type.Optional(Type.Number({ minimum: 0, maximum: 600_000 })),
  dropAfterBody: Type.Optional(Type.Integer({ minimum: 0 })),
  refuseMessageIds: Type.Optional(Type.Array(Type.String())),
  down: Type.Optional(Type.Boolean()),
}, { additionalProperties: false }))

const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i
/** A MAC in colon or dash form anywhere inside an id (the bare 12-hex form only as the whole id: Eddystone instances are 12 hex). */
const MAC_INSIDE = /(?<![0-9a-f])[0-9a-f]{2}([:-])[0-9a-f]{2}(?:\1[0-9a-f]{2}){4}(?![0-9a-f])/i
const MODEL_PART = /^[A-Za-z0-9_.-]{1,64}$/

type Obj = Record<string, unknown>
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v)
const isIso = (v: unknown): v is string => typeof v === 'string' && ISO_TIME.test(v) && !Number.isNaN(Date.parse(v))
const sha256 = (data: string | Uint8Array): string => createHash('sha256').update(data).digest('hex')
const etagOf = (...parts: (string | number)[]): string => `"${sha256(parts.join('\u0000')).slice(0, 32)}"`
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))

/** Why a batch event is refused (CONTRACT 7.1), or null. */
export function eventProblem(e: unknown, stream: Stream): string | null {
  if (!isObj(e)) return 'an event must be an object'
  if (e['type'] !== 'track') return 'type must be "track"'
  const name = e['event']
  if (typeof name !== 'string' || name.length === 0 || name.length > 200) return 'event must be a name of 1..200 characters'
  if (stream === 'crm' && !CRM_EVENTS.includes(name)) return `event "${name}" is not one of the CRM events (${CRM_EVENTS.join(', ')}); operational records go to the ops stream`
  const present = (['userId', 'anonymousId'] as const).filter((k) => e[k] !== undefined && e[k] !== null)
  if (present.length !== 1) return 'exactly one of userId and anonymousId is required'
  const key = present[0]!
  const id = e[key]
  if (typeof id !== 'string' || id.length === 0) return `${key} must be a non-empty string`
  if (key === 'anonymousId' && (isMacLike(id) || MAC_INSIDE.test(id))) return 'anonymousId looks like a MAC address'
  const mid = e['messageId']
  if (typeof mid !== 'string' || mid.length === 0 || mid.length > 100) return 'messageId must be a string of 1..100 characters'
  if (!isIso(e['timestamp'])) return 'timestamp must be an ISO 8601 time with a zone (e.g. 2024-05-01T10:00:00.000Z)'
  if (!isObj(e['properties'])) return 'properties must be an object'
  const ctx = e['context']
  if (!isObj(ctx) || typeof ctx['store'] !== 'string' || !reStore.test(ctx['store'])) return 'context.store must be a store id'
  const lib = ctx['library']
  if (!isObj(lib) || typeof lib['name'] !== 'string' || typeof lib['version'] !== 'string') return 'context.library.name and context.library.version must be strings'
  if (Buffer.byteLength(JSON.stringify(e)) > MAX_EVENT_BYTES) return `an event is at most ${MAX_EVENT_BYTES} bytes`
  return null
}

/** Bad events of a batch body: the first reason and the messageIds of every bad event. Null when the batch is valid. */
export function batchProblem(body: unknown, stream: Stream): { error: string; messageIds: string[] } | null {
  if (!isObj(body)) return { error: 'the body must be an object {batch, sentAt}', messageIds: [] }
  if (!isIso(body['sentAt'])) return { error: 'sentAt must be an ISO 8601 time with a zone', messageIds: [] }
  const batch = body['batch']
  if (!Array.isArray(batch) || batch.length === 0) return { error: 'batch must be a non-empty array', messageIds: [] }
  let error: string | null = null
  const messageIds: string[] = []
  batch.forEach((e: unknown, i) => {
    const p = eventProblem(e, stream)
    if (p === null) return
    error ??= `batch[${i}]: ${p}`
    if (isObj(e) && typeof e['messageId'] === 'string') messageIds.push(e['messageId'])
  })
  return error === null ? null : { error, messageIds }
}

function checked<T>(what: string, c: { check(v: unknown): v is T; problems(v: unknown): { path: string; keyword: string; message: string }[] }, v: unknown): T {
  if (!c.check(v)) throw new Error(`invalid ${what}: ${describeProblems(c.problems(v))}`)
  return v
}
function storeId(s: string): string {
  if (!reStore.test(s)) throw new Error(`invalid store id ${JSON.stringify(s)}`)
  return s
}
const problemText = (ps: { path: string; expected: string }[]) => ps.map((p) => `${p.path}: expected ${p.expected}`).join('; ')

/** Equality of two strings that takes the same time wherever they differ. */
function same(a: string, b: string): boolean {
  const x = Buffer.from(a), y = Buffer.from(b)
  return x.length === y.length && timingSafeEqual(x, y)
}
function notModified(req: FastifyRequest, etag: string): boolean {
  const inm = req.headers['if-none-match']
  return inm !== undefined && inm.split(',').some((t) => t.trim() === etag || t.trim() === '*')
}

interface EventRow { seq: number; stream: Stream; message_id: string; type: string; event: string; user_id: string | null; anonymous_id: string | null; properties: string; timestamp: string; store: string | null; context: string; received_at: number }
const toEvent = (r: EventRow): ReceivedEvent => ({
  messageId: r.message_id, type: r.type, event: r.event, userId: r.user_id, anonymousId: r.anonymous_id,
  properties: JSON.parse(r.properties) as Record<string, unknown>, timestamp: r.timestamp, store: r.store,
  receivedAt: r.received_at, seq: r.seq, stream: r.stream, context: JSON.parse(r.context) as Record<string, unknown>,
})

class Crm implements ReferenceCrm {
  url = ''
  readonly publicKeyPem: string
  faults: Faults = {}
  readonly stats: ReferenceCrmStats = { batches: 0, accepted: 0, duplicates: 0, refused: 0, notModified: 0, byStatus: {} }
  readonly app: FastifyInstance
  private queue: Promise<unknown> = Promise.resolve()
  private readonly key: KeyObject

  constructor(private readonly db: Db, readonly o: ReferenceCrmOptions) {
    this.key = o.signingKey ?? generateKeyPairSync('ed25519').privateKey
    if (this.key.type !== 'private' || this.key.asymmetricKeyType !== 'ed25519') throw new Error('signingKey must be an Ed25519 private key')
    this.publicKeyPem = createPublicKey(this.key).export({ type: 'spki', format: 'pem' }).toString()
    this.app = Fastify({ logger: o.logger ?? false, bodyLimit: 64 * 1024 * 1024 })
    this.routes()
  }

  /** Runs fn after everything queued before it: one statement or transaction at a time on the connection. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn)
    this.queue = next.catch(() => {})
    return next
  }

  private async tx<T>(fn: () => Promise<T>): Promise<T> {
    return this.serial(async () => {
      await this.db.exec('BEGIN IMMEDIATE')
      try {
        const r = await fn()
        await this.db.exec('COMMIT')
        return r
      } catch (err) {
        await this.db.exec('ROLLBACK').catch(() => {})
        throw err
      }
    })
  }

  private all<T>(sql: string, params: Param[] = []): Promise<T[]> { return this.serial(() => this.db.all<T>(sql, params)) }
  private get<T>(sql: string, params: Param[] = []): Promise<T | undefined> { return this.serial(() => this.db.get<T>(sql, params)) }
  private run(sql: string, params: Param[] = []): Promise<unknown> { return this.serial(() => this.db.run(sql, params)) }

  // ---- data ----

  async events(f: EventFilter = {}): Promise<ReceivedEvent[]> {
    const where: string[] = ['seq > ?'], params: Param[] = [f.after ?? 0]
    if (f.event !== undefined) { where.push('event = ?'); params.push(f.event) }
    if (f.store !== undefined) { where.push('store = ?'); params.push(f.store) }
    if (f.stream !== undefined) { where.push('stream = ?'); params.push(f.stream) }
    params.push(f.limit ?? -1)
    return (await this.all<EventRow>(`SELECT * FROM events WHERE ${where.join(' AND ')} ORDER BY seq LIMIT ?`, params)).map(toEvent)
  }

  async count(): Promise<number> {
    return (await this.get<{ n: number }>('SELECT COUNT(*) AS n FROM events'))?.n ?? 0
  }

  private async storeBatch(stream: Stream, batch: Obj[]): Promise<{ accepted: number; duplicates: number }> {
    const now = Date.now()
    return this.tx(async () => {
      let accepted = 0
      // multi-row INSERTs (one statement per row costs a thread-pool round trip each: ~150 us against ~10)
      const COLS = 11
      for (let k = 0; k < batch.length; k += 500) {
        const part = batch.slice(k, k + 500)
        const params: (string | number | null)[] = []
        for (const e of part) {
          const ctx = e['context'] as Obj
          params.push(stream, e['messageId'] as string, e['type'] as string, e['event'] as string, (e['userId'] as string | undefined) ?? null, (e['anonymousId'] as string | undefined) ?? null,
            JSON.stringify(e['properties']), e['timestamp'] as string, ctx['store'] as string, JSON.stringify(ctx), now)
        }
        const row = `(${new Array(COLS).fill('?').join(',')})`
        const r = await this.db.run(`INSERT OR IGNORE INTO events (stream, message_id, type, event, user_id, anonymous_id, properties, timestamp, store, context, received_at) VALUES ${new Array(part.length).fill(row).join(',')}`, params)
        accepted += r.changes
      }
      return { accepted, duplicates: batch.length - accepted }
    })
  }

  private async memberChange(store: string, memberId: string, body: string | null): Promise<void> {
    await this.tx(async () => {
      await this.db.run('INSERT INTO store_seq (store, seq) VALUES (?, 1) ON CONFLICT (store) DO UPDATE SET seq = seq + 1', [store])
      const { seq } = (await this.db.get<{ seq: number }>('SELECT seq FROM store_seq WHERE store = ?', [store]))!
      await this.db.run('INSERT INTO members (store, member_id, body, seq) VALUES (?,?,?,?) ON CONFLICT (store, member_id) DO UPDATE SET body = excluded.body, seq = excluded.seq', [store, memberId, body, seq])
    })
  }

  /** every member id the CRM has had for the store, erased ones included */
  async memberIds(store: string): Promise<string[]> {
    return (await this.db.all<{ member_id: string }>('SELECT member_id FROM members WHERE store = ?', [storeId(store)])).map((r) => r.member_id)
  }

  async upsertMember(store: string, member: Member): Promise<void> {
    const m = checked('member', memberCheck, member)
    await this.memberChange(storeId(store), m.memberId, JSON.stringify(m))
  }

  async eraseMember(store: string, memberId: string): Promise<void> {
    if (!reMember.test(memberId)) throw new Error(`invalid member id ${JSON.stringify(memberId)}`)
    await this.memberChange(storeId(store), memberId, null)
  }

  async putCampaign(store: string, campaign: Campaign): Promise<void> {
    const c = checked('campaign', campaignCheck, campaign)
    const layout = await this.layoutOf(storeId(store))
    // Zones can be checked only against a layout the CRM knows; a store-managed layout (none here) is checked at the edge.
    const problems = campaignProblems(c, new Set(layout?.zones.map((z) => z.id) ?? []))
      .filter((p) => layout !== null || p.expected !== 'a zone of the layout')
    if (problems.length > 0) throw new Error(`invalid campaign: ${problemText(problems)}`)
    await this.run('INSERT OR REPLACE INTO campaigns (store, id, body) VALUES (?,?,?)', [store, c.id, JSON.stringify(c)])
  }

  async retireCampaign(store: string, id: string): Promise<void> {
    await this.run('DELETE FROM campaigns WHERE store = ? AND id = ?', [storeId(store), id])
  }

  async setLayout(store: string, layout: Layout | null): Promise<void> {
    storeId(store)
    if (layout === null) { await this.run('DELETE FROM layouts WHERE store = ?', [store]); return }
    const l = checked('layout', layoutCheck, layout)
    const problems = layoutProblems(l)
    if (problems.length > 0) throw new Error(`invalid layout: ${problemText(problems)}`)
    await this.run('INSERT OR REPLACE INTO layouts (store, body) VALUES (?,?)', [store, JSON.stringify(l)])
  }

  private async layoutOf(store: string): Promise<Layout | null> {
    const r = await this.get<{ body: string }>('SELECT body FROM layouts WHERE store = ?', [store])
    return r ? JSON.parse(r.body) as Layout : null
  }

  async publishModel(m: { name: string; version: string; featureVersion: string; bytes: Uint8Array }, opts: { badSignature?: boolean; wrongSha?: boolean } = {}): Promise<void> {
    if (!MODEL_PART.test(m.name) || !MODEL_PART.test(m.version)) throw new Error('model name and version must match [A-Za-z0-9_.-]{1,64}')
    if (typeof m.featureVersion !== 'string' || m.featureVersion.length === 0) throw new Error('featureVersion must be a non-empty string')
    if (!(m.bytes instanceof Uint8Array)) throw new Error('bytes must be a Uint8Array')
    const hash = opts.wrongSha ? sha256(Buffer.concat([m.bytes, Buffer.from('tampered')])) : sha256(m.bytes)
    const text = `${m.name}\n${m.version}\n${hash}\n${m.featureVersion}${opts.badSignature ? '\ntampered' : ''}`
    const signature = sign(null, Buffer.from(text, 'utf8'), this.key).toString('base64')
    await this.tx(async () => {
      await this.db.run('DELETE FROM models WHERE name = ? AND version = ?', [m.name, m.version])
      await this.db.run('INSERT INTO models (name, version, sha256, feature_version, signature, bytes) VALUES (?,?,?,?,?,?)', [m.name, m.version, hash, m.featureVersion, signature, Buffer.from(m.bytes)])
    })
  }

  async close(): Promise<void> {
    await this.app.close()
    await this.serial(() => this.db.close())
  }

  // ---- HTTP ----

  private routes(): void {
    const app = this.app
    const isBatch = (url: string | undefined) => url === '/v1/batch' || url === '/v1/ops/batch'
    const isAdmin = (url: string) => url.startsWith('/_admin')

    app.addHook('onRequest', async (req, reply) => {
      if (req.method === 'POST' && isBatch(req.routeOptions.url)) this.stats.batches++
      if (this.faults.down && !isAdmin(req.url)) return reply.code(503).send({ error: 'the CRM is down (fault)' })
    })
    app.addHook('onResponse', async (req, reply) => {
      if (req.method === 'POST' && isBatch(req.routeOptions.url)) this.bump(String(reply.statusCode))
    })
    app.setErrorHandler((err: Error & { statusCode?: number }, req, reply) => {
      const code = err.statusCode !== undefined && err.statusCode >= 400 ? err.statusCode : 500
      if (code === 400 && isBatch(req.routeOptions.url)) this.stats.refused++
      return reply.code(code).send(isBatch(req.routeOptions.url) ? { error: err.message, messageIds: [] } : { error: err.message })
    })
    app.setNotFoundHandler((_req, reply) => reply.code(404).send({ error: 'not found' }))

    const bearer = async (req: FastifyRequest, reply: FastifyReply) => {
      const h = req.headers.authorization
      if (h === undefined || !h.startsWith('Bearer ') || !same(h.slice(7), this.o.storeToken)) {
        return reply.code(401).header('www-authenticate', 'Bearer').send({ error: 'a Bearer store token is required' })
      }
    }

    // -- outbound batches (7.1) --
    const batchRoute = (stream: Stream) => async (req: FastifyRequest, reply: FastifyReply) => {
      const h = req.headers.authorization
      const creds = h?.startsWith('Basic ') ? Buffer.from(h.slice(6), 'base64').toString('utf8') : null
      if (creds === null || !same(creds, `${this.o.writeKey}:`)) {
        return reply.code(401).header('www-authenticate', 'Basic realm="crm"').send({ error: 'Basic auth with the write key as user name and an empty password is required', messageIds: [] })
      }
      const f = this.faults
      if (f.unavailable !== undefined && f.unavailable > 0) { f.unavailable--; return reply.code(503).send({ error: 'unavailable (fault)', messageIds: [] }) }
      if (f.tooMany !== undefined && f.tooMany.count > 0) {
        f.tooMany.count--
        return reply.code(429).header('retry-after', String(f.tooMany.retryAfterSeconds)).send({ error: 'too many requests (fault)', messageIds: [] })
      }
      const body = req.body as Obj | undefined
      const items = isObj(body) && Array.isArray(body['batch']) ? body['batch'] as unknown[] : []
      const refused = f.refuseMessageIds?.length
        ? items.flatMap((e) => (isObj(e) && typeof e['messageId'] === 'string' && f.refuseMessageIds!.includes(e['messageId']) ? [e['messageId']] : []))
        : []
      if (refused.length > 0) { this.stats.refused++; return reply.code(400).send({ error: 'refused messageIds (fault)', messageIds: refused }) }
      if (f.slowMs) await sleep(f.slowMs)
      const problem = batchProblem(body, stream)
      if (problem) { this.stats.refused++; return reply.code(400).send(problem) }
      const r = await this.storeBatch(stream, items as Obj[])
      this.stats.accepted += r.accepted
      this.stats.duplicates += r.duplicates
      if (f.dropAfterBody !== undefined && f.dropAfterBody > 0) {
        f.dropAfterBody--
        this.bump('dropped')
        reply.hijack()
        req.raw.socket.destroy()
        return
      }
      return reply.code(200).send({ ok: true })
    }
    app.post('/v1/batch', { bodyLimit: MAX_BATCH_BYTES }, batchRoute('crm'))
    app.post('/v1/ops/batch', { bodyLimit: MAX_BATCH_BYTES }, batchRoute('ops'))

    // -- inbound pulls (7.2) --
    const send = (req: FastifyRequest, reply: FastifyReply, etag: string, body: unknown) => {
      reply.header('etag', etag)
      if (notModified(req, etag)) { this.stats.notModified++; return reply.code(304).send() }
      return reply.send(body)
    }
    type StoreReq = FastifyRequest<{ Params: { store: string }; Querystring: { cursor?: string; limit?: string } }>
    const storeParam = (req: StoreReq, reply: FastifyReply): string | null => {
      if (reStore.test(req.params.store)) return req.params.store
      void reply.code(400).send({ error: 'invalid store id' })
      return null
    }

    app.register(async (pull) => {
      pull.addHook('onRequest', bearer)

      pull.get('/v1/stores/:store/members', async (req: StoreReq, reply) => {
        const store = storeParam(req, reply)
        if (store === null) return reply
        const cursor = req.query.cursor ?? ''
        const limit = req.query.limit === undefined ? this.o.pageSize ?? 500 : Number(req.query.limit)
        if (!/^\d{0,15}$/.test(cursor)) return reply.code(400).send({ error: 'cursor must be one returned by this endpoint' })
        if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) return reply.code(400).send({ error: 'limit must be an integer 1..10000' })
        const after = Number(cursor || 0)
        const { rows, latest } = await this.serial(async () => ({
          rows: await this.db.all<{ member_id: string; body: string | null; seq: number }>('SELECT member_id, body, seq FROM members WHERE store = ? AND seq > ? ORDER BY seq LIMIT ?', [store, after, limit + 1]),
          latest: (await this.db.get<{ seq: number }>('SELECT seq FROM store_seq WHERE store = ?', [store]))?.seq ?? 0,
        }))
        const page = rows.slice(0, limit)
        return send(req, reply, etagOf('members', store, cursor, limit, latest), {
          members: page.flatMap((r) => (r.body === null ? [] : [JSON.parse(r.body) as Member])),
          erasures: page.flatMap((r) => (r.body === null ? [r.member_id] : [])),
          cursor: String(page.at(-1)?.seq ?? after),
          more: rows.length > limit,
        })
      })

      pull.get('/v1/stores/:store/campaigns', async (req: StoreReq, reply) => {
        const store = storeParam(req, reply)
        if (store === null) return reply
        const rows = await this.all<{ body: string }>('SELECT body FROM campaigns WHERE store = ? ORDER BY id', [store])
        const body = `{"campaigns":[${rows.map((r) => r.body).join(',')}]}`
        return send(req, reply.type('application/json'), etagOf(body), body)
      })

      pull.get('/v1/stores/:store/layout', async (req: StoreReq, reply) => {
        const store = storeParam(req, reply)
        if (store === null) return reply
        const r = await this.get<{ body: string }>('SELECT body FROM layouts WHERE store = ?', [store])
        if (!r) return reply.code(404).send({ error: 'no layout at the CRM: the layout is managed at the store' })
        return send(req, reply.type('application/json'), etagOf(r.body), r.body)
      })

      pull.get('/v1/models/manifest', async (req, reply) => {
        const rows = await this.all<{ name: string; version: string; sha256: string; feature_version: string; signature: string }>(
          'SELECT name, version, sha256, feature_version, signature FROM models m WHERE n = (SELECT MAX(n) FROM models WHERE name = m.name) ORDER BY name')
        const body = JSON.stringify({
          models: rows.map((r) => ({ name: r.name, version: r.version, sha256: r.sha256, featureVersion: r.feature_version, url: `/v1/models/${encodeURIComponent(r.name)}/${encodeURIComponent(r.version)}`, signature: r.signature })),
        })
        return send(req, reply.type('application/json'), etagOf(body), body)
      })

      pull.get('/v1/models/:name/:version', async (req: FastifyRequest<{ Params: { name: string; version: string } }>, reply) => {
        const r = await this.get<{ bytes: Buffer }>('SELECT bytes FROM models WHERE name = ? AND version = ?', [req.params.name, req.params.version])
        if (!r) return reply.code(404).send({ error: 'no such model' })
        return send(req, reply.type('application/octet-stream'), `"${sha256(r.bytes)}"`, r.bytes)
      })
    })

    // -- /_admin: the same knobs and setters for another process --
    app.register(async (admin) => {
      admin.addHook('onRequest', bearer)
      admin.addContentTypeParser('application/octet-stream', { parseAs: 'buffer' }, (_req, body, done) => done(null, body))
      const attempt = async (reply: FastifyReply, fn: () => Promise<void>) => {
        try { await fn(); return reply.code(204).send() } catch (err) { return reply.code(400).send({ error: (err as Error).message }) }
      }
      type P = FastifyRequest<{ Params: { store: string; id: string; name: string; version: string }; Querystring: Record<string, string | undefined>; Body: unknown }>

      admin.get('/_admin/faults', async () => this.faults)
      admin.put('/_admin/faults', async (req: P, reply) => {
        if (!faultsCheck.check(req.body)) return reply.code(400).send({ error: `invalid faults: ${describeProblems(faultsCheck.problems(req.body))}` })
        this.faults = req.body
        return this.faults
      })
      admin.get('/_admin/stats', async () => this.stats)
      admin.get('/_admin/public-key', async (_req, reply) => reply.type('application/x-pem-file').send(this.publicKeyPem))
      admin.get('/_admin/events', async (req: P, reply) => {
        const q = req.query
        const num = (v: string | undefined) => (v === undefined || v === '' ? undefined : Number(v))
        const after = num(q['after']), limit = num(q['limit'])
        if ((after !== undefined && !Number.isInteger(after)) || (limit !== undefined && !Number.isInteger(limit))) return reply.code(400).send({ error: 'after and limit must be integers' })
        if (q['stream'] !== undefined && q['stream'] !== 'crm' && q['stream'] !== 'ops') return reply.code(400).send({ error: 'stream must be crm or ops' })
        const events = await this.events({
          ...(q['event'] ? { event: q['event'] } : {}), ...(q['store'] ? { store: q['store'] } : {}), ...(q['stream'] ? { stream: q['stream'] as Stream } : {}),
          ...(after !== undefined ? { after } : {}), ...(limit !== undefined ? { limit } : {}),
        })
        return { events, last: events.at(-1)?.seq ?? after ?? 0 }
      })
      admin.put('/_admin/stores/:store/members/:id', async (req: P, reply) => attempt(reply, async () => {
        if (!isObj(req.body) || req.body['memberId'] !== req.params.id) throw new Error('the body must be a Member whose memberId is the id of the path')
        await this.upsertMember(req.params.store, req.body as Member)
      }))
      admin.delete('/_admin/stores/:store/members/:id', async (req: P, reply) => attempt(reply, () => this.eraseMember(req.params.store, req.params.id)))
      admin.put('/_admin/stores/:store/campaigns/:id', async (req: P, reply) => attempt(reply, async () => {
        if (!isObj(req.body) || req.body['id'] !== req.params.id) throw new Error('the body must be a Campaign whose id is the id of the path')
        await this.putCampaign(req.params.store, req.body as Campaign)
      }))
      admin.delete('/_admin/stores/:store/campaigns/:id', async (req: P, reply) => attempt(reply, () => this.retireCampaign(req.params.store, req.params.id)))
      admin.put('/_admin/stores/:store/layout', async (req: P, reply) => attempt(reply, () => this.setLayout(req.params.store, req.body as Layout)))
      admin.delete('/_admin/stores/:store/layout', async (req: P, reply) => attempt(reply, () => this.setLayout(req.params.store, null)))
      // application/octet-stream body; ?featureVersion=<v>[&badSignature=1][&wrongSha=1]
      admin.put('/_admin/models/:name/:version', async (req: P, reply) => attempt(reply, async () => {
        if (!Buffer.isBuffer(req.body)) throw new Error('the body must be the model bytes (application/octet-stream)')
        const flag = (k: string) => req.query[k] === '1' || req.query[k] === 'true'
        await this.publishModel({ name: req.params.name, version: req.params.version, featureVersion: req.query['featureVersion'] ?? '', bytes: req.body },
          { badSignature: flag('badSignature'), wrongSha: flag('wrongSha') })
      }))
    })
  }

  private bump(status: string): void {
    this.stats.byStatus[status] = (this.stats.byStatus[status] ?? 0) + 1
  }
}

export async function startReferenceCrm(o: ReferenceCrmOptions): Promise<ReferenceCrm> {
  if (!o.writeKey || !o.storeToken) throw new Error('writeKey and storeToken are required')
  const db = await Db.open(o.dbFile ?? ':memory:')
  try {
    await db.exec(SCHEMA)
    const crm = new Crm(db, o)
    await crm.app.listen({ host: o.host ?? '127.0.0.1', port: o.port ?? 0 })
    const addr = crm.app.server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    crm.url = `http://${host}:${addr.port}`
    return crm
  } catch (err) {
    await db.close().catch(() => {})
    throw err
  }
}
