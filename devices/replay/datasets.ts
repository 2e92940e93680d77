/**
 * Labelled BLE datasets as the presence engine sees them: a layout (zones, anchors with positions where the
 * dataset's documentation gives them) and, per zone, the scans in time order. Read from ../shared/data at run
 * time, never copied into the repository.
 *
 * - esiiab: ESIIAB sectors (UCLM): a phone hears 6 beacons in 28 sectors of about 1.2 x 1.2 m on two floors,
 *   100 scans per sector at each of three transmit powers. The combined files (Tx0, Tx_4, Tx_8) have all 28
 *   sectors; the ground-floor files (Tx0B, ...) have 21 and are the ones with a 2-D geometry for the position
 *   locator (sector grid and beacon positions from the README, the technical report and the floor map).
 * - waldo: UCI #435, Waldo Library: an iPhone hears 13 iBeacons; 1,420 labelled scans on a grid of cells
 *   (columns A-W, rows 1-18). Zones are blocks of 3 x 3 cells (about 9 x 9 m, an aisle or a counter):
 *   columns D-F, G-I, J-L, M-O, P-R, S-U, V-X by rows 1-3, 4-6, 7-9, 10-12, 13-15. Zones with fewer than 10
 *   scans are dropped. Cells are taken as 3 m; beacon positions are read off the published layout image.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Anchor, Layout, Zone } from '../../edge/contract/resources.js'
import { zoneRecordings } from '../simulator/recordings.js'

export interface Scan { ts: number; readings: { anchor: string; rssi: number }[] }
export interface Sequence { zone: string; scans: Scan[] }
export interface Dataset { name: string; layout: Layout; sequences: Sequence[]; notes: string }

const rect = (x0: number, y0: number, x1: number, y1: number): [number, number][] => [[x0, y0], [x1, y0], [x1, y1], [x0, y1]]

// ------------------------------------------------------------------ ESIIAB

/** sector number in a file -> zone id ('1a'..'7a', '1b'..'21b') */
function esiiabZone(sector: number, file: string): string {
  const floorOnly = /[AB]\.csv$/.exec(file)?.[0]?.[0]
  if (floorOnly === 'A') return `s-${sector}a`
  if (floorOnly === 'B') return `s-${sector}b`
  return sector <= 7 ? `s-${sector}a` : `s-${sector - 7}b`
}

/** Ground floor: 7 columns (x, 1.5 m pitch) by 3 rows; the row under the first-floor corridor is 2.4 m deep. */
function groundSector(n: number): Zone {
  const col = Math.floor((n - 1) / 3)
  const row = (n - 1) % 3
  const x0 = col * 1.5
  const [y0, y1] = row === 0 ? [0.2, 2.6] : row === 1 ? [3.0, 4.2] : [4.6, 5.8]
  return { id: `s-${n}b`, polygon: rect(x0, y0, x0 + 1.2, y1) }
}

export function loadEsiiab(dataDir: string, file: string): Dataset {
  const path = join(dataDir, 'ble-rssi-esiiab-sectors', 'data', file)
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/)
  const header = lines[0]!.split(',')
  const beacons = header.slice(0, 6)
  const byZone = new Map<string, Scan[]>()
  lines.slice(1).forEach((line, i) => {
    const cols = line.split(',').map(Number)
    const zone = esiiabZone(cols[6]!, file)
    const list = byZone.get(zone) ?? []
    // rows are in recording order within a sector; scans taken as 1 s apart
    list.push({ ts: list.length * 1000, readings: beacons.map((b, k) => ({ anchor: `esiiab:${b.toLowerCase()}`, rssi: cols[k]! })) })
    byZone.set(zone, list)
    void i
  })
  const groundOnly = /B\.csv$/.test(file)
  const zones: Zone[] = [...byZone.keys()].map((id) => {
    const m = /^s-(\d+)b$/.exec(id)
    return m ? groundSector(Number(m[1])) : { id }
  })
  // beacons: B1-B3 along the near wall of the ground floor, B4-B6 along the far side (floor map), near sectors
  // 1B, 10B, 19B and 1A, 4A, 7A (beacon metadata)
  const near: Record<string, string> = { b1: 's-1b', b2: 's-10b', b3: 's-19b', b4: 's-1a', b5: 's-4a', b6: 's-7a' }
  const pos: Record<string, [number, number]> = { b1: [0, 0], b2: [5.25, 0], b3: [10.5, 0], b4: [0, 6], b5: [5.25, 6], b6: [10.5, 6] }
  const zoneIds = new Set(zones.map((z) => z.id))
  const anchors: Anchor[] = beacons.map((b) => {
    const id = b.toLowerCase()
    const zone = near[id]!
    return { id: `esiiab:${id}`, kind: 'beacon' as const, ...(zoneIds.has(zone) ? { zone } : {}), ...(groundOnly ? { x: pos[id]![0], y: pos[id]![1] } : {}) }
  })
  return {
    name: `esiiab ${file.replace('.csv', '')}`,
    layout: { zones, anchors },
    sequences: [...byZone].map(([zone, scans]) => ({ zone, scans })),
    notes: groundOnly ? 'ground floor, 21 sectors, 2-D geometry' : '28 sectors on two floors (no 2-D geometry: position locator not applicable)',
  }
}

// ------------------------------------------------------------------ Waldo library

const COLS = 'ABCDEFGHIJKLMNOPQRSTUVWX'
/** beacon -> [column index (A = 0, fractional), row (1-based, fractional)], read off iBeacon_Layout.jpg */
const WALDO_BEACONS: Record<string, [number, number]> = {
  b3001: [4.67, 8.67], b3002: [9, 4], b3003: [13, 4], b3004: [17.56, 4], b3005: [9, 7.15], b3006: [13, 7.15], b3007: [17.56, 7.15],
  b3008: [9, 10.1], b3009: [3.37, 15.26], b3010: [9.03, 15.3], b3011: [12.9, 15.3], b3012: [17.28, 15.3], b3013: [22.1, 15.3],
}
const CELL_M = 3

function waldoBlock(col: number, row: number): { id: string; polygon: [number, number][] } {
  const g = Math.floor((col - 3) / 3)
  const c0 = 3 + g * 3
  const r0 = Math.floor((row - 1) / 3) * 3 + 1
  const id = `${COLS[c0]}${COLS[c0 + 2]}-${String(r0).padStart(2, '0')}`.toLowerCase()
  return { id, polygon: rect(c0 * CELL_M, (r0 - 1) * CELL_M, (c0 + 3) * CELL_M, (r0 + 2) * CELL_M) }
}

export function loadWaldo(dataDir: string, minScans = 10): Dataset {
  const path = join(dataDir, 'ble-rssi-uci-waldo-library', 'iBeacon_RSSI_Labeled.csv')
  const lines = readFileSync(path, 'utf8').trim().split(/\r?\n/)
  const header = lines[0]!.split(',')
  const beacons = header.slice(2)
  const raw: { zone: string; polygon: [number, number][]; t: number; readings: { anchor: string; rssi: number }[] }[] = []
  for (const line of lines.slice(1)) {
    const cols = line.split(',')
    const cell = cols[0]!
    const col = COLS.indexOf(cell[0]!)
    const row = Number(cell.slice(1))
    const [date, time] = cols[1]!.split(' ')
    const [mo, d, y] = date!.split('-').map(Number)
    const [hh, mm, ss] = time!.split(':').map(Number)
    const t = Date.UTC(y!, mo! - 1, d!, hh!, mm!, ss!)
    const readings = beacons
      .map((b, k) => ({ anchor: `waldo:${b}`, rssi: Number(cols[k + 2]) }))
      .filter((r) => r.rssi > -150) // -200 (and -198/-199) mean "not heard"
    const block = waldoBlock(col, row)
    raw.push({ zone: block.id, polygon: block.polygon, t, readings })
  }
  const byZone = new Map<string, typeof raw>()
  for (const r of raw) byZone.set(r.zone, [...(byZone.get(r.zone) ?? []), r])
  const kept = [...byZone].filter(([, list]) => list.length >= minScans)
  const dropped = [...byZone].filter(([, list]) => list.length < minScans)
  const zones: Zone[] = kept.map(([id, list]) => ({ id, polygon: list[0]!.polygon }))
  const zoneIds = new Set(zones.map((z) => z.id))
  const anchors: Anchor[] = Object.entries(WALDO_BEACONS).map(([b, [c, r]]) => {
    const x = (c + 0.5) * CELL_M
    const y = (r - 0.5) * CELL_M
    const block = waldoBlock(Math.floor(c), Math.floor(r))
    return { id: `waldo:${b}`, kind: 'beacon' as const, x, y, ...(zoneIds.has(block.id) ? { zone: block.id } : {}) }
  })
  return {
    name: 'waldo library',
    layout: { zones, anchors },
    // in time order within each zone; replayed as 1 scan a second
    sequences: kept.map(([zone, list]) => ({ zone, scans: [...list].sort((a, b) => a.t - b.t).map((s, i) => ({ ts: i * 1000, readings: s.readings })) })),
    notes: `${zones.length} zones of 3 x 3 cells (${dropped.length} blocks with fewer than ${minScans} scans dropped: ${dropped.map(([z, l]) => `${z} ${l.length}`).join(', ')})`,
  }
}

/** The demo store under the simulator's radio model: 5 minutes a zone, for comparison with the real data. */
export function loadDemo(layout: Layout, seed = 7): Dataset {
  return { name: 'demo store (simulated radio)', layout, sequences: zoneRecordings(layout, 300, seed), notes: 'one scanner per zone, log-distance path loss with 3.5 dB shadowing' }
}

export const ESIIAB_FILES = ['Tx0.csv', 'Tx_4.csv', 'Tx_8.csv'] as const
export const ESIIAB_GROUND = ['Tx0B.csv', 'Tx_4B.csv', 'Tx_8B.csv'] as const
