/**
 * Secrets the gateway generates for itself when the config does not provide them, kept in
 * <dataDir>/secrets.json (mode 0600) so they survive restarts:
 *  - pepper: keys pseudonymous subject ids and erasure tombstones (never leaves the gateway)
 *  - memberJwtSecret / couponKey: only until the CRM's shared ones are configured
 *  - demoAdminToken: the admin token the demo prints
 *  - storageKey: seals member keys and coupon codes in the database (edge/storage/vault.ts)
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

export interface Secrets {
  pepper: string
  memberJwtSecret: string
  couponKey: string
  demoAdminToken: string
  storageKey: string
}

export function loadOrCreateSecrets(dataDir: string): { secrets: Secrets; created: (keyof Secrets)[] } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const file = join(dataDir, 'secrets.json')
  if (existsSync(file)) chmodSync(file, 0o600)
  let existing: Partial<Secrets> = {}
  if (existsSync(file)) {
    try {
      existing = JSON.parse(readFileSync(file, 'utf8')) as Partial<Secrets>
    } catch (err) {
      throw new Error(`${file} is not valid JSON (${(err as Error).message}); fix or remove it (a new pepper changes every pseudonymous id)`)
    }
  }
  const created: (keyof Secrets)[] = []
  const gen = (k: keyof Secrets, make: () => string): string => {
    const v = existing[k]
    if (typeof v === 'string' && v.length > 0) return v
    created.push(k)
    return make()
  }
  const secrets: Secrets = {
    pepper: gen('pepper', () => randomBytes(32).toString('hex')),
    memberJwtSecret: gen('memberJwtSecret', () => randomBytes(32).toString('base64url')),
    couponKey: gen('couponKey', () => randomBytes(32).toString('hex')),
    demoAdminToken: gen('demoAdminToken', () => `demo-${randomBytes(18).toString('base64url')}`),
    storageKey: gen('storageKey', () => randomBytes(32).toString('hex')),
  }
  if (created.length) {
    const tmp = `${file}.tmp`
    writeFileSync(tmp, JSON.stringify(secrets, null, 2), { mode: 0o600 })
    renameSync(tmp, file)
    chmodSync(file, 0o600)
  }
  return { secrets, created }
}
