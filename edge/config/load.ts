/**
 * Loading and validating configuration: defaults (config/default.json) <- config file <- environment.
 * A bad value stops start-up with a message naming the key, the value, where it came from and what was
 * expected; `check-config <file>` runs the same check alone.
 */
import { readFileSync, existsSync } from 'node:fs'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Compile } from 'typebox/compile'
import { ConfigSchema, type Config } from './schema.js'
import { campaignProblems, layoutProblems } from '../contract/resources.js'

export interface ConfigIssue {
  key: string
  value: unknown
  expected: string
  source: string
}

export class ConfigError extends Error {
  constructor(readonly issues: ConfigIssue[], readonly sources: string[]) {
    super(formatIssues(issues, sources))
    this.name = 'ConfigError'
  }
}

/** The folder holding package.json (works from sources and from dist/). */
export function packageRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url))
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'package.json')) && existsSync(join(dir, 'config', 'default.json'))) return dir
    dir = dirname(dir)
  }
  throw new Error('cannot find the aisle-edge package root (config/default.json)')
}

type EnvType = 'int' | 'string' | 'bool' | 'url-or-null'
interface EnvOverride { env: string; path: string[]; type: EnvType; doc: string }

/** Environment overrides (CONTRACT section 8 plus the ones this config documents). */
export const ENV_OVERRIDES: EnvOverride[] = [
  { env: 'AISLE_DATA_DIR', path: ['dataDir'], type: 'string', doc: 'folder of the SQLite file and generated secrets' },
  { env: 'AISLE_HTTP_PORT', path: ['http', 'port'], type: 'int', doc: 'HTTP port' },
  { env: 'AISLE_HTTP_HOST', path: ['http', 'host'], type: 'string', doc: 'HTTP listen address' },
  { env: 'AISLE_MQTT_PORT', path: ['mqtt', 'embedded', 'port'], type: 'int', doc: 'embedded broker port' },
  { env: 'AISLE_MQTT_HOST', path: ['mqtt', 'embedded', 'host'], type: 'string', doc: 'embedded broker listen address' },
  { env: 'AISLE_MQTT_URL', path: ['mqtt', 'url'], type: 'url-or-null', doc: 'external broker URL (empty = embedded)' },
  { env: 'AISLE_MQTT_USERNAME', path: ['mqtt', 'username'], type: 'string', doc: 'external broker user' },
  { env: 'AISLE_MQTT_PASSWORD', path: ['mqtt', 'password'], type: 'string', doc: 'external broker password' },
  { env: 'AISLE_MEMBER_JWT_SECRET', path: ['member', 'jwt', 'secret'], type: 'string', doc: 'HS256 secret of member JWTs' },
  { env: 'AISLE_COUPON_KEY', path: ['coupon', 'key'], type: 'string', doc: 'chain-wide coupon key, hex' },
  { env: 'AISLE_SIMULATOR', path: ['simulator', 'enabled'], type: 'bool', doc: 'on/off: run the store simulator' },
  { env: 'AISLE_STORE_ID', path: ['store', 'id'], type: 'string', doc: 'store id' },
  { env: 'AISLE_LOG_LEVEL', path: ['log', 'level'], type: 'string', doc: 'log level' },
  { env: 'AISLE_MQTT_ANONYMOUS', path: ['mqtt', 'allowAnonymous'], type: 'bool', doc: 'on/off: clients without device credentials (labs, replays)' },
  { env: 'AISLE_CRM_URL', path: ['crm', 'url'], type: 'url-or-null', doc: 'central CRM base URL (empty = stand-alone)' },
  { env: 'AISLE_CRM_WRITE_KEY', path: ['crm', 'writeKey'], type: 'string', doc: 'CRM write key (Basic auth on /v1/batch)' },
  { env: 'AISLE_CRM_STORE_TOKEN', path: ['crm', 'storeToken'], type: 'string', doc: 'CRM bearer token of the inbound pulls' },
  { env: 'AISLE_CRM_OPS_URL', path: ['crm', 'opsUrl'], type: 'url-or-null', doc: 'where the ops stream goes (empty = stays at the edge)' },
  { env: 'AISLE_CRM_MQTT_URL', path: ['crm', 'mqtt', 'url'], type: 'url-or-null', doc: 'cloud broker for the CRM batches (empty = HTTP)' },
  { env: 'AISLE_METRICS_TOKEN', path: ['metrics', 'token'], type: 'string', doc: 'bearer token /metrics requires' },
]

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v)

/** Objects merge key by key; arrays and scalars replace. */
export function deepMerge(base: unknown, over: unknown): unknown {
  if (!isObject(base) || !isObject(over)) return over === undefined ? base : over
  const out: Record<string, unknown> = { ...base }
  for (const [k, v] of Object.entries(over)) out[k] = deepMerge(base[k], v)
  return out
}

function readJson(file: string): unknown {
  let text: string
  try {
    text = readFileSync(file, 'utf8')
  } catch (err) {
    throw new ConfigError([{ key: '(file)', value: file, expected: `a readable JSON file (${(err as NodeJS.ErrnoException).code ?? 'error'})`, source: file }], [file])
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new ConfigError([{ key: '(file)', value: file, expected: `valid JSON: ${(err as Error).message}`, source: file }], [file])
  }
}

function setPath(obj: Record<string, unknown>, path: string[], value: unknown): void {
  let cur = obj
  for (const p of path.slice(0, -1)) {
    if (!isObject(cur[p])) cur[p] = {}
    cur = cur[p] as Record<string, unknown>
  }
  cur[path[path.length - 1]!] = value
}

function getPointer(obj: unknown, pointer: string): unknown {
  if (pointer === '') return obj
  let cur: unknown = obj
  for (const raw of pointer.slice(1).split('/')) {
    const k = raw.replace(/~1/g, '/').replace(/~0/g, '~')
    if (Array.isArray(cur)) cur = cur[Number(k)]
    else if (isObject(cur)) cur = cur[k]
    else return undefined
  }
  return cur
}

/** '/layout/anchors/3/zone' -> 'layout.anchors[3].zone' */
export function pointerToKey(pointer: string): string {
  if (pointer === '') return '(root)'
  return pointer.slice(1).split('/').reduce((acc, part) => (/^\d+$/.test(part) ? `${acc}[${part}]` : acc ? `${acc}.${part}` : part), '')
}

function convertEnv(o: EnvOverride, raw: string): { value: unknown } | { error: string } {
  switch (o.type) {
    case 'int': {
      if (!/^-?\d+$/.test(raw.trim())) return { error: 'an integer' }
      return { value: Number(raw.trim()) }
    }
    case 'bool': {
      const v = raw.trim().toLowerCase()
      if (['on', 'true', '1', 'yes'].includes(v)) return { value: true }
      if (['off', 'false', '0', 'no'].includes(v)) return { value: false }
      return { error: 'on or off' }
    }
    case 'url-or-null': return { value: raw.trim() === '' ? null : raw.trim() }
    case 'string': return { value: raw }
  }
}

export interface LoadOptions {
  /** config file; default AISLE_CONFIG */
  file?: string | undefined
  env?: NodeJS.ProcessEnv
  /** extra layer applied after the file and before the environment (e.g. demo defaults) */
  overlay?: Record<string, unknown>
  /** base folder for a relative dataDir; default the current directory */
  cwd?: string
}

export interface LoadedConfig {
  config: Config
  sources: string[]
  /** admin token given in AISLE_ADMIN_TOKEN (kept out of the config object so it is never logged) */
  envAdminToken: string | undefined
}

const validator = Compile(ConfigSchema)
/** one validator per top-level section, so cross-references are checked where a section is well typed */
const sectionValidators: Record<string, { Check(v: unknown): boolean }> = Object.fromEntries(
  Object.entries((ConfigSchema as unknown as { properties: Record<string, Parameters<typeof Compile>[0]> }).properties).map(([k, v]) => [k, Compile(v)]))

export function loadConfig(opts: LoadOptions = {}): LoadedConfig {
  const env = opts.env ?? process.env
  const root = packageRoot()
  const defaultsFile = join(root, 'config', 'default.json')
  let merged = readJson(defaultsFile)
  const sources = [defaultsFile]
  const file = opts.file ?? env['AISLE_CONFIG']
  let fileLabel = 'defaults'
  if (file) {
    const path = isAbsolute(file) ? file : resolve(opts.cwd ?? process.cwd(), file)
    merged = deepMerge(merged, readJson(path))
    sources.push(path)
    fileLabel = path
  }
  if (opts.overlay) merged = deepMerge(merged, opts.overlay)

  const issues: ConfigIssue[] = []
  const envSourced = new Map<string, string>()
  for (const o of ENV_OVERRIDES) {
    const raw = env[o.env]
    // an empty variable counts as unset, except AISLE_MQTT_URL where empty explicitly means the embedded broker
    if (raw === undefined || (raw.trim() === '' && o.type !== 'url-or-null')) continue
    const key = o.path.join('.')
    const c = convertEnv(o, raw)
    if ('error' in c) {
      issues.push({ key, value: raw, expected: c.error, source: o.env })
      continue
    }
    setPath(merged as Record<string, unknown>, o.path, c.value)
    envSourced.set(key, o.env)
    if (!sources.includes('environment')) sources.push('environment')
  }
  // every problem in one pass: type errors, then the cross-references of every section that is well typed
  const typed = validator.Check(merged)
  if (!typed) issues.push(...schemaIssues(merged, envSourced, fileLabel))
  const reported = new Set(issues.map((i) => i.key))
  for (const i of semanticIssues(merged as Config, typed ? undefined : (section) => sectionValidators[section]?.Check((merged as Record<string, unknown>)[section]) ?? false)) {
    if (!reported.has(i.key)) issues.push({ ...i, source: envSourced.get(i.key) ?? fileLabel })
  }
  const config = merged as Config
  const cal0 = typed || sectionValidators['presence']?.Check((merged as Record<string, unknown>)['presence']) ? config.presence.calibrationFile : undefined
  if (cal0 !== undefined) {
    const base = fileLabel !== 'defaults' ? dirname(fileLabel) : opts.cwd ?? process.cwd()
    const abs = isAbsolute(cal0) ? cal0 : resolve(base, cal0)
    if (!existsSync(abs)) issues.push({ key: 'presence.calibrationFile', value: cal0, expected: `an existing file (${abs})`, source: envSourced.get('presence.calibrationFile') ?? fileLabel })
  }
  if (issues.length) throw new ConfigError(issues, sources)
  const dataDir = isAbsolute(config.dataDir) ? config.dataDir : resolve(opts.cwd ?? process.cwd(), config.dataDir)
  const cal = config.presence.calibrationFile
  if (cal !== undefined && !isAbsolute(cal)) {
    const base = fileLabel !== 'defaults' ? dirname(fileLabel) : opts.cwd ?? process.cwd()
    config.presence.calibrationFile = resolve(base, cal)
  }
  return { config: { ...config, dataDir }, sources, envAdminToken: env['AISLE_ADMIN_TOKEN'] || undefined }
}

function describeExpected(keyword: string, params: Record<string, unknown>, message: string): string {
  switch (keyword) {
    case 'type': return `a value of type ${String(params['type'])}`
    case 'enum': return `one of ${(params['allowedValues'] as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`
    case 'pattern': return `a string matching ${String(params['pattern'])}`
    case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum':
      return `a number ${String(params['comparison'])} ${String(params['limit'])}`
    case 'const': return `${JSON.stringify(params['allowedValue'])}`
    default: return message.replace(/^must (be )?/, '')
  }
}

function schemaIssues(value: unknown, envSourced: Map<string, string>, fileLabel: string): ConfigIssue[] {
  const errors = validator.Errors(value)
  const byPath = new Map<string, ConfigIssue>()
  for (const e of errors) {
    if (e.keyword === 'boolean') continue // the additionalProperties summary says it better
    const params = e.params as Record<string, unknown>
    if (e.keyword === 'additionalProperties') {
      for (const extra of (params['additionalProperties'] as string[]) ?? []) {
        const key = pointerToKey(`${e.instancePath}/${extra}`)
        byPath.set(key, { key, value: getPointer(value, `${e.instancePath}/${extra}`), expected: 'no such key (typo?)', source: fileLabel })
      }
      continue
    }
    if (e.keyword === 'required') {
      for (const req of (params['requiredProperties'] as string[]) ?? []) {
        const key = pointerToKey(`${e.instancePath}/${req}`)
        byPath.set(key, { key, value: undefined, expected: 'a value (required key is missing)', source: fileLabel })
      }
      continue
    }
    if (e.keyword === 'anyOf') continue
    const key = pointerToKey(e.instancePath)
    const expected = describeExpected(e.keyword, params, e.message)
    const prev = byPath.get(key)
    const source = envSourced.get(key) ?? fileLabel
    if (prev) prev.expected = `${prev.expected} or ${expected}`
    else byPath.set(key, { key, value: getPointer(value, e.instancePath), expected, source })
  }
  return [...byPath.values()]
}

/**
 * Cross-references the schema cannot express (shared with the admin API's checks). With `ok`, only the
 * sections it calls well typed are checked (a config with type errors still gets every other problem named).
 */
export function semanticIssues(c: Config, ok: (section: keyof Config) => boolean = () => true): Omit<ConfigIssue, 'source'>[] {
  const out: Omit<ConfigIssue, 'source'>[] = []
  const layoutOk = ok('layout')
  if (layoutOk) out.push(...layoutProblems(c.layout).map((p) => ({ key: `layout.${p.path}`, value: p.value, expected: p.expected })))
  const zoneIds = layoutOk ? new Set(c.layout.zones.map((z) => z.id)) : null
  if (ok('members')) {
    const memberIds = new Set<string>()
    c.members.forEach((m, i) => {
      if (memberIds.has(m.memberId)) out.push({ key: `members[${i}].memberId`, value: m.memberId, expected: 'a member id used once' })
      memberIds.add(m.memberId)
    })
  }
  if (ok('campaigns')) {
    const campaignIds = new Set<string>()
    c.campaigns.forEach((cp, i) => {
      if (campaignIds.has(cp.id)) out.push({ key: `campaigns[${i}].id`, value: cp.id, expected: 'a campaign id used once' })
      campaignIds.add(cp.id)
      if (zoneIds) for (const p of campaignProblems(cp, zoneIds)) out.push({ key: `campaigns[${i}].${p.path}`, value: p.value, expected: p.expected })
    })
  }
  if (ok('assist') && zoneIds) {
    c.assist.zones.forEach((z, i) => {
      if (!zoneIds.has(z.zone)) out.push({ key: `assist.zones[${i}].zone`, value: z.zone, expected: `a zone of the layout (${[...zoneIds].slice(0, 8).join(', ') || 'none'})` })
    })
  }
  if (ok('member') && c.member.jwt.alg === 'ES256' && !c.member.jwt.publicKey) out.push({ key: 'member.jwt.publicKey', value: undefined, expected: 'an SPKI PEM public key (alg is ES256)' })
  if (ok('store')) {
    try {
      new Intl.DateTimeFormat('en', { timeZone: c.store.timezone })
    } catch {
      out.push({ key: 'store.timezone', value: c.store.timezone, expected: 'an IANA time zone such as Europe/Berlin' })
    }
  }
  return out
}

export function formatIssues(issues: ConfigIssue[], sources: string[]): string {
  const lines = issues.map((i) => {
    const shown = i.value === undefined ? '(missing)' : JSON.stringify(i.value)?.slice(0, 120)
    const from = i.source === 'defaults' ? '' : ` (from ${i.source})`
    return `  - ${i.key} = ${shown}${from}: expected ${i.expected}`
  })
  return `Invalid configuration (${sources.join(', ')}):\n${lines.join('\n')}`
}
