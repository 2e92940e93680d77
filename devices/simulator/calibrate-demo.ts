/**
 * npm run demo:calibrate
 *
 * Walks a calibration tag through every zone of the demo store under the simulator's radio model and
 * records fingerprints exactly as the gateway's calibration flow does (same smoothing, same recorder), into
 * config/demo-calibration.json. The demo store seeds its calibration from that file on first start.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadConfig, packageRoot } from '../../edge/config/load.js'
import { recordCalibration } from '../../edge/presence/evaluate.js'
import { checkFingerprints } from '../../edge/presence/model-check.js'
import { zoneRecordings } from './recordings.js'

const root = packageRoot()
const { config } = loadConfig({ file: join(root, 'config', 'demo-store.json'), env: {} })
const walks = zoneRecordings(config.layout, 90, 20261122)
const prints = recordCalibration(config.layout, config.presence, walks)
const check = checkFingerprints(prints, { k: config.presence.knn, bandwidth: config.presence.fingerprintBandwidth })
const out = join(root, 'config', 'demo-calibration.json')
writeFileSync(out, `[\n${prints.map((p) => JSON.stringify(p)).join(',\n')}\n]\n`)
console.log(`${prints.length} fingerprints for ${new Set(prints.map((p) => p.zone)).size} zones written to ${out}; check accuracy ${check.accuracy.toFixed(2)}${check.problems.length ? `; problems: ${check.problems.join('; ')}` : ''}`)
