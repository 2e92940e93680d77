/**
 * The calibration flow for store IT: start a session (zone, the tag or phone being walked, seconds); while
 * it runs, the presence engine's smoothed signal vector for that subject is stored once a second as a
 * labelled fingerprint; `build` checks the fingerprints (time split per zone) and, when they are good
 * enough, stores the model and hands it to presence.
 */
import { readFileSync } from 'node:fs'
import type { Clock } from '../core/clock.js'
import type { Logger } from '../core/log.js'
import { CalibrationRecorder, type VectorSource } from '../presence/calibration.js'
import type { Fingerprint, FingerprintModelData } from '../presence/locators.js'
import { buildCheckedModel, type ModelCheck } from '../presence/model-check.js'
import type { Store } from '../storage/store.js'

export interface CalibrationSession { id: number; zone: string; subject: string; startedAt: string; endsAt: string; state: string; samples: number; createdBy: string }
export interface CalibrationStatus {
  sessions: CalibrationSession[]
  samples: Record<string, number>
  model: { builtAt: string; zones: string[]; anchors: number; fingerprints: number; check: ModelCheck } | null
}

interface Active { id: number; rec: CalibrationRecorder; samples: number }

export interface CalibrationDeps {
  store: Store
  clock: Clock
  log: Logger
  /** the presence engine's smoothed vectors, keyed by subject as presence sees it */
  vectors: () => VectorSource
  /** subject as heard -> presence's key */
  keyOf: (subject: string) => string
  zones: () => ReadonlySet<string>
  k: number
  bandwidth: number
  /** a new model is active */
  onModel: (model: FingerprintModelData) => void
}

export class CalibrationService {
  private readonly active = new Map<string, Active>()

  constructor(private readonly d: CalibrationDeps) {}

  /** Load the active model; seed samples from a file when the database has none (the demo store). */
  async init(file: string | undefined): Promise<FingerprintModelData | null> {
    const count = (await this.d.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM calibration_samples'))?.n ?? 0
    if (count === 0 && file) {
      const prints = JSON.parse(readFileSync(file, 'utf8')) as Fingerprint[]
      const now = this.d.clock.now()
      await this.d.store.writeNow(prints.map((p, i) => ({
        op: 'insert' as const, table: 'calibration_samples', columns: ['session_id', 'zone', 'ts', 'rssi', 'source'],
        row: [null, p.zone, now + i, JSON.stringify(p.rssi), 'file'],
      })))
      this.d.log.info({ file, fingerprints: prints.length }, 'calibration seeded from file')
      const built = await this.build('config')
      if ('problems' in built) this.d.log.warn({ problems: built.problems }, 'seeded calibration is not usable')
    }
    const row = await this.d.store.get<{ body: string }>('SELECT body FROM fingerprint_models WHERE active = 1 ORDER BY id DESC LIMIT 1')
    return row ? (JSON.parse(row.body) as FingerprintModelData) : null
  }

  async start(zone: string, subject: string, seconds: number, by: string): Promise<CalibrationSession | { problem: string }> {
    if (!this.d.zones().has(zone)) return { problem: `zone ${zone} is not in the layout` }
    const key = this.d.keyOf(subject)
    if (this.active.has(key)) return { problem: `a session for ${subject} is already recording` }
    const now = this.d.clock.now()
    const endsAt = now + seconds * 1000
    await this.d.store.writeNow([{ op: 'insert', table: 'calibration_sessions', columns: ['zone', 'subject', 'started_at', 'ends_at', 'state', 'created_by'], row: [zone, subject, now, endsAt, 'recording', by] }])
    const row = await this.d.store.get<{ id: number }>('SELECT id FROM calibration_sessions WHERE subject = ? AND started_at = ? ORDER BY id DESC LIMIT 1', [subject, now])
    const id = row!.id
    this.active.set(key, { id, rec: new CalibrationRecorder({ zone, subject: key, startedAt: now, seconds }), samples: 0 })
    this.d.log.info({ by, zone, session: id, seconds }, 'calibration session started')
    return { id, zone, subject, startedAt: new Date(now).toISOString(), endsAt: new Date(endsAt).toISOString(), state: 'recording', samples: 0, createdBy: by }
  }

  async cancel(id: number): Promise<boolean> {
    for (const [key, a] of this.active) {
      if (a.id !== id) continue
      this.active.delete(key)
      await this.d.store.writeNow([{ op: 'sql', sql: "UPDATE calibration_sessions SET state = 'cancelled', samples = ? WHERE id = ?", params: [a.samples, id] }])
      return true
    }
    return false
  }

  /** true while a session records: the ingest path then samples after each batch of readings */
  get recording(): boolean { return this.active.size > 0 }

  /** Called on every presence tick, and after readings while a session records. */
  tick(now: number): void {
    for (const [key, a] of this.active) {
      const p = a.rec.sample(this.d.vectors(), now)
      if (p) {
        a.samples++
        this.d.store.write([{ op: 'insert', table: 'calibration_samples', columns: ['session_id', 'zone', 'ts', 'rssi', 'source'], row: [a.id, p.zone, now, JSON.stringify(p.rssi), 'walk'] }]).catch((err) => this.d.log.error({ err }, 'calibration sample not stored'))
      }
      if (a.rec.done(now)) {
        this.active.delete(key)
        this.d.store.write([{ op: 'sql', sql: "UPDATE calibration_sessions SET state = 'done', samples = ? WHERE id = ?", params: [a.samples, a.id] }]).catch(() => {})
        this.d.log.info({ session: a.id, zone: a.rec.spec.zone, samples: a.samples }, a.samples > 0 ? 'calibration session done' : 'calibration session done without samples: was the subject heard?')
      }
    }
  }

  async build(by: string): Promise<{ model: FingerprintModelData; check: ModelCheck } | { problems: string[]; check?: ModelCheck }> {
    await this.d.store.queue.flush()
    const zones = this.d.zones()
    const rows = await this.d.store.all<{ zone: string; rssi: string }>('SELECT zone, rssi FROM calibration_samples ORDER BY zone, ts, id')
    const prints: Fingerprint[] = rows.filter((r) => zones.has(r.zone)).map((r) => ({ zone: r.zone, rssi: JSON.parse(r.rssi) as Record<string, number> }))
    if (prints.length === 0) return { problems: ['no calibration samples: walk each zone with a tag first'] }
    const { model, check } = buildCheckedModel(prints, { k: this.d.k, bandwidth: this.d.bandwidth })
    if (check.problems.length) return { problems: check.problems, check }
    const now = this.d.clock.now()
    await this.d.store.writeNow([
      { op: 'sql', sql: 'UPDATE fingerprint_models SET active = 0 WHERE active = 1' },
      { op: 'insert', table: 'fingerprint_models', columns: ['built_at', 'body', 'evaluation', 'active'], row: [now, JSON.stringify(model), JSON.stringify(check), 1] },
    ])
    this.d.log.info({ by, zones: model.zones.length, fingerprints: model.samples.length, accuracy: Math.round(check.accuracy * 100) / 100 }, 'fingerprint model built')
    this.d.onModel(model)
    return { model, check }
  }

  async deleteSamples(zone: string | undefined): Promise<number> {
    const before = (await this.d.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM calibration_samples'))?.n ?? 0
    await this.d.store.writeNow([zone ? { op: 'sql', sql: 'DELETE FROM calibration_samples WHERE zone = ?', params: [zone] } : { op: 'sql', sql: 'DELETE FROM calibration_samples' }])
    const after = (await this.d.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM calibration_samples'))?.n ?? 0
    return before - after
  }

  async status(): Promise<CalibrationStatus> {
    const sessions = await this.d.store.all<{ id: number; zone: string; subject: string; started_at: number; ends_at: number; state: string; samples: number; created_by: string }>('SELECT * FROM calibration_sessions ORDER BY id DESC LIMIT 50')
    const live = new Map([...this.active.values()].map((a) => [a.id, a.samples]))
    const counts = await this.d.store.all<{ zone: string; n: number }>('SELECT zone, COUNT(*) AS n FROM calibration_samples GROUP BY zone ORDER BY zone')
    const m = await this.d.store.get<{ built_at: number; body: string; evaluation: string }>('SELECT built_at, body, evaluation FROM fingerprint_models WHERE active = 1 ORDER BY id DESC LIMIT 1')
    const model = m ? (JSON.parse(m.body) as FingerprintModelData) : null
    return {
      sessions: sessions.map((s) => ({ id: s.id, zone: s.zone, subject: s.subject, startedAt: new Date(s.started_at).toISOString(), endsAt: new Date(s.ends_at).toISOString(), state: s.state, samples: live.get(s.id) ?? s.samples, createdBy: s.created_by })),
      samples: Object.fromEntries(counts.map((c) => [c.zone, c.n])),
      model: m && model ? { builtAt: new Date(m.built_at).toISOString(), zones: model.zones, anchors: model.anchors.length, fingerprints: model.samples.length, check: JSON.parse(m.evaluation) as ModelCheck } : null,
    }
  }
}
