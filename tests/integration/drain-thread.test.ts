/**
 * The drain on its own worker thread (cloud-sync/drain-thread.ts, `crm.drainThread`): packed blocks decoded and
 * rows sent from the thread to a real reference CRM over loopback, the sealed id of Member Erased opened there,
 * deletions committed by the gateway's thread; a thread that dies is started again and nothing is lost or
 * doubled at the receiver; a pause (an erasure) holds every delivery until it is resumed; stop ends the thread.
 */
import { readFileSync } from 'node:fs'
import { getPriority } from 'node:os'
import t, { type Test } from 'tap'
import { SEALED_USER } from '../../cloud-sync/batch.js'
import { DrainThread } from '../../cloud-sync/drain-thread.js'
import { Outbox } from '../../cloud-sync/outbox.js'
import { Store, outboxOp } from '../../edge/storage/store.js'
import { CRM_WRITE_KEY, startTestCrm } from '../helpers/crm.js'
import { waitFor } from '../helpers/net.js'

const STORE = 'dt-store'
const T0 = Date.UTC(2026, 0, 5, 9)
const silent = { warn() {}, info() {}, error() {} }

async function setup(t: Test, n: number) {
  const store = await Store.open(':memory:', { now: T0 })
  t.teardown(() => store.close())
  const ops = Array.from({ length: n }, (_, i) => outboxOp({ stream: 'crm', messageId: `dt:${i}`, event: 'Zone Dwelled', anonymousId: `pm:${i % 11}`, ts: T0 + i, properties: { zone: 'fridge-dairy', i } }))
  for (let i = 0; i < ops.length; i += 1000) await store.write(ops.slice(i, i + 1000))
  const outbox = new Outbox(store, { subjectHash: (s) => `h(${s})`, blockRows: 2000 })
  return { store, outbox }
}

function thread(outbox: Outbox, store: Store, url: string, hooks: { delivered?: (s: string, n: number) => void } = {}) {
  return new DrainThread({
    outbox, now: () => T0, log: silent, hooks: { delivered: (s, n) => hooks.delivered?.(s, n) },
    data: { settings: { url, writeKey: CRM_WRITE_KEY, opsUrl: null, timeoutMs: 5000, mqtt: { url: null } }, storeId: STORE, version: '0.0.0-test', storageKey: store.vault.exportKey(), maxBackoffMs: 200, readRows: 500 },
  })
}

t.test('blocks and rows from the thread, the sealed id opened there, a killed thread started again: every event once, in order', async (t) => {
  const crm = await startTestCrm(t)
  const { store, outbox } = await setup(t, 9000)
  t.equal(await outbox.pack('crm', () => false), 2000)
  t.equal(await outbox.pack('crm', () => false), 2000)
  await store.write([outboxOp({ stream: 'crm', messageId: 'dt:erased', event: 'Member Erased', anonymousId: STORE, ts: T0 + 9000, properties: { [SEALED_USER]: store.vault.seal('member-77'), storeId: STORE } })])
  crm.faults = { slowMs: 30 }
  let delivered = 0
  const dt = thread(outbox, store, crm.url, { delivered: (_s, n) => { delivered += n } })
  dt.start()
  await waitFor(() => delivered >= 1000, { what: 'the first deliveries from the thread', timeoutMs: 30_000 })
  // the thread dies mid-drain (as a crash of it would): it is started again, and what it had not confirmed goes again
  await (dt as unknown as { worker: { terminate(): Promise<number> } }).worker.terminate()
  await waitFor(async () => (await outbox.counts()).crm.rows + (await outbox.counts()).crm.packed === 0, { what: 'the outbox empty after the restart', timeoutMs: 60_000 })
  await dt.stop()
  const got = await crm.events({ stream: 'crm' })
  const want = [...Array.from({ length: 9000 }, (_, i) => `dt:${i}`), 'dt:erased']
  t.same(got.map((e) => e.messageId), want, 'every event once at the receiver, in commit order')
  t.equal(got.at(-1)!.userId, 'member-77', 'Member Erased names the member: the thread opened the sealed id')
  t.notOk(JSON.stringify(got.at(-1)!.properties).includes(SEALED_USER), 'and the sealed form is not sent')
  t.equal(dt.state.crm.delivered > 0, true, 'the state the gateway shows comes from the thread')
})

t.test('a pause holds every delivery until resumed; stop ends the thread', async (t) => {
  const crm = await startTestCrm(t)
  const { store, outbox } = await setup(t, 3000)
  crm.faults = { slowMs: 20 }
  let delivered = 0
  const dt = thread(outbox, store, crm.url, { delivered: (_s, n) => { delivered += n } })
  dt.start()
  await waitFor(() => delivered > 0, { what: 'a first delivery', timeoutMs: 30_000 })
  await dt.pause()
  const atPause = delivered
  const stored = await crm.count()
  await new Promise((r) => setTimeout(r, 400))
  t.equal(delivered, atPause, 'nothing delivered while paused')
  t.equal(await crm.count(), stored, 'nothing sent while paused')
  dt.resume()
  await waitFor(() => delivered === 3000, { what: 'the rest after resume', timeoutMs: 30_000 })
  const w = (dt as unknown as { worker: { threadId: number } | null }).worker
  t.ok(w, 'a thread runs')
  if (process.platform === 'linux') {
    t.ok(dt.thread?.tid, `the thread's own id is known (${dt.thread?.tid})`)
    t.ok((dt.thread?.nice ?? 0) >= 10, `the drain thread runs at a lower priority than the gateway's (nice ${dt.thread?.nice})`)
    const stat = readFileSync(`/proc/self/task/${dt.thread!.tid}/stat`, 'utf8')
    t.ok(Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[16]) >= 10, 'as the kernel sees it')
    t.equal(getPriority(), 0, 'the gateway\'s own thread keeps its priority')
  }
  await dt.stop()
  t.equal((dt as unknown as { worker: unknown }).worker, null, 'stopped')
  t.equal(await crm.count(), 3000)
})
