/** Small shared pieces: formatting by the gateway's clock, badges, cards, an async action button. */
import type { ComponentChildren } from 'preact'
import { useState } from 'preact/hooks'
import { ApiError } from './api.js'
import { gatewayNow, toast } from './store.js'

export function ago(t: number | string | null | undefined, now = gatewayNow()): string {
  if (t === null || t === undefined) return '—'
  const ms = now - (typeof t === 'string' ? Date.parse(t) : t)
  return `${duration(Math.max(0, ms) / 1000)} ago`
}

export function duration(s: number | null | undefined): string {
  if (s === null || s === undefined || !Number.isFinite(s)) return '—'
  if (s < 60) return `${Math.floor(s)} s`
  if (s < 3600) return `${Math.floor(s / 60)} min ${Math.floor(s % 60).toString().padStart(2, '0')} s`
  if (s < 86_400) return `${Math.floor(s / 3600)} h ${Math.floor((s % 3600) / 60).toString().padStart(2, '0')} min`
  return `${Math.floor(s / 86_400)} d ${Math.floor((s % 86_400) / 3600)} h`
}

/** m:ss, for timers */
export function clock(s: number): string {
  const v = Math.max(0, Math.floor(s))
  return `${Math.floor(v / 60)}:${(v % 60).toString().padStart(2, '0')}`
}

export const pct = (x: number | null | undefined, digits = 1): string => (x === null || x === undefined ? '—' : `${(x * 100).toFixed(digits)}%`)
export const pts = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : `${x >= 0 ? '+' : ''}${(x * 100).toFixed(1)} pts`)
export const num = (x: number | null | undefined): string => (x === null || x === undefined ? '—' : x.toLocaleString('en'))
export const bytes = (b: number): string => (b < 1024 ? `${b} B` : b < 1024 ** 2 ? `${(b / 1024).toFixed(1)} KiB` : b < 1024 ** 3 ? `${(b / 1024 ** 2).toFixed(1)} MiB` : `${(b / 1024 ** 3).toFixed(2)} GiB`)
export const timeOf = (t: number | string, tz?: string): string => new Date(t).toLocaleTimeString('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', ...(tz ? { timeZone: tz } : {}) })

/**
 * A chart's time axis in the store's time zone and 24-hour clock, whatever the browser's own are: tick labels
 * (spaced so they never collide), the legend's time, and ticks placed on the store's hours.
 */
export function storeTimeAxis(tz: string | undefined): { tzDate: (ts: number) => Date; x: { value: (u: unknown, v: number | null) => string }; axis: { space: number; values: (u: unknown, splits: number[]) => string[] } } {
  const zone = tz ?? 'UTC'
  const hm = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', hourCycle: 'h23', timeZone: zone })
  const hms = new Intl.DateTimeFormat('en-GB', { hour: '2-digit', minute: '2-digit', second: '2-digit', hourCycle: 'h23', timeZone: zone })
  // uPlot's own helper, without importing uPlot here: a Date whose local fields are the store's wall clock
  const tzDate = (ts: number) => {
    const d = new Date(ts * 1000)
    const p = Object.fromEntries(new Intl.DateTimeFormat('en-US', { timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric' }).formatToParts(d).map((x) => [x.type, Number(x.value)]))
    return new Date(p['year']!, p['month']! - 1, p['day']!, p['hour']!, p['minute']!, p['second']!, d.getMilliseconds())
  }
  return {
    tzDate,
    x: { value: (_u, v) => (v === null ? '—' : hms.format(v * 1000)) },
    axis: { space: 70, values: (_u, splits) => splits.map((v) => hm.format(v * 1000)) },
  }
}

export function Badge({ kind, children, title }: { kind: 'ok' | 'warn' | 'bad' | 'muted' | 'info'; children: ComponentChildren; title?: string }) {
  return <span class={`badge ${kind}`} title={title}>{children}</span>
}

export function Card({ title, children, actions, class: cls }: { title: ComponentChildren; children: ComponentChildren; actions?: ComponentChildren; class?: string }) {
  return (
    <section class={`card ${cls ?? ''}`}>
      <header><h2>{title}</h2>{actions ? <div class="actions">{actions}</div> : null}</header>
      <div class="body">{children}</div>
    </section>
  )
}

export function errorText(err: unknown): string {
  if (err instanceof ApiError) {
    const problems = (err.body as { problems?: { path: string; expected: string }[] } | null)?.problems
    return problems?.length ? `${err.message}` : err.message
  }
  return (err as Error)?.message ?? String(err)
}

/** A button that runs an async action, shows it is busy, and reports failure. */
export function Action({ run, children, kind = 'primary', confirm: ask, disabled, title, testid }: { run: () => Promise<unknown>; children: ComponentChildren; kind?: 'primary' | 'secondary' | 'danger'; confirm?: string; disabled?: boolean; title?: string; testid?: string }) {
  const [busy, setBusy] = useState(false)
  return (
    <button type="button" class={`btn ${kind}`} disabled={busy || disabled} title={title} data-testid={testid} onClick={async () => {
      if (ask && !window.confirm(ask)) return
      setBusy(true)
      try { await run() } catch (err) { toast(errorText(err), 'warn') } finally { setBusy(false) }
    }}>{busy ? '…' : children}</button>
  )
}

export function Empty({ children }: { children: ComponentChildren }) { return <p class="empty">{children}</p> }
