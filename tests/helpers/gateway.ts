/** Start a gateway in-process on free loopback ports with a temporary data folder. */
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { loadConfig, deepMerge } from '../../edge/config/load.js'
import type { Config } from '../../edge/config/schema.js'
import { ManualClock, type Clock } from '../../edge/core/clock.js'
import { createLogger } from '../../edge/core/log.js'
import { startGateway, type Gateway } from '../../edge/gateway.js'
import { freePort } from './net.js'

export const TEST_ADMIN = 'test-admin-token'
export const TEST_VIEWER = 'test-viewer-token'
export const TEST_OPERATOR = 'test-operator-token'

export const MEMBER_KEY = '11'.repeat(32)
export const OTHER_KEY = '22'.repeat(32)
export const NOCONSENT_KEY = '33'.repeat(32)

/** A small store: two zones with one scanner each, a dwell campaign at the fridge. */
export function testStore(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return deepMerge({
    store: { id: 'test', name: 'test store', timezone: 'Europe/Berlin' },
    layout: {
      zones: [
        { id: 'fridge-dairy', kind: 'fridge', dwellSeconds: 10 },
        { id: 'bakery', kind: 'counter' },
      ],
      anchors: [
        { id: 'scn-dairy', kind: 'scanner', zone: 'fridge-dairy', x: 0, y: 0, txPower: -59 },
        { id: 'scn-bakery', kind: 'scanner', zone: 'bakery', x: 20, y: 0, txPower: -59 },
      ],
    },
    members: [
      { memberId: 'm-1', key: MEMBER_KEY, consent: { offers: true, location: true }, tier: 'gold' },
      { memberId: 'm-2', key: OTHER_KEY, consent: { offers: true, location: true } },
      { memberId: 'm-3', key: NOCONSENT_KEY, consent: { offers: false, location: true } },
    ],
    campaigns: [
      { id: 'dairy-10s', title: '20% off yoghurt', body: 'Today only', trigger: { kind: 'dwell', zone: 'fridge-dairy', seconds: 10 }, offer: { category: 'dairy', discount: { kind: 'percent', value: 20 } }, limits: { perMemberPerDay: 1 }, validMinutes: 30 },
    ],
    admin: {
      tokens: [
        { name: 'viewer', role: 'viewer', sha256: sha(TEST_VIEWER) },
        { name: 'operator', role: 'operator', sha256: sha(TEST_OPERATOR) },
      ],
    },
    log: { level: 'silent' },
    // most tests play the devices themselves over one anonymous connection (a lab); tests/security and the
    // demo run with device identity on, as a store does
    mqtt: { allowAnonymous: true },
  }, overrides) as Record<string, unknown>
}

import { createHash } from 'node:crypto'
export const sha = (s: string): string => createHash('sha256').update(s).digest('hex')

export interface TestGateway {
  gw: Gateway
  clock: Clock
  dataDir: string
  config: Config
  logs: string[]
  close(): Promise<void>
}

export async function startTestGateway(opts: { overlay?: Record<string, unknown>; clock?: Clock; mqttUrl?: string; dataDir?: string; env?: Record<string, string>; clientId?: string } = {}): Promise<TestGateway> {
  const dataDir = opts.dataDir ?? mkdtempSync(join(tmpdir(), 'aisle-test-'))
  const httpPort = await freePort()
  const mqttPort = await freePort()
  const overlay = deepMerge(testStore(opts.overlay ?? {}), {
    dataDir,
    http: { host: '127.0.0.1', port: httpPort },
    mqtt: { url: opts.mqttUrl ?? null, embedded: { host: '127.0.0.1', port: mqttPort }, clientId: opts.clientId ?? `aisle-test-${process.pid}-${httpPort}` },
  }) as Record<string, unknown>
  const { config, envAdminToken } = loadConfig({ env: { AISLE_ADMIN_TOKEN: TEST_ADMIN, ...(opts.env ?? {}) }, overlay })
  const logs: string[] = []
  const log = createLogger({ level: 'debug', destination: new Writable({ write(chunk, _e, cb) { logs.push(String(chunk)); cb() } }) as never })
  // a fixed virtual time unless a test brings its own clock: no test depends on the day it runs
  const clock = opts.clock ?? new ManualClock(Date.UTC(2026, 0, 5, 9, 0, 0))
  const gw = await startGateway({ config, envAdminToken, clock, log })
  return {
    gw, clock, dataDir, config, logs,
    async close() {
      await gw.stop()
      if (!opts.dataDir) rmSync(dataDir, { recursive: true, force: true })
    },
  }
}
