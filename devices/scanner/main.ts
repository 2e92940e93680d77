#!/usr/bin/env node
/**
 * aisle-scanner: the gateway box's own BLE scanner (`npm run scanner`, config/aisle-scanner.service).
 *   node dist/devices/scanner/main.js             scan and publish (configuration: environment, see --help)
 *   node dist/devices/scanner/main.js check-env   check the environment and exit
 */
import { pino } from 'pino'
import { BluezBackend } from './bluez.js'
import { SCANNER_ENV, scannerConfigFromEnv, type ScannerConfig } from './config.js'
import { NobleBackend } from './noble.js'
import { displayUrl, Scanner } from './scanner.js'
import type { BleBackend } from './types.js'

function usage(): string {
  const lines = SCANNER_ENV.map((v) => `  ${v.name.padEnd(30)} ${v.doc}${v.default !== undefined ? ` (default ${v.default})` : ''}`)
  return `usage: aisle-scanner [check-env]\nenvironment:\n${lines.join('\n')}`
}

export function createBackend(config: ScannerConfig, log: pino.Logger): BleBackend {
  const child = log.child({ component: 'ble' })
  return config.backend === 'noble'
    ? new NobleBackend({ adapter: config.adapter, log: child })
    : new BluezBackend({ adapter: config.adapter, log: child })
}

async function main(argv: string[]): Promise<number> {
  const cmd = argv[0]
  if (cmd === '--help' || cmd === '-h' || cmd === 'help') { console.log(usage()); return 0 }
  if (cmd !== undefined && cmd !== 'check-env') { console.error(`unknown argument ${cmd}\n${usage()}`); return 2 }
  const result = scannerConfigFromEnv(process.env)
  if (!result.ok) {
    console.error(`Invalid scanner configuration:\n${result.problems.map((p) => `  - ${p}`).join('\n')}\nThe scanner did not start (\`aisle-scanner --help\` lists the variables).`)
    return 1
  }
  const config = result.config
  if (cmd === 'check-env') {
    console.log(`OK: scanner ${config.scannerId} on ${config.adapter} (${config.backend}) -> ${displayUrl(config.mqttUrl)} ${config.prefix}/ble/${config.scannerId}, every ${config.intervalMs} ms`)
    return 0
  }
  const log = pino({
    name: 'aisle-scanner',
    level: config.logLevel,
    base: undefined,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: ['password', '*.password', 'secret', '*.secret', 'mac', '*.mac', 'address', '*.address'], censor: '[redacted]' },
  })
  const scanner = new Scanner({ config, backend: createBackend(config, log), log })
  log.info({ scanner: config.scannerId, adapter: config.adapter, backend: config.backend, broker: displayUrl(config.mqttUrl), prefix: config.prefix, intervalMs: config.intervalMs, credentials: config.secret !== undefined }, 'scanner starting')
  await scanner.start()
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (signal: string) => {
      if (stopping) { log.warn('second signal: exiting now'); process.exit(130) }
      stopping = true
      log.info({ signal }, 'scanner stopping')
      const hard = setTimeout(() => { log.warn('did not stop within 10 s: exiting'); process.exit(1) }, 10_000)
      hard.unref()
      scanner.stop().then(resolve, (err) => { log.error({ err: String(err) }, 'stop failed'); resolve() })
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
  // node-ble's D-Bus socket or noble's HCI socket may keep the loop alive after a stop
  if (code === 0) setTimeout(() => process.exit(0), 200).unref()
}, (err) => {
  console.error(`aisle-scanner failed: ${(err as Error)?.message ?? err}`)
  process.exitCode = 1
  setTimeout(() => process.exit(1), 200).unref()
})
