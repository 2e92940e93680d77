/**
 * Config seeds the database; the admin API and CRM sync own the data afterwards. A config entry is applied
 * when it is new or when it was edited since it was last applied (its hash is kept in meta), so an admin
 * change is not silently undone by a restart, yet editing the config file still takes effect.
 * Members erased at the edge are never re-seeded from config.
 */
import { createHash } from 'node:crypto'
import type { Campaign, Layout, Member } from '../contract/resources.js'
import { campaignUpsertOps, isErased, layoutOps, loadCampaigns, loadLayout, loadMembers, memberUpsertOps, seedMemberKey } from './repos.js'
import { metaOp, type Store } from './store.js'
import type { WriteOp } from './writer.js'

const hash = (v: unknown): string => createHash('sha256').update(JSON.stringify(v)).digest('hex')

export interface Seeded { layout: Layout; members: Member[]; campaigns: Campaign[]; applied: { layout: boolean; members: number; campaigns: number; skippedErased: number } }

export async function seedFromConfig(
  store: Store,
  cfg: { layout: Layout; members: Member[]; campaigns: Campaign[] },
  memberHash: (id: string) => string,
  now: number,
): Promise<Seeded> {
  const ops: WriteOp[] = []
  const applied = { layout: false, members: 0, campaigns: 0, skippedErased: 0 }

  const dbLayout = await loadLayout(store)
  const layoutHash = hash(cfg.layout)
  let layout = dbLayout ?? cfg.layout
  if ((cfg.layout.zones.length > 0 || cfg.layout.anchors.length > 0) && (dbLayout === undefined || (await store.getMeta('seed:layout')) !== layoutHash)) {
    ops.push(...layoutOps(cfg.layout, 'config', now), metaOp('seed:layout', layoutHash))
    layout = cfg.layout
    applied.layout = true
  }

  const dbMembers = new Map((await loadMembers(store)).map((m) => [m.memberId, m]))
  for (const m of cfg.members) {
    const h = hash(m)
    const inDb = dbMembers.has(m.memberId)
    if (inDb && (await store.getMeta(seedMemberKey(memberHash(m.memberId)))) === h) continue
    if (!inDb && (await isErased(store, memberHash(m.memberId)))) { applied.skippedErased++; continue }
    ops.push(...memberUpsertOps(m, 'config', now, store.vault), metaOp(seedMemberKey(memberHash(m.memberId)), h))
    dbMembers.set(m.memberId, m)
    applied.members++
  }

  const dbCampaigns = new Map((await loadCampaigns(store, true)).map((c) => [c.campaign.id, c]))
  for (const c of cfg.campaigns) {
    const h = hash(c)
    if (dbCampaigns.has(c.id) && (await store.getMeta(`seed:campaign:${c.id}`)) === h) continue
    ops.push(...campaignUpsertOps(c, 'config', now), metaOp(`seed:campaign:${c.id}`, h))
    applied.campaigns++
  }
  if (ops.length) await store.writeNow(ops)
  return {
    layout,
    members: [...(await loadMembers(store))],
    campaigns: (await loadCampaigns(store)).map((c) => c.campaign),
    applied,
  }
}
