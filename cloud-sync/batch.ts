/**
 * Segment-compatible envelopes (CONTRACT 7.1): one outbox record -> one `track` event; events -> batches of at
 * most 500 KB, each event at most 32 KB. Pure: no I/O, no clock (the caller passes `sentAt`).
 */
import type { OutboxRecord } from './outbox.js'

export const MAX_BATCH_BYTES = 500 * 1024
export const MAX_EVENT_BYTES = 32 * 1024
export const MAX_MESSAGE_ID = 100
export const LIBRARY_NAME = 'aisle-edge'

export interface EnvelopeContext {
  storeId: string
  version: string
  /** the user id of a record whose id is sealed at rest (`Member Erased`), null when it cannot be opened */
  unseal: (sealed: string) => string | null
}

/** property that carries a sealed user id instead of `user_id` (the erased member's id is not kept in clear) */
export const SEALED_USER = '_sealedUserId'

/** The event as JSON text, or why it cannot be sent. */
export function envelope(r: OutboxRecord, c: EnvelopeContext): { json: string; bytes: number } | { refused: string } {
  if (r.messageId.length > MAX_MESSAGE_ID) return { refused: `messageId over ${MAX_MESSAGE_ID} characters` }
  let userId = r.userId
  let props = r.properties
  if (props.includes(SEALED_USER)) {
    // the one case the stored properties are rewritten: the sealed id comes out of them into userId
    let properties: Record<string, unknown>
    try { properties = JSON.parse(props) as Record<string, unknown> } catch { return { refused: 'properties are not JSON' } }
    if (typeof properties[SEALED_USER] === 'string') {
      userId = c.unseal(properties[SEALED_USER] as string)
      delete properties[SEALED_USER]
      if (userId === null) return { refused: 'sealed user id cannot be opened (storage key changed)' }
    }
    props = JSON.stringify(properties)
  } else if (props.charCodeAt(0) !== 123 /* { */ || props.charCodeAt(props.length - 1) !== 125 /* } */) {
    // stored by JSON.stringify of an object (outboxOp), spliced in as it is; anything else is not ours
    return { refused: 'properties are not a JSON object' }
  }
  const who = userId ? `"userId":${JSON.stringify(userId)}` : `"anonymousId":${JSON.stringify(r.anonymousId ?? c.storeId)}`
  if (!Number.isFinite(r.ts) || Math.abs(r.ts) > 8.64e15) return { refused: `timestamp ${r.ts} is not a time` }
  const json = `{"type":"track","event":${JSON.stringify(r.event)},${who},"properties":${props},"timestamp":"${new Date(r.ts).toISOString()}","messageId":${JSON.stringify(r.messageId)},"context":${contextJson(c)}}`
  const bytes = Buffer.byteLength(json, 'utf8')
  if (bytes > MAX_EVENT_BYTES) return { refused: `event over ${MAX_EVENT_BYTES / 1024} KB (${bytes} bytes)` }
  return { json, bytes }
}

const contexts = new WeakMap<EnvelopeContext, string>()
function contextJson(c: EnvelopeContext): string {
  let s = contexts.get(c)
  if (!s) { s = JSON.stringify({ store: c.storeId, library: { name: LIBRARY_NAME, version: c.version } }); contexts.set(c, s) }
  return s
}

export interface Prepared { record: OutboxRecord; json: string; bytes: number }

const HEAD = '{"batch":['
const tail = (sentAt: string) => `],"sentAt":"${sentAt}"}`

/** Cut the events, in order, into batches under the size limit (an event never splits). */
export function cut(events: readonly Prepared[], maxBytes = MAX_BATCH_BYTES): Prepared[][] {
  const room = maxBytes - HEAD.length - tail('2000-01-01T00:00:00.000Z').length
  const out: Prepared[][] = []
  let cur: Prepared[] = []
  let size = 0
  for (const e of events) {
    const add = e.bytes + (cur.length ? 1 : 0)
    if (cur.length && size + add > room) { out.push(cur); cur = []; size = 0 }
    size += e.bytes + (cur.length ? 1 : 0)
    cur.push(e)
  }
  if (cur.length) out.push(cur)
  return out
}

export function body(events: readonly Prepared[], sentAt: string): string {
  return HEAD + events.map((e) => e.json).join(',') + tail(sentAt)
}
