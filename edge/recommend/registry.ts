/**
 * The model registry: loads recommender models from a folder with a manifest (models/ in the package, or a
 * configured path), verifies each file's SHA-256 against the manifest and its feature version against the
 * gateway's, swaps a new model in atomically while decisions continue (a decision keeps the scorer it
 * started with), keeps the previous one for rollback, and never lets a corrupt or wrong-shaped file replace
 * a working model.
 */
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Logger } from '../core/log.js'
import { FEATURE_VERSION } from './features.js'
import { ModelError, Scorer } from './scorer.js'

export interface ManifestEntry { name: string; file: string; sha256: string; featureVersion: string; architecture?: string; trainedAt?: string; auc?: number; /** the CRM's version of a model pulled from it */ crmVersion?: string }
export interface Manifest { default?: string; models: ManifestEntry[] }

export interface LoadedModel { version: string; entry: ManifestEntry; scorer: Scorer; loadedAt: number }

export interface RegistryState {
  active: { version: string; name: string; architecture: string | null; trainedAt: string | null; loadedAt: string } | null
  previous: { version: string } | null
  lastError: string | null
  available: ManifestEntry[]
}

export const versionOf = (e: Pick<ManifestEntry, 'name' | 'sha256'>): string => `${e.name}@${e.sha256.slice(0, 12)}`
const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

export class ModelRegistry {
  private current: LoadedModel | null = null
  private previous: LoadedModel | null = null
  private lastError: string | null = null
  private readonly retiring = new Set<NodeJS.Timeout>()

  /** dirs: where manifests live, first wins for a name (the gateway's own data dir, then the shipped models/) */
  constructor(private readonly dirs: string[], private readonly log: Logger, private readonly now: () => number = Date.now) {}

  get active(): LoadedModel | null { return this.current }

  manifest(): Manifest {
    const models = new Map<string, ManifestEntry & { dir: string }>()
    let def: string | undefined
    for (const dir of this.dirs) {
      const file = join(dir, 'manifest.json')
      if (!existsSync(file)) continue
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as Manifest
        def ??= m.default
        for (const e of m.models ?? []) if (!models.has(e.name)) models.set(e.name, { ...e, dir })
      } catch (err) {
        this.log.warn({ file, err: (err as Error).message }, 'model manifest unreadable')
      }
    }
    return { ...(def ? { default: def } : {}), models: [...models.values()] }
  }

  private locate(name: string): { entry: ManifestEntry; path: string } | null {
    for (const dir of this.dirs) {
      const file = join(dir, 'manifest.json')
      if (!existsSync(file)) continue
      try {
        const m = JSON.parse(readFileSync(file, 'utf8')) as Manifest
        const e = m.models?.find((x) => x.name === name)
        if (e) return { entry: e, path: join(dir, e.file) }
      } catch { /* reported by manifest() */ }
    }
    return null
  }

  /** Load a model by name (default: the manifest's default) and make it active. Never throws. */
  async activate(name?: string): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
    const wanted = name ?? this.manifest().default
    if (!wanted) return this.refuse('no model named and no default in any manifest')
    const found = this.locate(wanted)
    if (!found) return this.refuse(`no model ${wanted} in ${this.dirs.join(', ')}`)
    let bytes: Uint8Array
    try {
      bytes = readFileSync(found.path)
    } catch (err) {
      return this.refuse(`model ${wanted}: cannot read ${found.path} (${(err as NodeJS.ErrnoException).code ?? 'error'})`)
    }
    return this.install(found.entry, bytes)
  }

  /** Check and swap in a model from bytes. The working model stays unless the new one is fully valid. */
  async install(entry: ManifestEntry, bytes: Uint8Array): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
    const digest = sha256(bytes)
    if (digest !== entry.sha256.toLowerCase()) return this.refuse(`model ${entry.name}: SHA-256 ${digest.slice(0, 12)}... does not match the manifest (${entry.sha256.slice(0, 12)}...); file corrupt or replaced`)
    if (entry.featureVersion !== FEATURE_VERSION) return this.refuse(`model ${entry.name}: trained for features ${entry.featureVersion}, the gateway builds ${FEATURE_VERSION}`)
    let scorer: Scorer
    try {
      scorer = await Scorer.load(bytes)
    } catch (err) {
      return this.refuse(`model ${entry.name}: ${err instanceof ModelError ? err.message : String(err)}`)
    }
    const next: LoadedModel = { version: versionOf(entry), entry, scorer, loadedAt: this.now() }
    if (this.previous) this.retire(this.previous)
    this.previous = this.current
    this.current = next
    this.lastError = null
    this.log.info({ model: next.version, previous: this.previous?.version ?? null }, 'recommender model active')
    return { ok: true, version: next.version }
  }

  /** Store an uploaded model in `dir` (the gateway's data folder), add it to that manifest and activate it. */
  async upload(dir: string, name: string, bytes: Uint8Array, expectedSha: string, meta: { architecture?: string; crmVersion?: string } = {}): Promise<{ ok: true; version: string } | { ok: false; error: string }> {
    const entry: ManifestEntry = { name, file: `${name}.onnx`, sha256: expectedSha.toLowerCase(), featureVersion: FEATURE_VERSION, ...(meta.architecture ? { architecture: meta.architecture } : {}), ...(meta.crmVersion ? { crmVersion: meta.crmVersion } : {}), trainedAt: new Date(this.now()).toISOString() }
    const r = await this.install(entry, bytes)
    if (!r.ok) return r
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, `${entry.file}.tmp`), bytes)
    renameSync(join(dir, `${entry.file}.tmp`), join(dir, entry.file))
    const mf = join(dir, 'manifest.json')
    const m = existsSync(mf) ? JSON.parse(readFileSync(mf, 'utf8')) as Manifest : { models: [] }
    m.models = [...(m.models ?? []).filter((x) => x.name !== name), entry]
    m.default = name
    writeFileSync(`${mf}.tmp`, `${JSON.stringify(m, null, 2)}\n`)
    renameSync(`${mf}.tmp`, mf)
    return r
  }

  /** Go back to the previous model. */
  rollback(): { ok: true; version: string } | { ok: false; error: string } {
    if (!this.previous) return { ok: false, error: 'no previous model to roll back to' }
    const cur = this.current
    this.current = this.previous
    this.previous = cur
    this.log.info({ model: this.current.version }, 'recommender rolled back')
    return { ok: true, version: this.current.version }
  }

  state(): RegistryState {
    const a = this.current
    return {
      active: a ? { version: a.version, name: a.entry.name, architecture: a.entry.architecture ?? null, trainedAt: a.entry.trainedAt ?? null, loadedAt: new Date(a.loadedAt).toISOString() } : null,
      previous: this.previous ? { version: this.previous.version } : null,
      lastError: this.lastError,
      available: this.manifest().models.map(({ dir: _d, ...e }: ManifestEntry & { dir?: string }) => e),
    }
  }

  async close(): Promise<void> {
    for (const t of this.retiring) clearTimeout(t)
    this.retiring.clear()
    for (const m of [this.current, this.previous]) if (m) await m.scorer.release().catch(() => {})
    this.current = null
    this.previous = null
  }

  private refuse(error: string): { ok: false; error: string } {
    this.lastError = error
    this.log.error({ error, active: this.current?.version ?? null }, 'recommender model refused; the working model stays')
    return { ok: false, error }
  }

  /** Release a model once decisions that started with it have finished. */
  private retire(m: LoadedModel): void {
    const t = setTimeout(() => {
      this.retiring.delete(t)
      void m.scorer.release().catch(() => {})
    }, 5000)
    t.unref()
    this.retiring.add(t)
  }
}
