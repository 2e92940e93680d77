/**
 * Device identity (CONTRACT 7a): the devices allowed on the broker, each with a kind that decides its topics
 * and a secret shown once and kept only as hashes. The embedded broker asks this module who a client is and
 * what it may do; an external Mosquitto gets the same rules as password and ACL files (`mosquitto-acl`).
 */
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { isMacLike } from '../contract/index.js'
import { deviceIdentityRoutes, type RegisteredDevice } from '../http/admin/device-identity.js'
import type { BrokerAuth } from '../mqtt/embedded.js'
import { filterWithin, mosquittoHash, newSecret, publishRights, secretHash, secretMatches, subscribeRights, topicMatches, type DeviceIdentity, type RegisteredKind } from '../mqtt/rights.js'
import type { Store } from '../storage/store.js'
import type { Feature, GatewayContext } from './feature.js'
import type { LayoutFeature } from './layout.js'

interface Credential { id: string; kind: RegisteredKind; zone: string | null; secretHash: string; mosquittoHash: string; createdAt: number; rotatedAt: number; createdBy: string }
interface CredentialRow { device_id: string; kind: RegisteredKind; zone: string | null; secret_hash: string; mosquitto_hash: string; created_at: number; rotated_at: number; created_by: string }

const rowToCredential = (r: CredentialRow): Credential => ({ id: r.device_id, kind: r.kind, zone: r.zone, secretHash: r.secret_hash, mosquittoHash: r.mosquitto_hash, createdAt: r.created_at, rotatedAt: r.rotated_at, createdBy: r.created_by })

export async function loadCredentials(store: Pick<Store, 'all'>): Promise<Credential[]> {
  return (await store.all<CredentialRow>('SELECT * FROM device_credentials ORDER BY device_id')).map(rowToCredential)
}

/** What the broker needs to close a device's connections (the embedded one; an external broker reloads its files). */
export interface DeviceSessions { disconnect(deviceId: string): number; connectionsOf?(deviceId: string): number }

export class DeviceIdentityFeature implements Feature {
  readonly name = 'device-identity'
  private readonly creds = new Map<string, Credential>()
  private readonly pepper: Buffer
  private sessions: DeviceSessions | null = null
  readonly adminRoutes = deviceIdentityRoutes({
    register: (id, kind, zone, by) => this.register(id, kind, zone, by),
    revoke: (id, by) => this.revoke(id, by),
    list: () => this.list(),
  })

  private constructor(private readonly ctx: GatewayContext, private readonly layout: LayoutFeature) {
    this.pepper = Buffer.from(ctx.secrets.pepper, 'hex')
  }

  static async create(ctx: GatewayContext, layout: LayoutFeature): Promise<DeviceIdentityFeature> {
    const f = new DeviceIdentityFeature(ctx, layout)
    for (const c of await loadCredentials(ctx.store)) f.creds.set(c.id, c)
    if (ctx.config.mqtt.allowAnonymous) ctx.log.warn('mqtt.allowAnonymous is on: clients without device credentials are accepted and may act as any device (labs and replays only)')
    return f
  }

  /** the broker that holds the devices' connections */
  attach(sessions: DeviceSessions): void { this.sessions = sessions }

  isRegistered(id: string, kind?: RegisteredKind): boolean {
    const c = this.creds.get(id)
    return c !== undefined && (kind === undefined || c.kind === kind)
  }

  get size(): number { return this.creds.size }

  /** The embedded broker's rules. */
  readonly auth: BrokerAuth = {
    authenticate: (username, password, clean) => {
      const anonymous = this.ctx.config.mqtt.allowAnonymous
      if (username === undefined || username === '') {
        if (!anonymous) return { ok: false, reason: 'anonymous' }
        // a lab client may not hold a persistent session: its queue would have no bound
        if (!clean) return { ok: false, reason: 'persistent-session' }
        return { ok: true, identity: null }
      }
      const c = this.creds.get(username)
      if (!c) return { ok: false, reason: 'unknown-device' }
      if (!password || !secretMatches(this.pepper, password.toString('utf8'), c.secretHash)) return { ok: false, reason: 'bad-secret' }
      // an observer's subscriptions span the store: a persistent session would queue without bound while it is away
      if (!clean && c.kind === 'observer') return { ok: false, reason: 'persistent-session' }
      return { ok: true, identity: { id: c.id, kind: c.kind } }
    },
    canPublish: (identity, topic) => identity === null || publishRights(identity.kind, identity.id, this.ctx.prefix).some((r) => topicMatches(r, topic)),
    canSubscribe: (identity, filter) => identity === null || subscribeRights(identity.kind, identity.id, this.ctx.prefix).some((r) => filterWithin(filter, r)),
  }

  async register(id: string, kind: RegisteredKind, zone: string | undefined, by: string): Promise<{ secret: string; created: boolean } | { problem: string }> {
    if (isMacLike(id)) return { problem: 'a MAC address is not a device id: give the device a name (e.g. scn-dairy-1)' }
    if (zone !== undefined && !this.layout.hasZone(zone)) return { problem: `zone ${zone} is not in the layout` }
    const secret = newSecret()
    const now = this.ctx.clock.now()
    const prev = this.creds.get(id)
    const c: Credential = { id, kind, zone: zone ?? null, secretHash: secretHash(this.pepper, secret), mosquittoHash: mosquittoHash(secret), createdAt: prev?.createdAt ?? now, rotatedAt: now, createdBy: by }
    await this.ctx.store.writeNow([{
      op: 'sql',
      sql: `INSERT INTO device_credentials (device_id, kind, zone, secret_hash, mosquitto_hash, created_at, rotated_at, created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (device_id) DO UPDATE SET kind = excluded.kind, zone = excluded.zone, secret_hash = excluded.secret_hash, mosquitto_hash = excluded.mosquitto_hash, rotated_at = excluded.rotated_at, created_by = excluded.created_by`,
      params: [c.id, c.kind, c.zone, c.secretHash, c.mosquittoHash, c.createdAt, c.rotatedAt, c.createdBy],
    }])
    this.creds.set(id, c)
    // a new secret: the old one's sessions end now
    const closed = prev ? this.sessions?.disconnect(id) ?? 0 : 0
    this.ctx.log.info({ by, device: id, kind, closed }, prev ? 'device secret rotated' : 'device registered')
    return { secret, created: !prev }
  }

  async revoke(id: string, by: string): Promise<boolean> {
    if (!this.creds.has(id)) return false
    await this.ctx.store.writeNow([{ op: 'sql', sql: 'DELETE FROM device_credentials WHERE device_id = ?', params: [id] }])
    this.creds.delete(id)
    const closed = this.sessions?.disconnect(id) ?? 0
    this.ctx.log.info({ by, device: id, closed }, 'device revoked; its connections were closed')
    return true
  }

  list(): RegisteredDevice[] {
    return [...this.creds.values()].map((c) => ({
      id: c.id, kind: c.kind, zone: c.zone, createdAt: new Date(c.createdAt).toISOString(), rotatedAt: new Date(c.rotatedAt).toISOString(),
      createdBy: c.createdBy, connections: this.sessions?.connectionsOf?.(c.id) ?? 0,
    }))
  }
}

/**
 * Mosquitto's password and ACL files for the registered devices (CONTRACT 7a with an external broker): the
 * same per-kind topic rights as the embedded broker, plus a read-write user for the gateway itself.
 */
export function mosquittoFiles(creds: Credential[], prefix: string, gateway: { username: string; password: string } | null): { passwd: string; acl: string } {
  const passwd: string[] = []
  const acl: string[] = ['# written by `aisle-edge mosquitto-acl`: one section per registered device (CONTRACT 7a)', '']
  if (gateway) {
    passwd.push(`${gateway.username}:${mosquittoHash(gateway.password)}`)
    acl.push(`user ${gateway.username}`, `topic readwrite ${prefix}/#`, 'topic read espresense/devices/#', '')
  }
  for (const c of creds) {
    passwd.push(`${c.id}:${c.mosquittoHash}`)
    acl.push(`user ${c.id}`)
    for (const t of publishRights(c.kind, c.id, prefix)) acl.push(`topic write ${t}`)
    for (const t of subscribeRights(c.kind, c.id, prefix)) acl.push(`topic read ${t}`)
    acl.push('')
  }
  return { passwd: `${passwd.join('\n')}\n`, acl: `${acl.join('\n')}\n` }
}

export async function writeMosquittoFiles(store: Pick<Store, 'all'>, dir: string, prefix: string, gateway: { username: string; password: string } | null): Promise<{ passwd: string; acl: string; devices: number }> {
  const creds = await loadCredentials(store)
  const files = mosquittoFiles(creds, prefix, gateway)
  mkdirSync(dir, { recursive: true, mode: 0o750 })
  // Mosquitto reads them as its own user: group mosquitto may read (0640), nobody else; where that group is
  // unknown (not Debian), readable by all: the files hold hashes, never a secret
  const gid = groupId('mosquitto')
  const mode = gid !== null ? 0o640 : 0o644
  const put = (name: string, body: string) => {
    const f = join(dir, name)
    writeFileSync(`${f}.tmp`, body, { mode })
    if (gid !== null) try { chownSync(`${f}.tmp`, -1, gid) } catch { /* not root: the operator sets the group */ }
    chmodSync(`${f}.tmp`, mode)
    renameSync(`${f}.tmp`, f)
    return f
  }
  if (gid !== null) try { chownSync(dir, -1, gid); chmodSync(dir, 0o750) } catch { /* not root */ }
  return { passwd: put('passwd', files.passwd), acl: put('acl', files.acl), devices: creds.length }
}

/** a group's id from /etc/group, or null */
function groupId(name: string): number | null {
  if (!existsSync('/etc/group')) return null
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const [n, , gid] = line.split(':')
    if (n === name && gid !== undefined && /^\d+$/.test(gid)) return Number(gid)
  }
  return null
}
