import { readFileSync } from 'node:fs'
const file = process.argv[2] ?? '../shared/data/ble-rssi-esiiab-sectors/data/Tx_8.csv'
const rows = readFileSync(file, 'utf8').trim().split('\n').slice(1).map((l) => l.split(',').map(Number))
const byZone = new Map<number, number[][]>()
for (const r of rows) { const z = r[6]!; if (!byZone.has(z)) byZone.set(z, []); byZone.get(z)!.push(r.slice(0, 6)) }
const train: { z: number; v: number[] }[] = [], test: { z: number; seq: number[][] }[] = []
for (const [z, list] of byZone) { const cut = Math.floor(list.length * 0.7); for (const v of list.slice(0, cut)) train.push({ z, v }); test.push({ z, seq: list.slice(cut) }) }
const dist = (a: number[], b: number[]) => { let s = 0; for (let i = 0; i < a.length; i++) s += (a[i]! - b[i]!) ** 2; return s }
function knn(v: number[], k: number, set = train): number[] {
  const d = set.map((t) => ({ z: t.z, d: dist(v, t.v) })).sort((a, b) => a.d - b.d).slice(0, k)
  const votes = new Map<number, number>(); for (const x of d) votes.set(x.z, (votes.get(x.z) ?? 0) + 1 / (Math.sqrt(x.d) + 1))
  return [...votes].sort((a, b) => b[1] - a[1]).map((x) => x[0])
}
// gaussian NB
const stats = new Map<number, { mu: number[]; sd: number[] }>()
for (const [z, list] of byZone) { const tr = list.slice(0, Math.floor(list.length * 0.7)); const mu = [0,1,2,3,4,5].map((i) => tr.reduce((s, v) => s + v[i]!, 0) / tr.length); const sd = [0,1,2,3,4,5].map((i) => Math.max(2, Math.sqrt(tr.reduce((s, v) => s + (v[i]! - mu[i]!) ** 2, 0) / tr.length))); stats.set(z, { mu, sd }) }
function nb(v: number[], shrink = 1): number[] { return [...stats].map(([z, s]) => ({ z, ll: v.reduce((acc, x, i) => acc - ((x - s.mu[i]!) ** 2) / (2 * (s.sd[i]! ** 2) * shrink) - Math.log(s.sd[i]!), 0) })).sort((a, b) => b.ll - a.ll).map((x) => x.z) }
function cen(v: number[]): number[] { return [...stats].map(([z, s]) => ({ z, d: dist(v, s.mu) })).sort((a, b) => a.d - b.d).map((x) => x.z) }
const smooth = (seq: number[][], i: number, w: number, how: string) => {
  const win = seq.slice(Math.max(0, i - w + 1), i + 1)
  return [0,1,2,3,4,5].map((k) => { const xs = win.map((v) => v[k]!).sort((a, b) => a - b); if (how === 'mean') return xs.reduce((a, b) => a + b, 0) / xs.length; if (how === 'median') return xs[Math.floor(xs.length / 2)]!; return xs[Math.floor(xs.length * 0.75)]! })
}
for (const [name, f] of [['5nn', (v: number[]) => knn(v, 5)], ['nb', (v: number[]) => nb(v)], ['centroid', cen]] as const) {
  for (const [w, how] of [[1, 'mean'], [5, 'mean'], [5, 'median'], [10, 'mean'], [10, 'median'], [10, 'p75']] as const) {
    let ok = 0, ok2 = 0, n = 0
    for (const t of test) for (let i = 0; i < t.seq.length; i++) { const r = (f as any)(smooth(t.seq, i, w, how)); n++; if (r[0] === t.z) ok++; if (r.slice(0, 2).includes(t.z)) ok2++ }
    console.log(name.padEnd(9), `w=${w} ${how}`.padEnd(12), (ok / n).toFixed(3), 'top2', (ok2 / n).toFixed(3))
  }
}
console.log('--- train on smoothed windows too')
for (const [w, how] of [[5, 'mean'], [5, 'median'], [10, 'mean'], [10, 'median'], [15, 'mean'], [20, 'mean']] as const) {
  const strain: { z: number; v: number[] }[] = []
  for (const [z, list] of byZone) { const tr = list.slice(0, Math.floor(list.length * 0.7)); for (let i = 0; i < tr.length; i++) strain.push({ z, v: smooth(tr, i, w, how) }) }
  for (const k of [1, 5, 9]) {
    let ok = 0, ok2 = 0, n = 0
    for (const t of test) for (let i = 0; i < t.seq.length; i++) { const r = knn(smooth(t.seq, i, w, how), k, strain); n++; if (r[0] === t.z) ok++; if (r.slice(0, 2).includes(t.z)) ok2++ }
    console.log(`knn k=${k}`.padEnd(9), `w=${w} ${how}`.padEnd(12), (ok / n).toFixed(3), 'top2', (ok2 / n).toFixed(3))
  }
}
console.log('--- kalman smoothing (train and test)')
function kalmanSeq(seq: number[][], q: number, r: number, gate: number): number[][] {
  const out: number[][] = []; const x = seq[0]!.slice(); const P = x.map(() => r); const rej = x.map(() => 0)
  for (let i = 0; i < seq.length; i++) {
    const v = seq[i]!
    for (let k = 0; k < v.length; k++) {
      if (i === 0) continue
      P[k]! += q
      const y = v[k]! - x[k]!; const S = P[k]! + r
      if (Math.abs(y) > gate * Math.sqrt(S)) { rej[k]!++; if (rej[k]! >= 3) { x[k] = v[k]!; P[k] = r; rej[k] = 0 } continue }
      rej[k] = 0
      const K = P[k]! / S; x[k]! += K * y; P[k] = (1 - K) * P[k]!
    }
    out.push(x.slice())
  }
  return out
}
for (const [q, r, gate] of [[0.5, 16, 3], [0.2, 16, 2.5], [0.1, 25, 2.5], [0.05, 25, 2], [1, 9, 3]] as const) {
  const strain: { z: number; v: number[] }[] = []
  for (const [z, list] of byZone) { const tr = list.slice(0, Math.floor(list.length * 0.7)); const ks = kalmanSeq(tr, q, r, gate); ks.forEach((v, i) => { if (i >= 5) strain.push({ z, v }) }) }
  for (const k of [5, 9]) {
    let ok = 0, ok2 = 0, n = 0
    for (const t of test) { const ks = kalmanSeq(t.seq, q, r, gate); for (let i = 0; i < ks.length; i++) { const res = knn(ks[i]!, k, strain); n++; if (res[0] === t.z) ok++; if (res.slice(0, 2).includes(t.z)) ok2++ } }
    console.log(`knn k=${k}`.padEnd(9), `kalman q=${q} r=${r} g=${gate}`.padEnd(24), (ok / n).toFixed(3), 'top2', (ok2 / n).toFixed(3))
  }
}
