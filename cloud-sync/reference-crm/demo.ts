/**
 * The demo's central side: `npm start` runs the reference CRM beside the gateway (unless AISLE_CRM_URL points at
 * a real one), holding the demo store's members and campaigns, so that sync shows live: the outbox drains to it,
 * members and campaigns are pulled from it (GET /v1/admin/sync). A development aid, not a product.
 */
import { createPrivateKey, generateKeyPairSync, randomBytes, type KeyObject } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Campaign, Layout, Member } from '../../edge/contract/resources.js'
import { startReferenceCrm, type ReferenceCrm } from './server.js'

export interface DemoCrm {
  crm: ReferenceCrm
  /** what the gateway's `crm` config gets */
  settings: { url: string; writeKey: string; storeToken: string; opsUrl: string; modelPublicKey: string }
}

function keyIn(dir: string): KeyObject {
  const file = join(dir, 'reference-crm-signing.pem')
  if (existsSync(file)) return createPrivateKey(readFileSync(file))
  const { privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return privateKey
}

export async function startDemoCrm(o: { dataDir: string; storeId: string; members: readonly Member[]; campaigns: readonly Campaign[]; layout: Layout | null }): Promise<DemoCrm> {
  mkdirSync(o.dataDir, { recursive: true, mode: 0o700 })
  const writeKey = randomBytes(12).toString('hex')
  const storeToken = randomBytes(16).toString('hex')
  const crm = await startReferenceCrm({ writeKey, storeToken, dbFile: join(o.dataDir, 'reference-crm.db'), signingKey: keyIn(o.dataDir) })
  try {
    const known = new Set(await crm.memberIds(o.storeId))
    for (const m of o.members) if (!known.has(m.memberId)) await crm.upsertMember(o.storeId, m)
    for (const c of o.campaigns) await crm.putCampaign(o.storeId, c)
  } catch (err) {
    await crm.close()
    throw err
  }
  return { crm, settings: { url: crm.url, writeKey, storeToken, opsUrl: `${crm.url}/v1/ops/batch`, modelPublicKey: crm.publicKeyPem } }
}
