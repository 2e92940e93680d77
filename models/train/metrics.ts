/** Ranking and calibration metrics for binary outcomes. */

/** ROC AUC by the rank-sum formula, ties given their average rank. */
export function rocAuc(scores: ArrayLike<number>, labels: ArrayLike<number>): number {
  const n = scores.length
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[a]! - scores[b]!)
  const ranks = new Float64Array(n)
  for (let i = 0; i < n;) {
    let j = i
    while (j + 1 < n && scores[order[j + 1]!] === scores[order[i]!]) j++
    const avg = (i + j) / 2 + 1
    for (let k = i; k <= j; k++) ranks[order[k]!] = avg
    i = j + 1
  }
  let pos = 0, sum = 0
  for (let i = 0; i < n; i++) if (labels[i]) { pos++; sum += ranks[i]! }
  const neg = n - pos
  if (pos === 0 || neg === 0) return NaN
  return (sum - (pos * (pos + 1)) / 2) / (pos * neg)
}

export function logLoss(probs: ArrayLike<number>, labels: ArrayLike<number>): number {
  let s = 0
  for (let i = 0; i < probs.length; i++) {
    const q = Math.min(1 - 1e-12, Math.max(1e-12, probs[i]!))
    s -= labels[i] ? Math.log(q) : Math.log(1 - q)
  }
  return s / Math.max(1, probs.length)
}

/** Share of positives among the top `fraction` of rows by score. */
export function precisionAt(scores: ArrayLike<number>, labels: ArrayLike<number>, fraction: number): number {
  const n = scores.length
  const k = Math.max(1, Math.round(n * fraction))
  const top = Array.from({ length: n }, (_, i) => i).sort((a, b) => scores[b]! - scores[a]!).slice(0, k)
  return top.reduce((s, i) => s + (labels[i] ? 1 : 0), 0) / k
}

export interface Metrics { auc: number; logLoss: number; precisionTop5: number; liftTop5: number; rows: number; positives: number }

export function evaluateScores(scores: ArrayLike<number>, labels: ArrayLike<number>): Metrics {
  let pos = 0
  for (let i = 0; i < labels.length; i++) if (labels[i]) pos++
  const base = pos / Math.max(1, labels.length)
  const p5 = precisionAt(scores, labels, 0.05)
  return { auc: rocAuc(scores, labels), logLoss: logLoss(scores, labels), precisionTop5: p5, liftTop5: base > 0 ? p5 / base : NaN, rows: labels.length, positives: pos }
}
