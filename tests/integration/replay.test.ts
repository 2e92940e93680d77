/**
 * Presence on real recordings (../shared/data, not part of a user's clone: skipped when absent).
 * Guards the figures the README reports: the fingerprint locator with Kalman smoothing, on the time split.
 */
import t from 'tap'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { evaluate } from '../../edge/presence/evaluate.js'
import type { PresenceConfig } from '../../edge/presence/factory.js'
import { loadEsiiab, loadWaldo } from '../../devices/replay/datasets.js'

const data = join(packageRoot(), '..', 'shared', 'data')
const skip = existsSync(join(data, 'ble-rssi-esiiab-sectors')) ? false : `no recorded datasets at ${data} (they are not part of the repository); run npm run replay -- --data <folder> where you have them`
const base: PresenceConfig = loadConfig({ env: {} }).config.presence
const fingerprint: PresenceConfig = { ...base, locator: 'fingerprint' }

t.test('ESIIAB sectors, Tx -8 dBm: beats plain 5-NN (0.48) and reaches 0.65 streaming', { skip }, async (t) => {
  const r = evaluate(loadEsiiab(data, 'Tx_8.csv'), fingerprint)
  t.ok(r.single.accuracy >= 0.45, `single-scan accuracy ${r.single.accuracy.toFixed(3)}`)
  t.ok(r.streaming.accuracy >= 0.65, `streaming accuracy ${r.streaming.accuracy.toFixed(3)}`)
  t.ok(r.streaming.top2 >= 0.75, `top-2 ${r.streaming.top2.toFixed(3)}`)
  t.equal(r.single.n, 28 * 30, 'the last 30% of each of the 28 sectors')
})

t.test('Waldo library, 3 x 3 cell zones', { skip }, async (t) => {
  const ds = loadWaldo(data)
  t.equal(ds.sequences.length, 20)
  const r = evaluate(ds, fingerprint)
  t.ok(r.streaming.accuracy >= 0.65, `streaming accuracy ${r.streaming.accuracy.toFixed(3)}`)
  t.ok(r.walk.missed <= 2, `walks missed ${r.walk.missed}`)
})
