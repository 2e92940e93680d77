/** Campaign uplift confidence intervals: Wilson for a rate, Newcombe's hybrid score interval for a difference. */
import t from 'tap'
import { newcombeDiff, wilson } from '../../edge/features/figures.js'

const r4 = (x: number) => Math.round(x * 10_000) / 10_000

t.test('Wilson score interval (Newcombe 1998, table I)', async (t) => {
  t.same(Object.values(wilson(81, 263)!).map(r4), [0.2553, 0.3662])
  t.same(Object.values(wilson(15, 148)!).map(r4), [0.0624, 0.1605])
  t.same(Object.values(wilson(0, 20)!).map(r4), [0, 0.1611], 'stays inside [0, 1] at 0 successes')
  t.equal(wilson(0, 0), null)
})

t.test('Newcombe hybrid score interval for a difference of proportions (Newcombe 1998, table II)', async (t) => {
  t.same(Object.values(newcombeDiff(56, 70, 48, 80)!).map(r4), [0.0524, 0.3339])
  t.same(Object.values(newcombeDiff(9, 10, 3, 10)!).map(r4), [0.1705, 0.8090])
  // a group with no conversions (a small holdout): the interval stays honest, not a zero-width Wald interval
  const z = newcombeDiff(5, 56, 0, 29)!
  t.ok(z.low < 0 && z.high > 5 / 56 && z.high < 1, `${r4(z.low)}..${r4(z.high)} holds 0 and the estimate`)
  const same = newcombeDiff(30, 100, 3, 10)!
  t.ok(same.low < 0 && same.high > 0, 'equal rates: the interval holds 0')
  t.ok(r4(same.high - 0) > r4(0 - same.low) - 0.2, 'roughly symmetric around 0')
  t.equal(newcombeDiff(3, 10, 0, 0), null, 'no holdout exposures yet: no interval')
})
