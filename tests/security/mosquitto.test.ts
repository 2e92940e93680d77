/**
 * Device identity with an external broker (CONTRACT 7a): `aisle-edge mosquitto-acl <dir>` writes Mosquitto's
 * password and ACL files from the gateway's registrations; a real Mosquitto run on them lets each device use
 * its own topics only and the gateway all of the store's. And the embedded broker over TLS.
 */
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt from 'mqtt'
import { topics } from '../../edge/contract/index.js'
import { freePort, sleep, waitFor } from '../helpers/net.js'
import { hasDist, distMain } from '../helpers/process.js'
import { mosquittoBinary, startMosquitto } from '../helpers/mosquitto.js'
import { grantedQos, register, startSecureGateway } from '../helpers/secure.js'

const skipMosq = !mosquittoBinary() ? 'mosquitto is not installed (apt-get install -y mosquitto); .ci/run installs it' : !hasDist() ? 'dist/ not built (npm run build)' : false

t.test('mosquitto-acl: a real Mosquitto refuses a device outside its topics', { skip: skipMosq }, async (t) => {
  // register devices on a gateway (embedded; its database is what the command reads)
  const dataDir = mkdtempSync(join(tmpdir(), 'aisle-acl-'))
  t.teardown(() => rmSync(dataDir, { recursive: true, force: true }))
  const tg = await startSecureGateway({}, { dataDir })
  const prefix = tg.gw.prefix
  const scanner = await register(tg, 'scn-dairy', 'scanner')
  const band = await register(tg, 'b-1', 'band')
  await tg.close()

  const cfg = join(dataDir, 'store.json')
  writeFileSync(cfg, JSON.stringify({ store: { id: 'test', timezone: 'Europe/Berlin' } }))
  // as /etc/mosquitto/aisle would be: outside the gateway's own (0700) data folder, where Mosquitto can read
  const aclDir = join(mkdtempSync(join(tmpdir(), 'aisle-mosq-acl-')), 'aisle')
  t.teardown(() => rmSync(join(aclDir, '..'), { recursive: true, force: true }))
  chmodSync(join(aclDir, '..'), 0o755)
  const r = spawnSync(process.execPath, [distMain(), 'mosquitto-acl', aclDir], { env: { ...process.env, AISLE_CONFIG: cfg, AISLE_DATA_DIR: dataDir, AISLE_MQTT_USERNAME: 'aisle-gateway', AISLE_MQTT_PASSWORD: 'gateway-secret-0123' }, encoding: 'utf8' })
  t.equal(r.status, 0, r.stderr)
  t.match(r.stdout, /2 devices and the gateway \(aisle-gateway\)/)
  const acl = readFileSync(join(aclDir, 'acl'), 'utf8')
  t.match(acl, new RegExp(`user scn-dairy\\ntopic write ${prefix}/ble/scn-dairy\\ntopic write ${prefix}/status/scn-dairy`))
  t.notMatch(readFileSync(join(aclDir, 'passwd'), 'utf8'), new RegExp(scanner), 'the password file holds no secret, only hashes')

  const mosq = await startMosquitto({ auth: { passwd: join(aclDir, 'passwd'), acl: join(aclDir, 'acl') } })
  t.teardown(() => mosq.stop())
  const gw = await mqtt.connectAsync(mosq.url, { username: 'aisle-gateway', password: 'gateway-secret-0123', reconnectPeriod: 0 })
  t.teardown(() => gw.endAsync())
  const got: string[] = []
  gw.on('message', (topic) => got.push(topic))
  t.same(await grantedQos(gw, `${prefix}/#`, 1), [1], 'the gateway reads the store')
  await t.rejects(mqtt.connectAsync(mosq.url, { reconnectPeriod: 0 }), /Not authorized|Connection refused/i, 'anonymous refused')
  await t.rejects(mqtt.connectAsync(mosq.url, { username: 'scn-dairy', password: 'wrong', reconnectPeriod: 0 }), /Bad username or password|Not authorized|Connection refused/i, 'a wrong secret refused')
  const scn = await mqtt.connectAsync(mosq.url, { username: 'scn-dairy', password: scanner, reconnectPeriod: 0 })
  t.teardown(() => scn.endAsync())
  await scn.publishAsync(topics.ble(prefix, 'scn-dairy'), '{"id":"x:1","rssi":-50}', { qos: 1 })
  await scn.publishAsync(topics.bandAck(prefix, 'b-1'), '{"alertId":"a","action":"accept"}', { qos: 1 }).catch(() => {})
  await scn.publishAsync(topics.receipt(prefix, 'lane-1'), '{"receiptId":"r","items":[],"total":0}', { qos: 1 }).catch(() => {})
  await waitFor(() => got.includes(topics.ble(prefix, 'scn-dairy')), { what: 'the scanner\'s own sighting' })
  await sleep(300)
  t.same(got, [topics.ble(prefix, 'scn-dairy')], 'its publishes outside its topics were dropped by Mosquitto')
  // nor may it read the store (Mosquitto may grant the subscription, but delivers nothing it may not read)
  const scnGot: string[] = []
  scn.on('message', (topic) => scnGot.push(topic))
  await grantedQos(scn, `${prefix}/#`)
  await gw.publishAsync(topics.bandAlert(prefix, 'b-1'), '{"alertId":"a.0","kind":"assist"}', { qos: 1 })
  await waitFor(() => got.includes(topics.bandAlert(prefix, 'b-1')), { what: 'the alert on the broker' })
  await sleep(300)
  t.same(scnGot, [], 'nor may it read the store: the alert never reached the scanner')
  const b = await mqtt.connectAsync(mosq.url, { username: 'b-1', password: band, reconnectPeriod: 0 })
  t.teardown(() => b.endAsync())
  t.same(await grantedQos(b, topics.bandAlert(prefix, 'b-1'), 1), [1], 'a band reads its own alerts')
})

const hasOpenssl = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0
t.test('the embedded broker over TLS (mqtts)', { skip: hasOpenssl ? false : 'openssl is not installed: cannot make a test certificate' }, async (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'aisle-tls-'))
  t.teardown(() => rmSync(dir, { recursive: true, force: true }))
  const key = join(dir, 'key.pem')
  const cert = join(dir, 'cert.pem')
  const made = spawnSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-keyout', key, '-out', cert, '-days', '2', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1'], { encoding: 'utf8' })
  t.equal(made.status, 0, made.stderr)
  const tlsPort = await freePort()
  const tg = await startSecureGateway({ mqtt: { embedded: { plain: false, tls: { port: tlsPort, certFile: cert, keyFile: key } } } })
  t.teardown(() => tg.close())
  t.match(tg.gw.mqttUrl, new RegExp(`^mqtts://127\\.0\\.0\\.1:${tlsPort}$`))
  const secret = await register(tg, 'scn-dairy', 'scanner')
  const c = await mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { username: 'scn-dairy', password: secret, ca: readFileSync(cert), reconnectPeriod: 0 })
  await c.publishAsync(topics.ble(tg.gw.prefix, 'scn-dairy'), JSON.stringify({ id: 'watch:1', rssi: -50 }), { qos: 1 })
  await waitFor(async () => ((await (await fetch(`${tg.gw.httpUrl}/v1/admin/devices`, { headers: { authorization: 'Bearer test-admin-token' } })).json()) as { devices: { id: string }[] }).devices.some((d) => d.id === 'scn-dairy'), { what: 'a sighting over TLS' })
  await c.endAsync()
  await t.rejects(mqtt.connectAsync(`mqtts://127.0.0.1:${tlsPort}`, { username: 'scn-dairy', password: secret, reconnectPeriod: 0, rejectUnauthorized: true }), /self.signed|certificate/i, 'a client that does not trust the certificate does not connect')
})
