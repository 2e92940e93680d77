/**
 * The embedded broker as the store Wi-Fi meets it (issue 11, CONTRACT 7a): a phone on the guest network
 * gets nothing; a registered device speaks only for itself; and nothing a stranger sends makes the gateway
 * hold more than a bound (connections, idle sockets, packet sizes, retained messages, subscriptions,
 * persistent sessions), nor stall its event loop.
 */
import t from 'tap'
import { createConnection, type Socket } from 'node:net'
import { topics } from '../../edge/contract/index.js'
import { scrape, sample } from '../helpers/metrics.js'
import { waitFor, sleep } from '../helpers/net.js'
import { closedWithin, connectAs, grantedQos, measure, register, startSecureGateway } from '../helpers/secure.js'

const tg = await startSecureGateway({ mqtt: { embedded: { limits: { maxConnections: 300, maxConnectionsPerAddress: 200, connectTimeoutSeconds: 1, maxSubscriptionsPerClient: 32, maxRetained: 50 } } } })
t.teardown(() => tg.close())
const P = tg.gw.prefix
const refusals = async (reason: string) => sample(await scrape(tg.gw.httpUrl), 'aisle_mqtt_refusals_total', { reason })

t.test('no credentials, wrong credentials, a revoked device: refused', async (t) => {
  await t.rejects(connectAs(tg, null), /Not authorized|not authorized|Connection refused/i, 'an anonymous client is refused')
  await t.rejects(connectAs(tg, 'scn-dairy', 'guess'), /bad user name or password|Not authorized|Connection refused/i, 'an unregistered id is refused')
  const secret = await register(tg, 'scn-dairy', 'scanner', 'fridge-dairy')
  await t.rejects(connectAs(tg, 'scn-dairy', `${secret}x`), /bad user name or password|Connection refused/i, 'a wrong secret is refused')
  const c = await connectAs(tg, 'scn-dairy', secret)
  t.ok(c.connected, 'the registered scanner connects')
  const gone = closedWithin(c, 5000)
  const r = await fetch(`${tg.gw.httpUrl}/v1/admin/devices/scn-dairy`, { method: 'DELETE', headers: { authorization: `Bearer ${process.env['X'] ?? 'test-operator-token'}` } })
  t.equal(r.status, 200)
  t.ok(await gone, 'revoking disconnects it at once')
  await t.rejects(connectAs(tg, 'scn-dairy', secret), /bad user name or password|Connection refused/i, 'and it cannot come back')
  t.ok(await refusals('anonymous') >= 1 && await refusals('unknown-device') >= 2 && await refusals('bad-secret') >= 1, 'each refusal counted by reason')
  c.end(true)
})

t.test('a device speaks only on its own topics and reads only its own', async (t) => {
  const scn = await connectAs(tg, 'scn-bakery', await register(tg, 'scn-bakery', 'scanner', 'bakery'))
  const band = await connectAs(tg, 'b-7', await register(tg, 'b-7', 'band'))
  const obs = await connectAs(tg, 'it-observer', await register(tg, 'it-observer', 'observer'))
  t.teardown(() => { scn.end(true); band.end(true); obs.end(true) })
  const seen: string[] = []
  obs.on('message', (topic) => seen.push(topic))
  await obs.subscribeAsync(`${P}/#`, { qos: 0 })
  // its own topic: fine
  await scn.publishAsync(topics.ble(P, 'scn-bakery'), JSON.stringify({ id: 'watch:1', rssi: -60 }), { qos: 1 })
  await waitFor(() => seen.includes(topics.ble(P, 'scn-bakery')), { what: 'the scanner\'s own sighting' })
  // the scanner may not read the store
  t.same(await grantedQos(scn, '#'), [128], 'a scanner subscribing to # is refused (and stays connected)')
  // the band reads its alerts, not another band's
  t.same(await grantedQos(band, topics.bandAlert(P, 'b-7'), 1), [1], 'its own alerts')
  t.same(await grantedQos(band, topics.bandAlert(P, 'b-8'), 1), [128], 'not another band\'s')
  // a scanner acknowledging a clerk's call: refused, and it is disconnected
  const closed = closedWithin(scn, 3000)
  scn.publish(topics.bandAck(P, 'b-7'), JSON.stringify({ alertId: 'a-1', action: 'accept' }), { qos: 1 })
  t.ok(await closed, 'publishing on a band\'s topic costs the scanner its connection')
  await sleep(200)
  t.notOk(seen.includes(topics.bandAck(P, 'b-7')), 'the forged ack went nowhere')
  t.ok(await refusals('publish-denied') >= 1)
  // the gateway's own topics are the gateway's
  const c2 = closedWithin(band, 3000)
  band.publish(`${P}/events/offer`, '{}', { qos: 0 })
  t.ok(await c2, 'nobody publishes on P/events')
  // an observer reads but never writes
  const c3 = closedWithin(obs, 3000)
  obs.publish(topics.ble(P, 'scn-bakery'), JSON.stringify({ id: 'watch:2', rssi: -50 }), { qos: 0 })
  t.ok(await c3, 'an observer publishing is disconnected')
})

t.test('last wills must be the device\'s own; observers and strangers hold no persistent session', async (t) => {
  const secret = await register(tg, 'lane-9', 'lane')
  await t.rejects(connectAs(tg, 'lane-9', secret, { will: { topic: topics.receipt(P, 'lane-1'), payload: Buffer.from('{}'), qos: 1, retain: false } }), /Not authorized|Connection refused/i, 'a will on another lane\'s topic')
  await t.rejects(connectAs(tg, 'lane-9', secret, { will: { topic: topics.receipt(P, 'lane-9'), payload: Buffer.from('{}'), qos: 1, retain: true } }), /Not authorized|Connection refused/i, 'a retained will that is not a status')
  const ok = await connectAs(tg, 'lane-9', secret, { will: { topic: topics.deviceStatus(P, 'lane-9'), payload: Buffer.from('{"online":false}'), qos: 1, retain: true } })
  t.ok(ok.connected, 'its own status as a retained will is fine')
  ok.end(true)
  const obsSecret = await register(tg, 'obs-2', 'observer')
  await t.rejects(connectAs(tg, 'obs-2', obsSecret, { clean: false }), /Not authorized|Connection refused/i, 'an observer may not keep a persistent session (its queue would span the store)')
  t.ok(await refusals('persistent-session') >= 1)
})

t.test('idle sockets, connection floods, oversized packets, retained floods, subscription floods: bounded', async (t) => {
  const socketsBefore = sample(await scrape(tg.gw.httpUrl), 'aisle_mqtt_sockets')
  // 250 sockets that never send CONNECT: all closed after the connect timeout, and /healthz answers meanwhile
  const idle = await measure(async () => {
    const socks: Socket[] = []
    for (let i = 0; i < 250; i++) socks.push(createConnection({ host: '127.0.0.1', port: tg.gw.mqttPort! }))
    for (const s of socks) s.on('error', () => {})
    t.equal((await fetch(`${tg.gw.httpUrl}/healthz`)).status, 200, '/healthz answers during the flood')
    await waitFor(() => socks.every((s) => s.destroyed || s.readyState === 'closed'), { what: 'idle sockets closed by the broker', timeoutMs: 10_000 })
    return socks.length
  })
  t.pass(`${idle.result} idle sockets closed after the connect timeout (heap +${idle.heapMB.toFixed(1)} MB, event loop max ${idle.lagMaxMs.toFixed(0)} ms)`)

  // past the total cap, new connections are dropped at once
  const many = await Promise.all(Array.from({ length: 340 }, () => new Promise<boolean>((resolve) => {
    const s = createConnection({ host: '127.0.0.1', port: tg.gw.mqttPort! })
    s.on('error', () => resolve(false))
    s.on('close', () => resolve(false))
    s.on('connect', () => setTimeout(() => { resolve(!s.destroyed); s.destroy() }, 300))
  })))
  t.ok(many.filter(Boolean).length <= 300, `at most maxConnections held at once (${many.filter(Boolean).length} of 340)`)

  // the broker has seen the flood's sockets close (else the next one could be refused per address instead)
  await waitFor(async () => sample(await scrape(tg.gw.httpUrl), 'aisle_mqtt_sockets') <= socketsBefore, { what: 'flood sockets closed on the broker side', timeoutMs: 10_000 })
  // a packet whose header claims 16 MB: the connection is closed before it is buffered
  const big = await measure(async () => {
    const s = createConnection({ host: '127.0.0.1', port: tg.gw.mqttPort! })
    s.on('error', () => {})
    await new Promise((r) => s.once('connect', r))
    // CONNECT is not even needed: a PUBLISH header with a 16 MB remaining length, then data
    s.write(Buffer.from([0x30, 0x80, 0x80, 0x80, 0x08]))
    for (let i = 0; i < 64 && !s.destroyed; i++) { s.write(Buffer.alloc(64 * 1024, 0x61)); await sleep(2) }
    await waitFor(() => s.destroyed || s.readyState === 'closed', { what: 'oversized packet: connection closed' })
    return true
  })
  t.ok(big.heapMB < 8, `a 16 MB packet is not buffered (heap +${big.heapMB.toFixed(1)} MB)`)
  t.ok(await refusals('oversized-packet') >= 1)

  // 200 retained messages on other topics than the device's status: kept none of them
  const cart = await connectAs(tg, 'cart-1', await register(tg, 'cart-1', 'cart'))
  const ret = await measure(async () => {
    for (let i = 0; i < 200; i++) await cart.publishAsync(topics.ranging(P, 'cart-1'), JSON.stringify({ beacons: [{ id: 'x', rssi: -70 }], pad: 'z'.repeat(30_000) }), { qos: 1, retain: true })
    return true
  })
  const reader = await connectAs(tg, 'obs-3', await register(tg, 'obs-3', 'observer'))
  const retained: string[] = []
  reader.on('message', (topic, _p, packet) => { if (packet.retain) retained.push(topic) })
  await reader.subscribeAsync(`${P}/ranging/#`)
  await sleep(300)
  t.same(retained, [], 'nothing was retained outside the devices\' own status')
  t.ok(ret.heapMB < 8, `heap +${ret.heapMB.toFixed(1)} MB after 200 x 30 KB retained attempts`)
  cart.end(true)

  // one client asking for 2,000 subscriptions: 32 granted at most
  const subs = await measure(async () => {
    const r = await register(tg, 'obs-4', 'observer')
    const c = await connectAs(tg, 'obs-4', r)
    let granted = 0
    for (let i = 0; i < 2000; i += 100) {
      const g = await grantedQos(c, Array.from({ length: 100 }, (_, j) => `${P}/x/${i + j}`))
      granted += g.filter((q) => q !== 128).length
      if (!c.connected) break
    }
    c.end(true)
    return granted
  })
  t.ok(subs.result > 0 && subs.result <= 32, `subscriptions per client capped (${subs.result} granted of 2000)`)
  t.ok(subs.lagMaxMs < 200, `event loop max ${subs.lagMaxMs.toFixed(0)} ms`)
  reader.end(true)
})

t.test('MAC addresses are no device ids', async (t) => {
  const r = await fetch(`${tg.gw.httpUrl}/v1/admin/devices/aabbccddee22`, { method: 'PUT', headers: { authorization: 'Bearer test-admin-token', 'content-type': 'application/json' }, body: JSON.stringify({ kind: 'scanner' }) })
  t.equal(r.status, 400, 'registering a MAC as a device id is refused')
  t.match(((await r.json()) as { message: string }).message, /MAC address is not a device id/)
})
