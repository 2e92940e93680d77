/**
 * The gateway's configuration: one schema for the config file and the environment overrides.
 * Every key, its type, default and meaning are here; README "Configuration" is generated from the same words.
 */
import Type, { type Static } from 'typebox'
import { Campaign, Layout, Member } from '../contract/resources.js'
import { STORE_ID } from '../contract/ids.js'

const Port = Type.Integer({ minimum: 0, maximum: 65535, description: 'TCP port (0 = pick a free one)' })

export const Role = Type.Enum(['viewer', 'operator', 'admin'])
export type Role = Static<typeof Role>

export const AdminToken = Type.Object({
  name: Type.String({ minLength: 1, maxLength: 64, description: 'who holds it (shown in logs, never the token)' }),
  role: Role,
  sha256: Type.String({ pattern: '^[0-9a-f]{64}$', description: 'SHA-256 of the token, hex (`node dist/edge/main.js hash-token <token>`)' }),
}, { additionalProperties: false })

export const ConfigSchema = Type.Object({
  store: Type.Object({
    id: Type.String({ pattern: STORE_ID, description: 'store id; the MQTT topic prefix is aisle/<id> unless mqtt.topicPrefix is set' }),
    name: Type.String({ maxLength: 100 }),
    timezone: Type.String({ minLength: 1, maxLength: 64, description: 'IANA time zone of the store (quiet hours, daily caps)' }),
  }, { additionalProperties: false }),
  dataDir: Type.String({ minLength: 1, description: 'where the SQLite file and generated secrets live' }),
  http: Type.Object({
    host: Type.String({ minLength: 1 }),
    port: Port,
    publicUrl: Type.Optional(Type.String({ description: 'URL printed for users; default http://localhost:<port>' })),
  }, { additionalProperties: false }),
  mqtt: Type.Object({
    url: Type.Union([Type.String({ pattern: '^(mqtts?|wss?|tcp)://' }), Type.Null()], { description: 'external broker (Mosquitto, EMQX); null = embedded aedes broker' }),
    username: Type.Optional(Type.String()),
    password: Type.Optional(Type.String()),
    clientId: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
    topicPrefix: Type.Union([Type.String({ pattern: '^[^#+]+[^/#+]$' }), Type.Null()], { description: 'P of the contract; null = aisle/<store.id>' }),
    allowAnonymous: Type.Boolean({ description: 'let clients connect without device credentials (labs, replays; AISLE_MQTT_ANONYMOUS=on): they may then act as any device' }),
    embedded: Type.Object({
      host: Type.String({ minLength: 1 }),
      port: Port,
      plain: Type.Boolean({ description: 'serve plain MQTT on port (false: TLS only)' }),
      tls: Type.Optional(Type.Object({
        port: Port,
        certFile: Type.String({ minLength: 1, description: 'PEM certificate (chain) of the broker' }),
        keyFile: Type.String({ minLength: 1, description: 'PEM private key' }),
      }, { additionalProperties: false })),
      limits: Type.Object({
        maxConnections: Type.Integer({ minimum: 1, maximum: 100_000 }),
        maxConnectionsPerAddress: Type.Integer({ minimum: 1, maximum: 100_000 }),
        connectTimeoutSeconds: Type.Number({ minimum: 1, maximum: 120, description: 'a socket that sent no valid CONNECT by then is closed' }),
        maxSubscriptionsPerClient: Type.Integer({ minimum: 1, maximum: 10_000 }),
        maxRetained: Type.Integer({ minimum: 0, maximum: 1_000_000, description: 'retained messages (devices\' own status only)' }),
      }, { additionalProperties: false }),
    }, { additionalProperties: false }),
  }, { additionalProperties: false }),
  ingest: Type.Object({
    maxPayloadBytes: Type.Integer({ minimum: 256, maximum: 1_048_576 }),
    deadLetterMax: Type.Integer({ minimum: 100, maximum: 10_000_000, description: 'dead-letter rows kept; oldest pruned' }),
    clockSkewSeconds: Type.Number({ minimum: 1, description: 'a device ts further than this from the gateway clock is replaced by receive time' }),
  }, { additionalProperties: false }),
  presence: Type.Object({
    locator: Type.Enum(['auto', 'strongest', 'fingerprint', 'position', 'centroid'], { description: 'auto (default): fingerprints once calibrated, else the position tracker where zones have polygons and 3+ anchors have x/y, else the strongest anchor; strongest anchor; fingerprint k-NN (until calibrated as auto); position tracker from anchor x/y; centroid of the 3 strongest anchors' }),
    smoothing: Type.Object({
      kind: Type.Enum(['ema', 'kalman', 'percentile'], { description: 'per subject-anchor RSSI smoothing' }),
      alpha: Type.Number({ minimum: 0.01, maximum: 1, description: 'ema: weight of a new reading (without tau)' }),
      tau: Type.Optional(Type.Number({ minimum: 0, maximum: 60, description: 'ema: time constant in seconds (a reading dt after the last weighs 1 - e^(-dt/tau)); 0: use alpha' })),
      q: Type.Number({ minimum: 0.001, maximum: 100, description: 'kalman: process noise, dB^2 per second' }),
      r: Type.Number({ minimum: 0.1, maximum: 400, description: 'kalman: measurement noise, dB^2' }),
      gate: Type.Number({ minimum: 1, maximum: 10, description: 'kalman: a reading more than gate sigmas off is an outlier' }),
      window: Type.Integer({ minimum: 3, maximum: 31, description: 'percentile: readings in the window' }),
      percentile: Type.Number({ minimum: 0, maximum: 1, description: 'percentile: 0.5 = median' }),
    }, { additionalProperties: false }),
    staleSeconds: Type.Number({ minimum: 1, maximum: 600, description: 'a reading older than this no longer counts' }),
    defaultDwellSeconds: Type.Number({ minimum: 1, maximum: 3600 }),
    exitGraceSeconds: Type.Number({ minimum: 0, maximum: 600, description: 'a dropout shorter than this does not split a visit' }),
    stayProbability: Type.Number({ minimum: 0, maximum: 0.999, description: 'zone filter: chance a subject is still in its zone a second later' }),
    evidenceFloor: Type.Number({ minimum: 0.001, maximum: 10, description: 'zone filter: evidence every zone keeps per update; higher means one scan counts for less' }),
    switchMargin: Type.Number({ minimum: 0, maximum: 0.9, description: 'zone filter: how much more likely a new zone must be before a subject moves (stops flip-flop)' }),
    marginDb: Type.Number({ minimum: 0, maximum: 30, description: 'strongest: a challenger zone must be this much stronger' }),
    locateEveryMs: Type.Integer({ minimum: 0, maximum: 5000, description: 'locate a subject at most this often (readings in between still smooth)' }),
    pathLossExponent: Type.Number({ minimum: 1.5, maximum: 5, description: 'position: RSSI falls 10*n dB per decade of distance' }),
    position: Type.Optional(Type.Object({
      sigmaDb: Type.Number({ minimum: 1, maximum: 30, description: 'position: spread of a smoothed reading around the path-loss model, dB' }),
      maxSpeed: Type.Number({ minimum: 0.2, maximum: 10, description: 'position: fastest a subject moves, m/s (walking pace)' }),
      acceleration: Type.Number({ minimum: 0.01, maximum: 100, description: 'position: motion model acceleration noise, m^2/s^3 (higher follows turns faster, jitters more)' }),
      zoneScale: Type.Number({ minimum: 0.05, maximum: 20, description: 'position: metres; a subject moves about 1.1 of these into a new zone before it is placed there (spatial hysteresis)' }),
      learnGains: Type.Boolean({ description: 'position: learn each anchor\'s gain on line from the subjects it hears' }),
    }, { additionalProperties: false })),
    knn: Type.Integer({ minimum: 1, maximum: 100, description: 'fingerprint: neighbours that vote' }),
    fingerprintBandwidth: Type.Number({ minimum: 0.5, maximum: 50, description: 'fingerprint: dB over which a farther neighbour\'s vote fades' }),
    silenceDecay: Type.Number({ minimum: 0, maximum: 50, description: 'dB per second an anchor loses while it is not heard (after 1 s of silence)' }),
    tickMs: Type.Integer({ minimum: 50, maximum: 10_000 }),
    maxSubjects: Type.Integer({ minimum: 100, maximum: 1_000_000, description: 'subjects tracked at most; past it new ones (other than members and bands) wait until stale ones drop out' }),
    calibrationFile: Type.Optional(Type.String({ minLength: 1, description: 'fingerprints to seed calibration with when the database has none (relative to the config file)' })),
  }, { additionalProperties: false }),
  member: Type.Object({
    jwt: Type.Object({
      alg: Type.Enum(['HS256', 'ES256']),
      secret: Type.Optional(Type.String({ minLength: 16, description: 'HS256 shared secret (from the CRM); generated into dataDir when absent' })),
      publicKey: Type.Optional(Type.String({ minLength: 40, description: 'ES256 public key, SPKI PEM' })),
      issuer: Type.Optional(Type.String()),
      audience: Type.Optional(Type.String()),
      maxLifetime: Type.Integer({ minimum: 60, maximum: 366 * 86_400, description: 'seconds: a member token valid for longer (exp - iat, or exp - now without iat) is refused' }),
    }, { additionalProperties: false }),
    offlineQueueMax: Type.Integer({ minimum: 1, maximum: 1000, description: 'undelivered offers kept per member' }),
    maxSocketsPerMember: Type.Integer({ minimum: 1, maximum: 100, description: 'app connections one member may hold; a new one closes the oldest' }),
  }, { additionalProperties: false }),
  admin: Type.Object({
    tokens: Type.Array(AdminToken, { maxItems: 100 }),
  }, { additionalProperties: false }),
  coupon: Type.Object({
    key: Type.Optional(Type.String({ pattern: '^[0-9a-fA-F]{64,128}$', description: 'chain-wide coupon MAC key, hex (32-64 bytes); generated into dataDir when absent' })),
    keyId: Type.Integer({ minimum: 0, maximum: 255 }),
  }, { additionalProperties: false }),
  storage: Type.Object({
    file: Type.String({ minLength: 1, description: 'SQLite file, relative to dataDir' }),
    flushMs: Type.Integer({ minimum: 0, maximum: 1000, description: 'extra wait before a write batch commits (0 = commit as soon as the event loop is idle)' }),
    maxBatch: Type.Integer({ minimum: 1, maximum: 100_000 }),
  }, { additionalProperties: false }),
  offers: Type.Object({
    caps: Type.Object({
      perMemberPerDay: Type.Integer({ minimum: 0, maximum: 100, description: 'offers a member may get in a store-local day, across campaigns' }),
      perMemberPerWeek: Type.Integer({ minimum: 0, maximum: 500, description: 'offers a member may get in 7 days, across campaigns' }),
    }, { additionalProperties: false }),
    quietHours: Type.Array(Type.Object({ from: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }), to: Type.String({ pattern: '^([01]\\d|2[0-3]):[0-5]\\d$' }) }, { additionalProperties: false }), { maxItems: 10, description: 'store-local HH:MM ranges without offers; from > to spans midnight' }),
    holdoutPercent: Type.Number({ minimum: 0, maximum: 50, description: 'members (by hash) who are recorded but never sent offers, to measure uplift' }),
    holdoutSalt: Type.String({ minLength: 1, maxLength: 64, description: 'changing it draws a new holdout group' }),
    segmentRules: Type.Array(Type.Object({
      segment: Type.String({ minLength: 1, maxLength: 32 }),
      maxRecencyDays: Type.Optional(Type.Number()), minRecencyDays: Type.Optional(Type.Number()),
      minFrequency: Type.Optional(Type.Number()), maxFrequency: Type.Optional(Type.Number()), minMonetary: Type.Optional(Type.Number()),
    }, { additionalProperties: false }), { maxItems: 20, description: 'RFM segments, first match wins' }),
    scanSessionMinutes: Type.Number({ minimum: 1, maximum: 120, description: 'after a member card is scanned at a handheld, its product scans are that member\'s' }),
  }, { additionalProperties: false }),
  assist: Type.Object({
    policy: Type.Enum(['nearest', 'broadcast'], { description: 'nearest: one clerk at a time, nearest first; broadcast: every free clerk at once (the pager baseline)' }),
    acceptTimeoutSeconds: Type.Number({ minimum: 3, maximum: 600, description: 'an offer not accepted in this time goes to the next clerk' }),
    hedgeAfterSeconds: Type.Union([Type.Number({ minimum: 1, maximum: 600 }), Type.Null()], { description: 'nearest policy: when an offer has waited this long, the next nearest clerk is offered it too (the first offer stays open until its timeout); null = one clerk at a time' }),
    fanoutMetres: Type.Number({ minimum: 0, maximum: 500, description: 'nearest policy: free clerks at most this much further than the nearest are offered the request at the same time (first to accept goes); 0 = the nearest alone' }),
    maxFanout: Type.Integer({ minimum: 1, maximum: 20, description: 'most clerks offered a request at once under fanoutMetres' }),
    maxOffers: Type.Integer({ minimum: 1, maximum: 50, description: 'offers not accepted (timed out, declined, band lost) before the supervisors are alerted too' }),
    escalateAfterSeconds: Type.Number({ minimum: 5, maximum: 3600, description: 'or this long after the call, whichever comes first' }),
    expireAfterMinutes: Type.Number({ minimum: 1, maximum: 240, description: 'a request nobody accepted in this time expires' }),
    heartbeatTimeoutSeconds: Type.Number({ minimum: 5, maximum: 3600, description: 'a band with no status message for this long is offline' }),
    closeAfterMinutes: Type.Number({ minimum: 1, maximum: 480, description: 'an accepted or arrived request nobody closes is closed as done (counted apart) after this' }),
    supervisors: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 200, description: 'clerk ids of the supervisors, who get escalations' }),
    maxBands: Type.Integer({ minimum: 1, maximum: 100_000, description: 'bands tracked at most (their ids come from outside); the one silent longest makes way' }),
    zones: Type.Array(Type.Object({ zone: Type.String({ minLength: 1, maxLength: 64 }), afterSeconds: Type.Number({ minimum: 5, maximum: 3600 }) }, { additionalProperties: false }), { maxItems: 100, description: 'zones where a member standing this long gets a clerk sent over by the gateway' }),
  }, { additionalProperties: false }),
  devices: Type.Object({
    expectedIntervalSeconds: Type.Object(Object.fromEntries(['scanner', 'espresense', 'sensor', 'handheld', 'pos', 'button', 'band', 'device'].map((k) => [k,
      Type.Union([Type.Number({ minimum: 1, maximum: 7 * 86_400 }), Type.Null()])])), {
      additionalProperties: false,
      description: 'per device kind: a device heard from less often than this is flagged silent and counts as offline (null: the kind speaks only when used, online then comes from P/status alone)',
    }),
  }, { additionalProperties: false }),
  recommender: Type.Object({
    enabled: Type.Boolean({ description: 'rank eligible offers with the ONNX model; off = campaign rule priority' }),
    model: Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()], { description: 'model name in the manifest; null = the manifest default' }),
    modelDir: Type.Union([Type.String({ minLength: 1 }), Type.Null()], { description: 'folder with manifest.json and models; null = the shipped models/' }),
  }, { additionalProperties: false }),
  layout: Layout,
  members: Type.Array(Member, { maxItems: 1_000_000 }),
  campaigns: Type.Array(Campaign, { maxItems: 10_000 }),
  simulator: Type.Object({
    enabled: Type.Boolean({ description: 'run the store simulator against this gateway (AISLE_SIMULATOR=on|off)' }),
    shoppers: Type.Integer({ minimum: 0, maximum: 5000 }),
    clerks: Type.Integer({ minimum: 0, maximum: 200, description: 'simulated clerks wearing call bands (clerk-1, band-1, ...)' }),
    callsPerHour: Type.Number({ minimum: 0, maximum: 3600, description: 'simulated customers pressing the call buttons of the layout' }),
    seed: Type.Integer(),
  }, { additionalProperties: false }),
  log: Type.Object({
    level: Type.Enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  }, { additionalProperties: false }),
  crm: Type.Object({
    url: Type.Union([Type.String({ pattern: '^https?://', maxLength: 2048 }), Type.Null()], { description: 'central CRM base URL (README, "Syncing with the central CRM"); null = stand-alone, nothing leaves the gateway' }),
    writeKey: Type.Optional(Type.String({ minLength: 1, maxLength: 512, description: 'Basic-auth user name on POST /v1/batch (AISLE_CRM_WRITE_KEY)' })),
    storeToken: Type.Optional(Type.String({ minLength: 1, maxLength: 4096, description: 'Bearer token of the inbound pulls (AISLE_CRM_STORE_TOKEN)' })),
    modelPublicKey: Type.Optional(Type.String({ maxLength: 4096, description: 'Ed25519 public key (PEM) that signs the model manifest; models are not pulled without it' })),
    opsUrl: Type.Union([Type.String({ pattern: '^https?://', maxLength: 2048 }), Type.Null()], { description: 'where the ops stream (dead-letter counts, device health) is POSTed as batches; null = it stays at the edge, bounded' }),
    mqtt: Type.Object({
      url: Type.Union([Type.String({ pattern: '^mqtts?://', maxLength: 2048 }), Type.Null()], { description: 'send the CRM batches over MQTT to a cloud broker instead of HTTP (aisle-central/<storeId>/batch, QoS 1)' }),
      username: Type.Optional(Type.String({ maxLength: 256 })),
      password: Type.Optional(Type.String({ maxLength: 1024 })),
    }, { additionalProperties: false }),
    pull: Type.Object({
      membersSeconds: Type.Number({ minimum: 1, maximum: 86_400 }),
      campaignsSeconds: Type.Number({ minimum: 1, maximum: 86_400 }),
      layoutSeconds: Type.Number({ minimum: 1, maximum: 86_400 }),
      modelsSeconds: Type.Number({ minimum: 1, maximum: 86_400 }),
    }, { additionalProperties: false }),
    maxBackoffSeconds: Type.Number({ minimum: 1, maximum: 3600, description: 'longest wait between two tries of a failing batch' }),
    timeoutSeconds: Type.Number({ minimum: 1, maximum: 300, description: 'one request to the CRM' }),
    drainThread: Type.Boolean({ description: 'build and send batches on a worker thread of their own, off the event loop that turns sightings into offers (false: on the main thread)' }),
    outboxBudgetMB: Type.Number({ minimum: 1, maximum: 100_000, description: 'disk the undelivered outbox may take; near it an alarm, at it the ops stream drops its oldest and new discretionary CRM records (Zone Dwelled, new offers) are refused, counted' }),
  }, { additionalProperties: false }),
  metrics: Type.Object({
    token: Type.Optional(Type.String({ minLength: 16, description: '/metrics needs `Authorization: Bearer <token>` when set (AISLE_METRICS_TOKEN), for stores that expose the port' })),
  }, { additionalProperties: false }),
}, { additionalProperties: false })

export type Config = Static<typeof ConfigSchema>
