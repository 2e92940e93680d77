/**
 * A fake-but-real BlueZ for tests without Bluetooth hardware: a private dbus-daemon playing the system bus
 * (unix:path= socket in a temp folder; point DBUS_SYSTEM_BUS_ADDRESS at `address`), and python-dbusmock's
 * bluez5 template extended by tests/helpers/bluez_template.py (an unpowered adapter, BlueZ's discovery
 * semantics, "radios" that advertise while discovery is on). `kill()` is bluetoothd crashing, `start()`
 * brings it back bare. Needs Debian's python3-dbusmock (for /usr/bin/python3, not a pyenv python) and dbus.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Message, sessionBus, type MessageBus } from 'dbus-next'
import { waitFor } from './net.js'

export const SYSTEM_PYTHON = '/usr/bin/python3'
const TEMPLATE = join(dirname(fileURLToPath(import.meta.url)), 'bluez_template.py')

function dbusDaemon(): string | null {
  for (const p of ['/usr/bin/dbus-daemon', '/bin/dbus-daemon']) if (existsSync(p)) return p
  return null
}

/** Why the mock cannot run here (for t.skip), or null when it can. */
export function bluezMockMissing(): string | null {
  if (!dbusDaemon()) return 'dbus-daemon is not installed (apt-get install dbus)'
  if (!existsSync(SYSTEM_PYTHON)) return `${SYSTEM_PYTHON} is missing (apt-get install python3-dbusmock)`
  const r = spawnSync(SYSTEM_PYTHON, ['-c', 'import dbusmock, dbus, gi.repository.GLib'], { stdio: 'ignore' })
  if (r.status !== 0) return `python-dbusmock is not installed for ${SYSTEM_PYTHON} (apt-get install python3-dbusmock)`
  return null
}

export interface RadioSpec {
  address: string
  addressType?: 'public' | 'random'
  intervalMs?: number
  offsetMs?: number
  rssi?: number | number[]
  /** company id (decimal) -> data hex (after the company id) */
  manufacturerData?: Record<string, string>
  /** 128-bit UUID -> data hex */
  serviceData?: Record<string, string>
  uuids?: string[]
  txPower?: number
  name?: string
  flags?: number
}

export interface MockState { adapter: boolean; powered?: boolean; discovering?: boolean; filter?: Record<string, unknown>; starts?: number; advertisements?: number; reported?: number; devices?: number }

export interface BluezMock {
  /** the bus address, for DBUS_SYSTEM_BUS_ADDRESS */
  address: string
  /** the mock process (bluetoothd) is running */
  readonly running: boolean
  /** SIGKILL the mock: bluetoothd crashing */
  kill(): Promise<void>
  /** start the mock again: a bare bluetoothd with an unpowered adapter */
  start(): Promise<void>
  addRadio(spec: RadioSpec): Promise<string>
  updateRadio(spec: Partial<RadioSpec> & { address: string }): Promise<void>
  removeRadio(address: string): Promise<void>
  advertise(address: string): Promise<boolean>
  removeAdapter(): Promise<void>
  addAdapter(): Promise<void>
  state(): Promise<MockState>
  /** the mock's stderr so far (for failure messages) */
  readonly output: string
  stop(): Promise<void>
}

export async function startBluezMock(opts: { adapter?: string } = {}): Promise<BluezMock> {
  const missing = bluezMockMissing()
  if (missing) throw new Error(missing)
  const dir = mkdtempSync(join(tmpdir(), 'aisle-bluez-'))
  const socket = join(dir, 'system_bus_socket')
  const address = `unix:path=${socket}`
  writeFileSync(join(dir, 'bus.conf'), `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>${address}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*" eavesdrop="true"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
`)
  let output = ''
  const daemon = spawn(dbusDaemon()!, ['--config-file', join(dir, 'bus.conf'), '--nofork', '--nopidfile', '--nosyslog'], { stdio: ['ignore', 'ignore', 'pipe'] })
  daemon.stderr?.on('data', (d) => { output += String(d) })
  await waitFor(() => existsSync(socket), { timeoutMs: 5000, what: `dbus-daemon socket (${output})` })

  const control: MessageBus = sessionBus({ busAddress: address })
  control.on('error', () => {})
  const call = async (member: string, signature = '', body: unknown[] = [], iface = 'org.aisle.Harness', path = '/'): Promise<unknown[]> => {
    const reply = await control.call(new Message({ destination: 'org.bluez', path, interface: iface, member, signature, body }))
    return reply?.body ?? []
  }
  const owner = async (): Promise<string | null> => {
    try {
      const r = await control.call(new Message({ destination: 'org.freedesktop.DBus', path: '/org/freedesktop/DBus', interface: 'org.freedesktop.DBus', member: 'GetNameOwner', signature: 's', body: ['org.bluez'] }))
      return (r?.body[0] as string) ?? null
    } catch { return null }
  }

  let mock: ChildProcess | null = null
  const adapter = opts.adapter ?? 'hci0'
  const start = async (): Promise<void> => {
    if (mock) throw new Error('the mock is running')
    const proc = spawn(SYSTEM_PYTHON, ['-m', 'dbusmock', '--system', '--template', TEMPLATE, '--parameters', JSON.stringify({ adapter })], {
      env: { ...process.env, DBUS_SYSTEM_BUS_ADDRESS: address, PYTHONDONTWRITEBYTECODE: '1' },
      stdio: ['ignore', 'ignore', 'pipe'],
    })
    proc.stderr?.on('data', (d) => { output += String(d) })
    proc.once('exit', () => { if (mock === proc) mock = null })
    mock = proc
    await waitFor(async () => {
      if (proc.exitCode !== null) throw new Error(`the bluez mock exited (${proc.exitCode}): ${output}`)
      if (!(await owner())) return false
      // the template has run once the harness answers
      try { await call('State'); return true } catch { return false }
    }, { timeoutMs: 15_000, what: 'the bluez mock on the bus' })
  }
  const kill = async (): Promise<void> => {
    const proc = mock
    if (!proc) return
    mock = null
    const exited = new Promise((r) => proc.once('exit', r))
    proc.kill('SIGKILL')
    await exited
    await waitFor(async () => (await owner()) === null, { timeoutMs: 5000, what: 'org.bluez to go away' })
  }

  await start()
  return {
    address,
    get running() { return mock !== null },
    get output() { return output },
    kill,
    start,
    async addRadio(spec) { return (await call('AddRadio', 's', [JSON.stringify(spec)]))[0] as string },
    async updateRadio(spec) { await call('UpdateRadio', 's', [JSON.stringify(spec)]) },
    async removeRadio(a) { await call('RemoveRadio', 's', [a]) },
    async advertise(a) { return (await call('Advertise', 's', [a]))[0] as boolean },
    async removeAdapter() { await call('RemoveAdapter') },
    async addAdapter() { await call('AddAdapter') },
    async state() { return JSON.parse((await call('State'))[0] as string) as MockState },
    async stop() {
      await kill()
      control.disconnect()
      const exited = new Promise((r) => daemon.once('exit', r))
      daemon.kill('SIGTERM')
      await exited
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
