/** The reference CRM for tests (cloud-sync/reference-crm) and a gateway's `crm` settings pointing at it. */
import type { Test } from 'tap'
import { startReferenceCrm, type ReferenceCrm, type ReferenceCrmOptions } from '../../cloud-sync/reference-crm/server.js'
import { deepMerge } from '../../edge/config/load.js'

export const CRM_WRITE_KEY = 'wk-test-0123456789'
export const CRM_STORE_TOKEN = 'st-test-0123456789'

/** a reference CRM on a free loopback port, closed when the test ends */
export async function startTestCrm(t: Test, o: Partial<ReferenceCrmOptions> = {}): Promise<ReferenceCrm> {
  const crm = await startReferenceCrm({ writeKey: CRM_WRITE_KEY, storeToken: CRM_STORE_TOKEN, ...o })
  t.teardown(() => crm.close())
  return crm
}

/**
 * The gateway's `crm` config for it: both streams, the model key, a 1 s backoff cap, and pulls an hour apart
 * (a test that pulls sets its own intervals in `over`).
 */
export function crmSettings(crm: ReferenceCrm, over: Record<string, unknown> = {}): Record<string, unknown> {
  return deepMerge({
    url: crm.url, writeKey: CRM_WRITE_KEY, storeToken: CRM_STORE_TOKEN, opsUrl: `${crm.url}/v1/ops/batch`, modelPublicKey: crm.publicKeyPem, maxBackoffSeconds: 1,
    pull: { membersSeconds: 3600, campaignsSeconds: 3600, layoutSeconds: 3600, modelsSeconds: 3600 },
  }, over) as Record<string, unknown>
}
