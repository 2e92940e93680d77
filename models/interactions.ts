/**
 * The interactions format: JSON Lines, one row per offer shown to a member (see models/README.md).
 * The feature blocks are the recommender's own inputs (edge/recommend/features.ts).
 *
 * Reading is a stream: one line at a time is parsed and checked (types, ranges, `ts` as ISO 8601), so a file
 * of millions of rows never sits in memory as objects. Every problem is counted by field with the first
 * few quoted with file and line; values outside the feature vocabularies and fields the trainer does not
 * know are counted too (they would otherwise encode as "unknown" without a word).
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs'
import { createInterface } from 'node:readline'
import Type, { type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { vocabularyMisses, type ContextFeatures, type MemberFeatures, type OfferFeatures } from '../edge/recommend/features.js'

export interface Interaction {
  /** when the offer was shown, ISO 8601 */
  ts: string
  /** pseudonymous or CRM member id; used to split by member, never as a feature */
  memberId: string
  campaignId: string
  /** the offer (coupon) shown; offers with the same id share popularity */
  offerId: string
  member: MemberFeatures
  offer: OfferFeatures
  context: ContextFeatures
  /** 1 if the member redeemed it */
  redeemed: 0 | 1
  /**
   * How many shown offers this row stands for (default 1): a CRM that keeps 1 in 20 non-redeemed rows
   * exports them with weight 20. Used in the loss, the popularity encoding and every metric.
   */
  weight?: number | undefined
}

const num = (o: { minimum?: number; maximum?: number; exclusiveMinimum?: number } = {}) => Type.Number(o)
const int = (o: { minimum?: number; maximum?: number } = {}) => Type.Integer(o)
const opt = Type.Optional

/** The schema of one row. Extra top-level fields (a CRM's own columns) are allowed and ignored. */
export const InteractionSchema = Type.Object({
  ts: Type.String({ minLength: 4, maxLength: 40 }),
  memberId: Type.String({ minLength: 1, maxLength: 256 }),
  campaignId: Type.String({ maxLength: 256 }),
  offerId: Type.String({ minLength: 1, maxLength: 256 }),
  redeemed: Type.Union([Type.Literal(0), Type.Literal(1)]),
  weight: opt(num({ exclusiveMinimum: 0, maximum: 1e6 })),
  member: Type.Object({
    tier: opt(Type.String({ maxLength: 64 })),
    rfm: opt(Type.Object({ recencyDays: num({ minimum: 0, maximum: 36_500 }), frequency: num({ minimum: 0, maximum: 1e7 }), monetary: num({ minimum: -1e9, maximum: 1e9 }) })),
    demographics: opt(Type.Object({
      ageRange: opt(Type.String({ maxLength: 16 })),
      incomeBracket: opt(num({ minimum: 0, maximum: 100 })),
      familySize: opt(num({ minimum: 0, maximum: 100 })),
      children: opt(num({ minimum: 0, maximum: 100 })),
      married: opt(Type.Boolean()),
      rented: opt(Type.Boolean()),
    })),
    affinities: opt(Type.Record(Type.String({ maxLength: 64 }), num({ minimum: 0, maximum: 1 }), { maxProperties: 200 })),
    history: opt(Type.Object({ shown: int({ minimum: 0, maximum: 1e9 }), redeemed: int({ minimum: 0, maximum: 1e9 }) })),
  }),
  offer: Type.Object({
    category: opt(Type.String({ maxLength: 128 })),
    brandEstablished: opt(num({ minimum: 0, maximum: 1 })),
    items: opt(num({ minimum: 0, maximum: 1e7 })),
    discount: opt(Type.Object({ kind: Type.String({ maxLength: 32 }), value: opt(num({ minimum: 0, maximum: 1e6 })) })),
    campaignType: opt(Type.String({ maxLength: 64 })),
    margin: opt(num({ minimum: -1, maximum: 1 })),
    popularity: opt(num({ minimum: 0, maximum: 1 })),
    durationDays: opt(num({ minimum: 0, maximum: 3660 })),
  }),
  context: Type.Object({
    zoneKind: opt(Type.String({ maxLength: 64 })),
    dwellSeconds: opt(num({ minimum: 0, maximum: 86_400 })),
    hour: opt(int({ minimum: 0, maximum: 23 })),
    weekday: opt(int({ minimum: 0, maximum: 6 })),
  }),
})
export type InteractionRow = Static<typeof InteractionSchema>

const validator = Compile(InteractionSchema)

/** The fields the feature blocks know; anything else inside them is reported (a typo would vanish). */
const KNOWN = {
  member: new Set(['tier', 'rfm', 'demographics', 'affinities', 'history']),
  'member.rfm': new Set(['recencyDays', 'frequency', 'monetary']),
  'member.demographics': new Set(['ageRange', 'incomeBracket', 'familySize', 'children', 'married', 'rented']),
  'member.history': new Set(['shown', 'redeemed']),
  offer: new Set(['category', 'brandEstablished', 'items', 'discount', 'campaignType', 'margin', 'popularity', 'durationDays']),
  'offer.discount': new Set(['kind', 'value']),
  context: new Set(['zoneKind', 'dwellSeconds', 'hour', 'weekday']),
} as const

const ISO = /^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}(:?\d{2})?)?)?$/

const MAX_VALUES_PER_FIELD = 50
const MAX_PROBLEM_KINDS = 200

/** What reading found, beyond the rows themselves. Every map is bounded. */
export class ReadReport {
  lines = 0
  rows = 0
  invalid = 0
  /** "path: message" -> rows */
  readonly problems = new Map<string, number>()
  /** the first problems, quoted with file:line */
  readonly first: string[] = []
  /** field -> value -> rows, for values outside the vocabularies */
  readonly outOfVocabulary = new Map<string, { rows: number; values: Map<string, number>; otherValues: number }>()
  /** "member.teir" -> rows */
  readonly unknownFields = new Map<string, number>()

  constructor(readonly firstN = 20) {}

  problem(where: string, key: string, detail: string): void {
    this.invalid++
    if (this.problems.has(key) || this.problems.size < MAX_PROBLEM_KINDS) this.problems.set(key, (this.problems.get(key) ?? 0) + 1)
    else this.problems.set('(other problems)', (this.problems.get('(other problems)') ?? 0) + 1)
    if (this.first.length < this.firstN) this.first.push(`${where}: ${detail}`)
  }

  miss(field: string, value: string): void {
    let f = this.outOfVocabulary.get(field)
    if (!f) { f = { rows: 0, values: new Map(), otherValues: 0 }; this.outOfVocabulary.set(field, f) }
    f.rows++
    const v = value.slice(0, 64)
    if (f.values.has(v) || f.values.size < MAX_VALUES_PER_FIELD) f.values.set(v, (f.values.get(v) ?? 0) + 1)
    else f.otherValues++
  }

  unknownField(path: string): void {
    if (this.unknownFields.has(path) || this.unknownFields.size < MAX_PROBLEM_KINDS) this.unknownFields.set(path, (this.unknownFields.get(path) ?? 0) + 1)
  }

  /** Anything that --strict refuses. */
  get clean(): boolean { return this.invalid === 0 && this.outOfVocabulary.size === 0 && this.unknownFields.size === 0 }

  toJSON(): Record<string, unknown> {
    return {
      lines: this.lines, rows: this.rows, invalid: this.invalid,
      problems: Object.fromEntries([...this.problems].sort((a, b) => b[1] - a[1])),
      first: this.first,
      outOfVocabulary: Object.fromEntries([...this.outOfVocabulary].map(([k, f]) => [k, { rows: f.rows, values: Object.fromEntries([...f.values].sort((a, b) => b[1] - a[1])), ...(f.otherValues ? { otherValues: f.otherValues } : {}) }])),
      unknownFields: Object.fromEntries(this.unknownFields),
    }
  }

  /** Human-readable lines for the console. */
  describe(): string[] {
    const out: string[] = []
    if (this.invalid) {
      out.push(`${this.invalid} of ${this.rows + this.invalid} rows refused:`)
      for (const [k, n] of [...this.problems].sort((a, b) => b[1] - a[1]).slice(0, 15)) out.push(`  ${n} x ${k}`)
      out.push('  first ones:', ...this.first.map((f) => `    ${f}`))
    }
    for (const [field, f] of this.outOfVocabulary) {
      const top = [...f.values].sort((a, b) => b[1] - a[1]).slice(0, 10).map(([v, n]) => `${JSON.stringify(v)} ${n}`).join(', ')
      out.push(`outside the vocabulary: ${field} in ${f.rows} rows (${top}${f.values.size > 10 || f.otherValues ? ', ...' : ''}); they encode as ${field === 'offer.category' || field === 'member.affinities' ? 'miscellaneous' : 'unknown'}`)
    }
    for (const [path, n] of this.unknownFields) out.push(`unknown field ${path} in ${n} rows (ignored)`)
    return out
  }
}

function dropNulls(v: unknown): unknown {
  if (Array.isArray(v)) return v
  if (v !== null && typeof v === 'object') {
    const o = v as Record<string, unknown>
    for (const k of Object.keys(o)) { if (o[k] === null) delete o[k]; else dropNulls(o[k]) }
  }
  return v
}

function checkFields(row: InteractionRow, report: ReadReport): void {
  const scan = (obj: object | undefined, path: keyof typeof KNOWN) => {
    if (!obj) return
    for (const k of Object.keys(obj)) if (!KNOWN[path].has(k)) report.unknownField(`${path}.${k}`)
  }
  scan(row.member, 'member')
  scan(row.member.rfm, 'member.rfm')
  scan(row.member.demographics, 'member.demographics')
  scan(row.member.history, 'member.history')
  scan(row.offer, 'offer')
  scan(row.offer.discount, 'offer.discount')
  scan(row.context, 'context')
}

/**
 * One line of text -> a checked row, or null (the problem is in the report). JSON null counts as absent.
 */
export function parseLine(text: string, where: string, report: ReadReport): Interaction | null {
  let v: unknown
  try {
    v = JSON.parse(text)
  } catch (err) {
    report.problem(where, 'not JSON', `not JSON (${(err as Error).message.slice(0, 80)})`)
    return null
  }
  if (text.includes('null')) dropNulls(v)
  if (!validator.Check(v)) {
    const errs = validator.Errors(v).filter((e) => e.keyword !== 'anyOf' && e.keyword !== 'oneOf')
    const e = errs[0]
    const path = e ? (e.instancePath || '/') : '/'
    const field = path.replace(/^\//, '').replace(/\//g, '.') || 'row'
    const message = field === 'redeemed' ? 'must be 0 or 1' : e ? e.message : 'does not fit the format'
    report.problem(where, `${field}: ${message}`, `${field}: ${message}${e && e.keyword !== 'required' ? ` (got ${JSON.stringify(valueAt(v, path))?.slice(0, 40)})` : ''}`)
    return null
  }
  const row = v as InteractionRow
  const t = ISO.test(row.ts) ? Date.parse(row.ts) : NaN
  if (!Number.isFinite(t)) { report.problem(where, 'ts: not an ISO 8601 time', `ts: not an ISO 8601 time (got ${JSON.stringify(row.ts).slice(0, 40)})`); return null }
  if (row.member.history && row.member.history.redeemed > row.member.history.shown) { report.problem(where, 'member.history: redeemed > shown', `member.history: redeemed ${row.member.history.redeemed} > shown ${row.member.history.shown}`); return null }
  checkFields(row, report)
  vocabularyMisses(row as unknown as Interaction, (field, value) => report.miss(field, value))
  report.rows++
  return row as unknown as Interaction
}

function valueAt(v: unknown, pointer: string): unknown {
  let cur = v
  for (const part of pointer.split('/').slice(1)) cur = cur !== null && typeof cur === 'object' ? (cur as Record<string, unknown>)[part.replace(/~1/g, '/').replace(/~0/g, '~')] : undefined
  return cur
}

export interface StreamOptions {
  report: ReadReport
  /** called about every second with bytes read so far */
  onProgress?: (bytes: number, total: number) => void
}

/** Rows of one file, checked, one at a time (a bad row is counted in the report and skipped). */
export async function* streamInteractions(file: string, o: StreamOptions): AsyncGenerator<{ row: Interaction; line: number }> {
  const total = statSync(file).size
  const input = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 })
  const rl = createInterface({ input, crlfDelay: Infinity })
  let line = 0
  let bytes = 0
  let lastTick = performance.now()
  for await (const text of rl) {
    line++
    o.report.lines++
    bytes += text.length + 1
    if (o.onProgress && (line & 0x3fff) === 0 && performance.now() - lastTick > 1000) { lastTick = performance.now(); o.onProgress(bytes, total) }
    if (text.trim() === '') continue
    const row = parseLine(text, `${file}:${line}`, o.report)
    if (row) yield { row, line }
  }
  o.onProgress?.(total, total)
}

/** A whole (small) file in memory; the first bad row is an error naming file, line and field. */
export async function readInteractions(file: string): Promise<Interaction[]> {
  const out: Interaction[] = []
  const report = new ReadReport(1)
  for await (const { row } of streamInteractions(file, { report })) {
    out.push(row)
  }
  if (report.invalid) throw new Error(report.first[0]!)
  return out
}

export async function writeInteractions(file: string, rows: Iterable<Interaction> | AsyncIterable<Interaction>): Promise<number> {
  const ws = createWriteStream(file, 'utf8')
  let n = 0
  for await (const r of rows) {
    if (!ws.write(`${JSON.stringify(r)}\n`)) await new Promise<void>((res) => ws.once('drain', () => res()))
    n++
  }
  await new Promise<void>((res, rej) => ws.end((err?: Error | null) => (err ? rej(err) : res())))
  return n
}
