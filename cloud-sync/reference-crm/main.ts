#!/usr/bin/env node
/**
 * The reference central CRM, stand-alone (a development and test aid: see server.ts).
 *   npm run build && node --enable-source-maps dist/cloud-sync/reference-crm/main.js [options]
 * Prints its URL on one line (and nothing else on stdout unless --log), then serves until SIGINT/SIGTERM.
 * The write key and store token use the gateway's own variables, so one environment configures both sides.
 */
import { createPrivateKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { startReferenceCrm } from './server.js'

const USAGE = `usage: reference-crm [options]
  --port <n>            AISLE_REFCRM_PORT         port (default 0: a free one)
  --host <addr>         AISLE_REFCRM_HOST         address (default 127.0.0.1)
  --db <file>           AISLE_REFCRM_DB           SQLite file (default :memory:)
  --write-key <key>     AISLE_CRM_WRITE_KEY       Basic auth user name of POST /v1/batch (required)
  --store-token <tok>   AISLE_CRM_STORE_TOKEN     Bearer token of the pulls and /_admin (required)
  --signing-key <file>  AISLE_REFCRM_SIGNING_KEY  Ed25519 private key, PKCS#8 PEM; created there when missing
                                                  (default: a new key each run; GET /_admin/public-key gives its public half)
  --page-size <n>       AISLE_REFCRM_PAGE_SIZE    members per page (default 500)
  --log                                           fastify request logs (JSON) on stdout`

function signingKey(file: string | undefined): KeyObject | undefined {
  if (!file) return undefined
  if (existsSync(file)) return createPrivateKey(readFileSync(file))
  const { privateKey } = generateKeyPairSync('ed25519')
  writeFileSync(file, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 })
  return privateKey
}

function int(name: string, v: string | undefined): number | undefined {
  if (v === undefined || v === '') return undefined
  const n = Number(v)
  if (!Number.isInteger(n) || n < 0) throw new Error(`${name} must be a non-negative integer, not ${JSON.stringify(v)}`)
  return n
}

async function main(argv: string[]): Promise<number> {
  let values
  try {
    values = parseArgs({
      args: argv,
      options: {
        port: { type: 'string' }, host: { type: 'string' }, db: { type: 'string' }, 'write-key': { type: 'string' },
        'store-token': { type: 'string' }, 'signing-key': { type: 'string' }, 'page-size': { type: 'string' },
        log: { type: 'boolean' }, help: { type: 'boolean', short: 'h' },
      },
    }).values
  } catch (err) {
    console.error(`${(err as Error).message}\n${USAGE}`)
    return 2
  }
  if (values.help) { console.log(USAGE); return 0 }
  const env = process.env
  const writeKey = values['write-key'] ?? env['AISLE_CRM_WRITE_KEY']
  const storeToken = values['store-token'] ?? env['AISLE_CRM_STORE_TOKEN']
  if (!writeKey || !storeToken) { console.error(`a write key and a store token are required\n${USAGE}`); return 2 }
  const port = int('port', values.port ?? env['AISLE_REFCRM_PORT'])
  const pageSize = int('page size', values['page-size'] ?? env['AISLE_REFCRM_PAGE_SIZE'])
  const key = signingKey(values['signing-key'] ?? env['AISLE_REFCRM_SIGNING_KEY'])
  const crm = await startReferenceCrm({
    writeKey, storeToken,
    host: values.host ?? env['AISLE_REFCRM_HOST'] ?? '127.0.0.1',
    dbFile: values.db ?? env['AISLE_REFCRM_DB'] ?? ':memory:',
    logger: values.log ?? false,
    ...(port !== undefined ? { port } : {}),
    ...(pageSize !== undefined && pageSize > 0 ? { pageSize } : {}),
    ...(key ? { signingKey: key } : {}),
  })
  process.stdout.write(`${crm.url}\n`)
  await new Promise<void>((resolve) => {
    const stop = () => { void crm.close().finally(resolve) }
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return 0
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
}, (err) => {
  console.error(`reference-crm failed: ${(err as Error)?.message ?? err}`)
  process.exit(1)
})
