/**
 * Ranking and calibration metrics for binary outcomes, weighted: a row with weight w counts as w rows (a
 * CRM that keeps 1 in 20 non-redeemed offers exports them with weight 20, and the figures then describe
 * the offers shown, not the sample). Without weights every row weighs 1 and these are the usual metrics.
 */

/** Indices sorted by score, ascending. */
export function orderByScore(scores: ArrayLike<number>): Uint32Array {
  const order = new Uint32Array(scores.length)
  for (let i = 0; i < order.length; i++) order[i] = i
  // Float64 keys with the index as a tie-breaker sort fast as numbers
  return order.sort((a, b) => scores[a]! - scores[b]! || a - b)
}

/**
 * ROC AUC: the chance that a random positive scores above a random negative (ties count half), each pair
 * weighted by the product of the rows' weights. `order` (from orderByScore) may be passed to save a sort;
 * `mult` multiplies each row's weight (the member bootstrap uses it for resampling counts).
 */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>, order: Uint32Array = orderByScore(scores), mult?: ArrayLike<number>): number {
  const n = order.length
  let negBelow = 0
  let area = 0
  let posTotal = 0
  for (let i = 0; i < n;) {
    let j = i
    let pos = 0
    let neg = 0
    const s = scores[order[i]!]!
    while (j < n && scores[order[j]!]! === s) {
      const r = order[j]!
      const w = (weights ? weights[r]! : 1) * (mult ? mult[r]! : 1)
      if (labels[r]) pos += w; else neg += w
      j++
    }
    area += pos * (negBelow + neg / 2)
    negBelow += neg
    posTotal += pos
    i = j
  }
  if (posTotal === 0 || negBelow === 0) return NaN
  return area / (posTotal * negBelow)
}

export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): number {
  let s = 0
  let wsum = 0
  for (let i = 0; i < probs.length; i++) {
    const q = Math.min(1 - 1e-12, Math.max(1e-12, probs[i]!))
    const w = weights ? weights[i]! : 1
    s -= w * (labels[i] ? Math.log(q) : Math.log(1 - q))
    wsum += w
  }
  return s / Math.max(1e-12, wsum)
}

/**
 * Weighted share of positives among the top `fraction` of the weight, by score. Where the cut falls inside
 * a group of tied scores, the group counts in proportion (the expectation over orders of the ties).
 */
export function precisionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, fraction: number, weights?: ArrayLike<number>, order: Uint32Array = orderByScore(scores)): number {
  let total = 0
  for (let i = 0; i < scores.length; i++) total += weights ? weights[i]! : 1
  const target = total * fraction
  let taken = 0
  let pos = 0
  for (let k = order.length - 1; k >= 0 && taken < target;) {
    const s = scores[order[k]!]!
    let gw = 0, gp = 0
    while (k >= 0 && scores[order[k]!]! === s) {
      const r = order[k]!
      const w = weights ? weights[r]! : 1
      gw += w
      if (labels[r]) gp += w
      k--
    }
    const share = Math.min(1, (target - taken) / gw)
    taken += gw * share
    pos += gp * share
  }
  return taken > 0 ? pos / taken : NaN
}

export interface Metrics { auc: number; logLoss: number; precisionTop5: number; liftTop5: number; rows: number; positives: number; /** sum of weights (= rows without weights) */ weight: number; /** weighted share redeemed */ rate: number; /** weighted mean score: against `rate` it shows calibration */ meanScore: number }

export function evaluateScores(scores: ArrayLike<number>, labels: ArrayLike<number>, weights?: ArrayLike<number>): Metrics {
  let pos = 0
  let wpos = 0
  let wsum = 0
  let ms = 0
  for (let i = 0; i < labels.length; i++) {
    const w = weights ? weights[i]! : 1
    wsum += w
    ms += w * scores[i]!
    if (labels[i]) { pos++; wpos += w }
  }
  const base = wpos / Math.max(1e-12, wsum)
  const order = orderByScore(scores)
  const p5 = precisionAt(scores, labels, 0.05, weights, order)
  return { auc: rocAuc(scores, labels, weights, order), logLoss: logLoss(scores, labels, weights), precisionTop5: p5, liftTop5: base > 0 ? p5 / base : NaN, rows: labels.length, positives: pos, weight: wsum, rate: base, meanScore: ms / Math.max(1e-12, wsum) }
}

export interface Interval { estimate: number; lo: number; hi: number }
export interface BootstrapResult {
  /** per model: AUC with a 95% interval */
  auc: Record<string, Interval>
  /** per model: AUC minus the reference model's AUC on the same resamples, with a 95% interval */
  diff: Record<string, Interval & { /** share of resamples where the model does not beat the reference */ pNotBetter: number }>
  resamples: number
  members: number
}

/**
 * Member bootstrap: resample the test members with replacement (all rows of a drawn member come along, as
 * many times as it was drawn) and recompute each model's weighted AUC; the paired difference to `reference`
 * on the same resamples says whether a model really beats it. Deterministic for a seed.
 */
export function memberBootstrap(models: Record<string, ArrayLike<number>>, labels: ArrayLike<number>, weights: ArrayLike<number> | undefined, members: ArrayLike<number>, reference: string, resamples = 500, seed = 1): BootstrapResult {
  const n = labels.length
  // dense member numbering for the test rows
  const ids = new Map<number, number>()
  const m = new Uint32Array(n)
  for (let i = 0; i < n; i++) {
    let k = ids.get(members[i]!)
    if (k === undefined) { k = ids.size; ids.set(members[i]!, k) }
    m[i] = k
  }
  const M = ids.size
  const names = Object.keys(models)
  const orders = Object.fromEntries(names.map((k) => [k, orderByScore(models[k]!)]))
  const draws: Record<string, number[]> = Object.fromEntries(names.map((k) => [k, []]))
  let state = (seed * 2654435761) >>> 0 || 1
  const rand = () => { state ^= state << 13; state >>>= 0; state ^= state >>> 17; state ^= state << 5; state >>>= 0; return state / 2 ** 32 }
  const count = new Float64Array(M)
  const mult = new Float64Array(n)
  for (let b = 0; b < resamples; b++) {
    count.fill(0)
    for (let k = 0; k < M; k++) count[Math.floor(rand() * M)]!++
    for (let i = 0; i < n; i++) mult[i] = count[m[i]!]!
    for (const k of names) draws[k]!.push(rocAuc(models[k]!, labels, weights, orders[k], mult))
  }
  const q = (xs: number[], p: number) => { const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b); return s.length ? s[Math.min(s.length - 1, Math.max(0, Math.floor(p * (s.length - 1) + 0.5)))]! : NaN }
  const auc: BootstrapResult['auc'] = {}
  const diff: BootstrapResult['diff'] = {}
  for (const k of names) {
    auc[k] = { estimate: rocAuc(models[k]!, labels, weights, orders[k]), lo: q(draws[k]!, 0.025), hi: q(draws[k]!, 0.975) }
    const d = draws[k]!.map((x, i) => x - draws[reference]![i]!)
    diff[k] = { estimate: auc[k]!.estimate - (auc[reference]?.estimate ?? rocAuc(models[reference]!, labels, weights, orders[reference])), lo: q(d, 0.025), hi: q(d, 0.975), pNotBetter: d.filter((x) => !(x > 0)).length / Math.max(1, d.length) }
  }
  return { auc, diff, resamples, members: M }
}
