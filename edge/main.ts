#!/usr/bin/env node
/**
 * aisle-edge command line.
 *   node dist/edge/main.js [--config <file>] [--demo]   start the gateway (the demo uses config/demo-store.json and the simulator)
 *   node dist/edge/main.js check-config <file>           validate a config file (and the environment) and exit
 *   node dist/edge/main.js hash-token <token>            print the SHA-256 to put in admin.tokens
 */
import { join } from 'node:path'
import { ConfigError, loadConfig, packageRoot } from './config/load.js'
import { createLogger } from './core/log.js'
import { startGateway, type Gateway } from './gateway.js'
import { defaultPrefix } from './contract/topics.js'
import { writeMosquittoFiles } from './features/device-identity.js'
import { Db } from './storage/db.js'
import { localDay } from './offers/time.js'
import { sha256Hex } from './http/auth.js'
import { runSimulator, type RunningSimulator } from '../devices/simulator/runner.js'
import { startDemoCrm, type DemoCrm } from '../cloud-sync/reference-crm/demo.js'
import { adminProvision, rememberingProvision } from '../devices/simulator/device-pool.js'

const USAGE = `usage:
  aisle-edge [--config <file>] [--demo]   start the gateway
  aisle-edge check-config <file>          validate a config file with the current environment
  aisle-edge hash-token <token>           print the SHA-256 of an admin token for admin.tokens[].sha256
  aisle-edge mosquitto-acl <dir>          write Mosquitto's password and ACL files for the registered devices`

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0]
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') { console.log(USAGE); return 0 }
  if (cmd === 'hash-token') {
    if (!argv[1]) { console.error(USAGE); return 2 }
    console.log(sha256Hex(argv[1]))
    return 0
  }
  if (cmd === 'mosquitto-acl') {
    if (!argv[1]) { console.error(USAGE); return 2 }
    try {
      const { config } = loadConfig({})
      const db = await Db.open(join(config.dataDir, config.storage.file), { readonly: true })
      try {
        const prefix = config.mqtt.topicPrefix ?? defaultPrefix(config.store.id)
        const gateway = config.mqtt.username && config.mqtt.password ? { username: config.mqtt.username, password: config.mqtt.password } : null
        const r = await writeMosquittoFiles(db, argv[1], prefix, gateway)
        console.log(`wrote ${r.passwd} and ${r.acl}: ${r.devices} devices${gateway ? ` and the gateway (${gateway.username})` : ' (no gateway user: set AISLE_MQTT_USERNAME and AISLE_MQTT_PASSWORD to add it)'}; now reload Mosquitto (systemctl reload mosquitto)`)
      } finally {
        await db.close()
      }
      return 0
    } catch (err) {
      if (err instanceof ConfigError) { console.error(err.message); return 1 }
      console.error(`mosquitto-acl failed: ${(err as Error).message}`)
      return 1
    }
  }
  if (cmd === 'check-config') {
    if (!argv[1]) { console.error(USAGE); return 2 }
    try {
      const { config, sources } = loadConfig({ file: argv[1] })
      console.log(`OK: ${sources.join(', ')}: store ${config.store.id}, ${config.layout.zones.length} zones, ${config.layout.anchors.length} anchors, ${config.members.length} members, ${config.campaigns.length} campaigns`)
      return 0
    } catch (err) {
      if (err instanceof ConfigError) { console.error(err.message); return 1 }
      throw err
    }
  }
  let file: string | undefined
  let demo = false
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--demo') demo = true
    else if (a === '--config') file = argv[++i]
    else { console.error(`unknown argument ${a}\n${USAGE}`); return 2 }
  }
  if (demo && !file && !process.env['AISLE_CONFIG']) file = join(packageRoot(), 'config', 'demo-store.json')

  let loaded
  try {
    loaded = loadConfig({ file })
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`${err.message}\nThe gateway did not start. Fix the values above (\`aisle-edge check-config <file>\` checks a file alone).`)
      return 1
    }
    throw err
  }
  let { config } = loaded
  const { envAdminToken } = loaded
  const log = createLogger({ level: config.log.level })
  let gw: Gateway
  let demoCrm: DemoCrm | null = null
  try {
    if (demo && !config.crm.url) {
      // the demo's central side: the reference CRM with the demo store's members and campaigns (a development aid)
      demoCrm = await startDemoCrm({ dataDir: config.dataDir, storeId: config.store.id, members: config.members, campaigns: config.campaigns, layout: null })
      config = { ...config, crm: { ...config.crm, ...demoCrm.settings } }
    }
    gw = await startGateway({ config, envAdminToken, log, demo })
  } catch (err) {
    // one clear line, and out at once: nothing keeps running half-started
    console.error(`aisle-edge did not start: ${(err as Error)?.message ?? err}`)
    if (process.env['AISLE_DEBUG']) console.error(err)
    process.exit(1)
  }

  // the simulator registers its devices with the gateway as store IT would (CONTRACT 7a)
  const adminToken = gw.demoAdminToken ?? envAdminToken
  // the demo keeps its simulated devices' secrets in its data folder: a restart does not rotate them all
  const provision = adminToken ? (demo ? rememberingProvision(join(config.dataDir, 'demo-devices.json'), `http://127.0.0.1:${gw.httpPort}`, adminToken) : adminProvision(`http://127.0.0.1:${gw.httpPort}`, adminToken)) : undefined
  let sim: RunningSimulator | null = null
  if (config.simulator.enabled && !provision && !config.mqtt.allowAnonymous) {
    log.warn('the store simulator needs an admin token to register its devices (AISLE_ADMIN_TOKEN), or AISLE_MQTT_ANONYMOUS=on: not started')
  } else if (config.simulator.enabled) {
    sim = await runSimulator({
      provision,
      mqttUrl: config.mqtt.url ?? `mqtt://127.0.0.1:${gw.mqttPort}`,
      httpUrl: `http://127.0.0.1:${gw.httpPort}`,
      prefix: gw.prefix,
      layout: config.layout,
      members: config.members,
      shoppers: config.simulator.shoppers,
      seed: config.simulator.seed,
      clerks: config.simulator.clerks,
      callsPerHour: config.simulator.callsPerHour,
      memberToken: config.member.jwt.alg === 'HS256' ? (id) => gw.memberToken(id) : undefined,
      onLog: (msg) => log.info({ component: 'simulator' }, msg),
    })
    log.info({ component: 'simulator', shoppers: config.simulator.shoppers }, 'store simulator started')
  }

  const demoMember = config.members.find((m) => m.consent.offers && m.consent.location)
  const lines = [
    '',
    `AisleEdge gateway ${config.store.id} is running`,
    `  health:       ${gw.httpUrl}/healthz   (ready: ${gw.httpUrl}/readyz)`,
    `  OpenAPI:      ${gw.httpUrl}/docs`,
    `  metrics:      ${gw.httpUrl}/metrics`,
    `  MQTT broker:  ${gw.mqttUrl}   (topic prefix ${gw.prefix})`,
  ]
  if (demoMember && config.member.jwt.alg === 'HS256') lines.push(`  member app:   ${gw.httpUrl}/app?token=${await gw.memberToken(demoMember.memberId)}   (member ${demoMember.memberId})`)
  else lines.push(`  member app:   ${gw.httpUrl}/app`)
  if (gw.demoAdminToken) lines.push(`  console:      ${gw.httpUrl}/console#token=${gw.demoAdminToken}   (store IT: map, devices, offers, calls, calibration, health)`)
  else lines.push(`  console:      ${gw.httpUrl}/console   (sign in with an admin token)`)
  if (gw.demoAdminToken) lines.push(`  admin token:  ${gw.demoAdminToken}`)
  if (demoCrm) lines.push(`  CRM sync:     ${gw.httpUrl}/v1/admin/sync   (to the reference CRM at ${demoCrm.crm.url}; point AISLE_CRM_URL at your own)`)
  else if (config.crm.url) lines.push(`  CRM sync:     ${gw.httpUrl}/v1/admin/sync   (to ${config.crm.mqtt.url ?? config.crm.url})`)
  if (sim) lines.push(`  simulator:    ${config.simulator.shoppers} shoppers walking the store; the first member reaches the dairy fridge in about 30 s`)
  if (sim && demoMember) {
    // a second start on the same day: the demo members already had today's offers (campaigns cap them at once a day)
    const today = localDay(Date.now(), config.store.timezone)
    const had = await gw.store.get<{ n: number }>('SELECT COUNT(*) AS n FROM offers WHERE member_id = ? AND day = ?', [demoMember.memberId, today]).catch(() => undefined)
    if ((had?.n ?? 0) > 0) lines.push(`                ${demoMember.memberId} already had today's offers (each campaign once a day): the next come tomorrow, or start afresh with rm -rf ${config.dataDir}`)
  }
  if (sim?.crew) lines.push(`                ${config.simulator.clerks} clerks with call bands; customers press call buttons (about ${config.simulator.callsPerHour} an hour, the first after 45 s)`)
  if (demo && provision) {
    // things to try, with this run's own ports and a device of each kind they need (CONTRACT 7a)
    const [observer, scanner] = await Promise.all([provision('demo-observer', 'observer'), provision('demo-try-scanner', 'scanner')]).catch(() => [null, null])
    const u = new URL(gw.mqttUrl)
    const mq = `-h ${u.hostname} -p ${u.port || 1883}`
    lines.push(
      '  try it:',
      `    export T=${gw.demoAdminToken} H=${gw.httpUrl}`,
      '    curl -s -H "Authorization: Bearer $T" $H/v1/admin/presence          # who is where (pseudonymous)',
      '    curl -s -H "Authorization: Bearer $T" $H/v1/admin/devices           # every device seen',
    )
    if (observer && scanner) {
      lines.push(
        `    npx mqtt sub ${mq} -u demo-observer -P ${observer} -t '${gw.prefix}/events/#' -v   # dwell and offer events`,
        `    npx mqtt pub ${mq} -u demo-try-scanner -P ${scanner} -t ${gw.prefix}/ble/demo-try-scanner -m '{"rssi": 12}'   # a bad message`,
        '    curl -s -H "Authorization: Bearer $T" "$H/v1/admin/dead-letters?limit=5"   # ... counted and dead-lettered',
      )
    }
  }
  if (gw.adminTokenCount === 0) lines.push('  admin API:    no admin token configured: set AISLE_ADMIN_TOKEN=<a long random token> and restart (or admin.tokens, see `aisle-edge hash-token`)')
  for (const [name, c] of Object.entries(gw.ready())) if (!c.ok) lines.push(`  not ready:    ${name}: ${c.detail}`)
  lines.push('  Ctrl-C stops it.', '')
  process.stdout.write(`${lines.join('\n')}\n`)

  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) { log.warn('second signal: exiting now'); process.exit(130) }
      stopping = true
      log.info({ signal }, 'shutting down')
      void (async () => {
        await sim?.stop().catch(() => {})
        await gw.stop()
        await demoCrm?.crm.close().catch(() => {})
        resolve()
      })()
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err) => {
  console.error(`aisle-edge failed: ${(err as Error)?.message ?? err}`)
  if (process.env['AISLE_DEBUG']) console.error(err)
  process.exit(1)
})
