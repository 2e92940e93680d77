/** Run the built gateway (dist/) as a child process, as systemd would. */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { packageRoot } from '../../edge/config/load.js'
import { waitFor } from './net.js'

export const distMain = (): string => join(packageRoot(), 'dist', 'edge', 'main.js')
export const hasDist = (): boolean => existsSync(distMain())

export interface Child { proc: ChildProcess; out: string[]; exited: Promise<number | null> }

export function spawnGateway(args: string[], env: Record<string, string>): Child {
  const proc = spawn(process.execPath, [distMain(), ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const out: string[] = []
  proc.stdout?.on('data', (d) => out.push(String(d)))
  proc.stderr?.on('data', (d) => out.push(String(d)))
  const exited = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)))
  return { proc, out, exited }
}

export async function waitReady(httpUrl: string, child: Child, timeoutMs = 20_000): Promise<void> {
  await waitFor(async () => {
    if (child.proc.exitCode !== null) throw new Error(`gateway exited (${child.proc.exitCode}): ${child.out.join('')}`)
    try {
      return (await fetch(`${httpUrl}/readyz`)).status === 200
    } catch {
      return false
    }
  }, { timeoutMs, intervalMs: 100, what: 'gateway ready' })
}
