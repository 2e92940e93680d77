/**
 * Versioned schema migrations. Each runs once, in its own transaction, and is recorded in schema_migrations.
 * Never edit a migration that has shipped: add the next one.
 */
import type { Db } from './db.js'

export interface Migration { version: number; name: string; sql: string }

export const MIGRATIONS: Migration[] = [
  {
    version: 1,
    name: 'initial',
    sql: `
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

CREATE TABLE members (
  member_id TEXT PRIMARY KEY,
  body TEXT NOT NULL,                 -- JSON of the Member resource (section 9), key included
  consent_offers INTEGER NOT NULL,
  consent_location INTEGER NOT NULL,
  source TEXT NOT NULL,               -- config | admin | crm
  updated_at INTEGER NOT NULL
);
CREATE TABLE erased_members (
  member_hash TEXT PRIMARY KEY,       -- HMAC of the member id under the gateway pepper: no id kept
  erased_at INTEGER NOT NULL
);

CREATE TABLE campaigns (
  id TEXT PRIMARY KEY,
  body TEXT NOT NULL,                 -- JSON of the Campaign resource
  source TEXT NOT NULL,
  updated_at INTEGER NOT NULL,
  retired_at INTEGER
);

CREATE TABLE layout (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  body TEXT NOT NULL,
  source TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);

CREATE TABLE offers (
  offer_id TEXT PRIMARY KEY,
  campaign_id TEXT NOT NULL,
  member_id TEXT NOT NULL,
  zone TEXT,
  trigger_kind TEXT NOT NULL,
  code TEXT NOT NULL UNIQUE,
  title TEXT NOT NULL,
  body TEXT NOT NULL,
  day TEXT NOT NULL,                  -- store-local date of issue, for daily caps
  issued_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  status TEXT NOT NULL,               -- issued | delivered | seen | dismissed | redeemed
  delivered_at INTEGER,
  seen_at INTEGER,
  dismissed_at INTEGER,
  redeemed_at INTEGER
);
CREATE INDEX offers_member ON offers (member_id, issued_at);
CREATE INDEX offers_campaign ON offers (campaign_id, issued_at);
CREATE INDEX offers_pending ON offers (member_id, status, expires_at);

CREATE TABLE dwell_sessions (
  id INTEGER PRIMARY KEY,
  subject TEXT NOT NULL,              -- pseudonymous subject key, never a member id
  zone TEXT NOT NULL,
  entered_at INTEGER NOT NULL,
  dwell_at INTEGER,
  exited_at INTEGER,
  seconds REAL NOT NULL,
  source TEXT NOT NULL                -- presence | sensor:<id>
);
CREATE INDEX dwell_sessions_zone ON dwell_sessions (zone, entered_at);

CREATE TABLE dead_letters (
  id INTEGER PRIMARY KEY,
  received_at INTEGER NOT NULL,
  topic TEXT NOT NULL,
  device TEXT,
  reason TEXT NOT NULL,
  detail TEXT,
  size INTEGER NOT NULL,
  payload BLOB NOT NULL               -- first 512 bytes
);
CREATE INDEX dead_letters_reason ON dead_letters (reason, id);

CREATE TABLE devices (
  device_id TEXT NOT NULL,
  kind TEXT NOT NULL,
  first_seen INTEGER NOT NULL,
  last_seen INTEGER NOT NULL,
  messages INTEGER NOT NULL,
  bad_messages INTEGER NOT NULL,
  last_bad_reason TEXT,
  last_bad_at INTEGER,
  battery REAL,
  online INTEGER,
  PRIMARY KEY (device_id, kind)
);

CREATE TABLE outbox (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,               -- crm (Segment track events) | ops (gateway health for central IT)
  message_id TEXT NOT NULL UNIQUE,    -- stable per event: retries de-duplicate
  event TEXT NOT NULL,
  user_id TEXT,
  anonymous_id TEXT,
  properties TEXT NOT NULL,
  ts INTEGER NOT NULL,
  attempts INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER,
  sent_at INTEGER
);
CREATE INDEX outbox_pending ON outbox (stream, sent_at, id);
CREATE INDEX outbox_user ON outbox (user_id);
`,
  },
  {
    version: 2,
    name: 'calibration',
    sql: `
CREATE TABLE calibration_sessions (
  id INTEGER PRIMARY KEY,
  zone TEXT NOT NULL,
  subject TEXT NOT NULL,              -- the calibration tag or phone as heard (a device id, never a member)
  started_at INTEGER NOT NULL,
  ends_at INTEGER NOT NULL,
  state TEXT NOT NULL,                -- recording | done | cancelled
  samples INTEGER NOT NULL DEFAULT 0,
  created_by TEXT NOT NULL
);
CREATE TABLE calibration_samples (
  id INTEGER PRIMARY KEY,
  session_id INTEGER,                 -- null for samples seeded from a file
  zone TEXT NOT NULL,
  ts INTEGER NOT NULL,
  rssi TEXT NOT NULL,                 -- JSON {anchor id: smoothed RSSI}
  source TEXT NOT NULL                -- walk | file
);
CREATE INDEX calibration_samples_zone ON calibration_samples (zone, ts);
CREATE TABLE fingerprint_models (
  id INTEGER PRIMARY KEY,
  built_at INTEGER NOT NULL,
  body TEXT NOT NULL,                 -- FingerprintModelData
  evaluation TEXT NOT NULL,           -- JSON: accuracy on a time split of the samples, per zone
  active INTEGER NOT NULL
);
`,
  },
  {
    version: 3,
    name: 'decisions',
    sql: `
CREATE TABLE decisions (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  member_id TEXT NOT NULL,
  zone TEXT,
  trigger_kind TEXT NOT NULL,
  offer_id TEXT,                      -- null when nothing was issued
  campaign_id TEXT,                   -- the chosen campaign
  model_version TEXT,                 -- null: ranked by rule priority
  fallback TEXT,                      -- why the model was not used (no-model, model-error)
  considered TEXT NOT NULL            -- JSON [{campaignId, outcome, score?}]
);
CREATE INDEX decisions_member ON decisions (member_id, ts);
CREATE INDEX decisions_campaign ON decisions (campaign_id, ts);
`,
  },
  {
    version: 4,
    name: 'redemption, stock, exposures',
    sql: `
ALTER TABLE offers ADD COLUMN skus TEXT NOT NULL DEFAULT '[]';
ALTER TABLE offers ADD COLUMN value REAL NOT NULL DEFAULT 0;
ALTER TABLE offers ADD COLUMN receipt_id TEXT;
ALTER TABLE decisions ADD COLUMN holdout INTEGER NOT NULL DEFAULT 0;
CREATE TABLE receipts (
  receipt_id TEXT PRIMARY KEY,        -- a POS resending a receipt does not count twice
  lane TEXT NOT NULL,
  member_id TEXT,
  ts INTEGER NOT NULL,
  total REAL NOT NULL,
  items TEXT NOT NULL,                -- JSON [{sku, qty, price}]
  coupons TEXT NOT NULL               -- JSON [code]
);
CREATE INDEX receipts_member ON receipts (member_id, ts);
CREATE TABLE redemptions (
  id INTEGER PRIMARY KEY,
  ts INTEGER NOT NULL,
  source TEXT NOT NULL,               -- receipt:<lane> | scan:<scanner>
  receipt_id TEXT,
  offer_id TEXT,
  campaign_id TEXT,
  outcome TEXT NOT NULL,              -- redeemed | malformed | bad-mac | expired | unknown-key | already-redeemed | wrong-member | not-applicable | other-store
  code_tag TEXT NOT NULL              -- first characters of the code, for support
);
CREATE INDEX redemptions_offer ON redemptions (offer_id);
CREATE TABLE exposures (
  id INTEGER PRIMARY KEY,
  member_id TEXT NOT NULL,
  campaign_id TEXT NOT NULL,
  offer_id TEXT,                      -- null for the holdout group
  holdout INTEGER NOT NULL,
  ts INTEGER NOT NULL,
  until INTEGER NOT NULL,             -- conversions count until then
  converted_at INTEGER,               -- redeemed, or bought one of the campaign's SKUs
  redeemed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX exposures_member ON exposures (member_id, until);
CREATE INDEX exposures_campaign ON exposures (campaign_id);
CREATE TABLE stock (
  sku TEXT PRIMARY KEY,
  level REAL,                         -- null: unknown (counts as in stock)
  price REAL,
  updated_at INTEGER NOT NULL
);
`,
  },
  {
    version: 5,
    name: 'call for service',
    sql: `
CREATE TABLE assist_requests (
  request_id TEXT PRIMARY KEY,
  source TEXT NOT NULL,               -- button | scan | app | gateway | admin
  origin TEXT NOT NULL,               -- button id, shelf code, or the member's gateway pseudonym
  member_id TEXT,                     -- for status frames to the app; removed on erasure
  zone TEXT,
  priority INTEGER NOT NULL,
  presses INTEGER NOT NULL,
  state TEXT NOT NULL,                -- queued | offered | accepted | arrived | done | cancelled | expired
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL,
  escalated_at INTEGER,
  band_id TEXT,                       -- the band that accepted
  clerk_id TEXT,
  accepted_at INTEGER,
  arrived_at INTEGER,
  closed_at INTEGER,
  close_reason TEXT,                  -- done | auto-closed | cancelled:<by> | expired
  requeues INTEGER NOT NULL DEFAULT 0,
  rounds INTEGER NOT NULL DEFAULT 0,
  offers TEXT NOT NULL                -- JSON [{alertId, band, clerkId, at, kind, outcome}]
);
CREATE INDEX assist_requests_state ON assist_requests (state);
CREATE INDEX assist_requests_created ON assist_requests (created_at);
CREATE INDEX assist_requests_member ON assist_requests (member_id);
CREATE TABLE assist_events (
  id INTEGER PRIMARY KEY,
  request_id TEXT NOT NULL,
  ts INTEGER NOT NULL,
  kind TEXT NOT NULL,                 -- transition | escalated | priority-raised | offer-ended
  from_state TEXT,
  to_state TEXT,
  detail TEXT NOT NULL
);
CREATE INDEX assist_events_request ON assist_events (request_id, id);
`,
  },
  {
    version: 6,
    name: 'personal data at rest',
    sql: `
-- members.body no longer holds the key: it is sealed here, and kept only with location consent
ALTER TABLE members ADD COLUMN key_enc TEXT;
-- offers.code now holds the keyed hash of the code; the code itself is sealed only while it may be re-sent
ALTER TABLE offers ADD COLUMN code_enc TEXT;
CREATE INDEX offers_code_enc ON offers (expires_at) WHERE code_enc IS NOT NULL;
-- member tokens issued before a member's erasure stop working
CREATE TABLE token_revocations (
  member_hash TEXT PRIMARY KEY,
  before INTEGER NOT NULL
);
`,
  },
  {
    version: 7,
    name: 'device identity',
    sql: `
-- devices allowed on the broker (CONTRACT 7a): the secret is kept only as hashes
CREATE TABLE device_credentials (
  device_id TEXT PRIMARY KEY,
  kind TEXT NOT NULL,
  zone TEXT,
  secret_hash TEXT NOT NULL,          -- HMAC under the gateway pepper
  mosquitto_hash TEXT NOT NULL,       -- the same secret in Mosquitto's password-file format (PBKDF2-SHA512)
  created_at INTEGER NOT NULL,
  rotated_at INTEGER NOT NULL,
  created_by TEXT NOT NULL
);
`,
  },
  {
    version: 8,
    name: 'crm sync',
    sql: `
-- during an outage the oldest undelivered outbox rows of a stream are packed into compressed blocks (the
-- outbox's commit order is kept: a block holds a contiguous run of one stream's rows, older than any row left)
CREATE TABLE outbox_blocks (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  first_id INTEGER NOT NULL,
  last_id INTEGER NOT NULL,
  count INTEGER NOT NULL,
  oldest_ts INTEGER NOT NULL,
  subjects TEXT NOT NULL,             -- keyed hashes of the user and anonymous ids inside (for erasure), never the ids
  data BLOB NOT NULL                  -- deflate of the rows as JSON
);
CREATE INDEX outbox_blocks_stream ON outbox_blocks (stream, first_id);
-- events the receiver refused for good (or too large to send): kept with the reason, not blocking the stream
CREATE TABLE outbox_parked (
  id INTEGER PRIMARY KEY AUTOINCREMENT,
  stream TEXT NOT NULL,
  message_id TEXT NOT NULL UNIQUE,
  event TEXT NOT NULL,
  user_id TEXT,
  anonymous_id TEXT,
  properties TEXT NOT NULL,
  ts INTEGER NOT NULL,
  reason TEXT NOT NULL,
  parked_at INTEGER NOT NULL
);
CREATE INDEX outbox_parked_user ON outbox_parked (user_id);
-- inbound cursors and ETags, applied only after what they name is committed
CREATE TABLE sync_state (
  key TEXT PRIMARY KEY,
  value TEXT NOT NULL,
  updated_at INTEGER NOT NULL
);
`,
  },
]

export async function migrate(db: Db, now: number, migrations: Migration[] = MIGRATIONS): Promise<number[]> {
  await db.exec('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at INTEGER NOT NULL)')
  const done = new Set((await db.all<{ version: number }>('SELECT version FROM schema_migrations')).map((r) => r.version))
  const applied: number[] = []
  const sorted = [...migrations].sort((a, b) => a.version - b.version)
  const newest = sorted[sorted.length - 1]?.version ?? 0
  const known = [...done].filter((v) => v > newest)
  if (known.length) throw new Error(`database schema version ${Math.max(...known)} is newer than this gateway knows (${newest}); refusing to run an older gateway on it`)
  for (const m of sorted) {
    if (done.has(m.version)) continue
    await db.exec('BEGIN IMMEDIATE')
    try {
      await db.exec(m.sql)
      await db.run('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)', [m.version, m.name, now])
      await db.exec('COMMIT')
    } catch (err) {
      await db.exec('ROLLBACK').catch(() => {})
      throw new Error(`migration ${m.version} (${m.name}) failed: ${(err as Error).message}`)
    }
    applied.push(m.version)
  }
  return applied
}
