/**
 * Per subject-anchor RSSI smoothing with outlier rejection. A smoother keeps its state in the engine's packed
 * per-subject buffer: entry layout is [anchor, ts, value, ...state], `value` being the smoothed RSSI.
 * Three are measured on recorded data (npm run replay): an EMA (the first step), a 1-D Kalman filter with
 * innovation gating, and a robust percentile window (median of the last N, as ESPresense smooths distance).
 */
export interface Smoother {
  readonly name: string
  /** floats of state after the value slot */
  readonly stateSize: number
  /** first reading of a subject-anchor pair: write value and state at buf[o] (o = offset of the value slot) */
  init(buf: Float64Array, o: number, rssi: number): void
  /** a new reading `dtMs` after the previous one; updates buf[o] (the value) and returns false if rejected as an outlier */
  update(buf: Float64Array, o: number, rssi: number, dtMs: number): boolean
}

/**
 * Exponential moving average. With `tauSeconds` it is one in time, not in readings: a reading `dt` after the
 * previous one weighs 1 - e^(-dt/tau), so the time constant is the same whether a scanner hears a subject twice
 * a second or a phone reports once a second. Without it, every reading weighs `alpha`.
 */
export class EmaSmoother implements Smoother {
  readonly name: string
  readonly stateSize = 0
  private readonly tauMs: number
  constructor(private readonly alpha = 0.35, tauSeconds = 0) {
    this.tauMs = tauSeconds * 1000
    this.name = tauSeconds > 0 ? `ema-${tauSeconds}s` : 'ema'
  }
  init(buf: Float64Array, o: number, rssi: number): void { buf[o] = rssi }
  update(buf: Float64Array, o: number, rssi: number, dtMs = 1000): boolean {
    const w = this.tauMs > 0 ? 1 - Math.exp(-Math.max(dtMs, 1) / this.tauMs) : this.alpha
    buf[o] = buf[o]! + w * (rssi - buf[o]!)
    return true
  }
}

/**
 * 1-D Kalman filter on RSSI (a random walk: process noise q per second, measurement noise r). A reading whose
 * innovation exceeds `gate` standard deviations is rejected as an outlier (a reflection, a body in the way);
 * `resetAfter` consecutive rejections mean the signal really moved, and the filter restarts from the reading.
 * State: [P (variance), consecutive rejections].
 */
export class KalmanSmoother implements Smoother {
  readonly name = 'kalman'
  readonly stateSize = 2
  constructor(private readonly q = 0.2, private readonly r = 16, private readonly gate = 2.5, private readonly resetAfter = 3) {}
  init(buf: Float64Array, o: number, rssi: number): void {
    buf[o] = rssi
    buf[o + 1] = this.r
    buf[o + 2] = 0
  }
  update(buf: Float64Array, o: number, rssi: number, dtMs: number): boolean {
    const p = buf[o + 1]! + this.q * Math.max(dtMs, 1) / 1000
    const y = rssi - buf[o]!
    const s = p + this.r
    if (y * y > this.gate * this.gate * s) {
      const rejected = buf[o + 2]! + 1
      if (rejected >= this.resetAfter) {
        this.init(buf, o, rssi)
        return true
      }
      buf[o + 1] = p
      buf[o + 2] = rejected
      return false
    }
    const k = p / s
    buf[o] = buf[o]! + k * y
    buf[o + 1] = (1 - k) * p
    buf[o + 2] = 0
    return true
  }
}

/**
 * Robust percentile window: the `percentile` of the last `size` readings (0.5 = median). Outliers move it only
 * when they become the majority. State: [count, head, v0..v(size-1)].
 */
export class PercentileSmoother implements Smoother {
  readonly name: string
  readonly stateSize: number
  private readonly scratch: Float64Array
  constructor(private readonly size = 9, private readonly percentile = 0.5) {
    this.stateSize = 2 + size
    this.scratch = new Float64Array(size)
    this.name = `percentile-${size}-${Math.round(percentile * 100)}`
  }
  init(buf: Float64Array, o: number, rssi: number): void {
    buf[o] = rssi
    buf[o + 1] = 1
    buf[o + 2] = 1
    buf[o + 3] = rssi
  }
  update(buf: Float64Array, o: number, rssi: number): boolean {
    const size = this.size
    const count = Math.min(size, buf[o + 1]! + 1)
    const head = buf[o + 2]!
    buf[o + 3 + head] = rssi
    buf[o + 1] = count
    buf[o + 2] = (head + 1) % size
    const s = this.scratch
    for (let i = 0; i < count; i++) s[i] = buf[o + 3 + i]!
    // insertion sort: a handful of values
    for (let i = 1; i < count; i++) {
      const v = s[i]!
      let j = i - 1
      while (j >= 0 && s[j]! > v) { s[j + 1] = s[j]!; j-- }
      s[j + 1] = v
    }
    buf[o] = s[Math.min(count - 1, Math.floor(this.percentile * count))]!
    return true
  }
}

export type SmootherName = 'ema' | 'kalman' | 'percentile'

export function makeSmoother(name: SmootherName, opts: { alpha?: number; tau?: number; q?: number; r?: number; gate?: number; window?: number; percentile?: number } = {}): Smoother {
  switch (name) {
    case 'ema': return new EmaSmoother(opts.alpha, opts.tau ?? 0)
    case 'kalman': return new KalmanSmoother(opts.q, opts.r, opts.gate)
    case 'percentile': return new PercentileSmoother(opts.window, opts.percentile)
  }
}
