/** pino JSON logs with redaction of tokens, keys and secrets wherever they appear in logged objects. */
import { pino, type Logger, type DestinationStream } from 'pino'

export type { Logger }

export const REDACT_PATHS = [
  'token', '*.token', 'key', '*.key', '*.*.key', 'secret', '*.secret', '*.*.secret', 'password', '*.password',
  'authorization', '*.authorization', 'req.headers.authorization', 'headers.authorization',
  'chainKey', '*.chainKey', 'publicKey', '*.publicKey', 'memberKey', '*.memberKey', 'tokens', '*.tokens',
  'mac', '*.mac', 'query.token', 'req.query.token',
]

export function createLogger(opts: { level?: string; name?: string; destination?: DestinationStream } = {}): Logger {
  return pino(
    {
      name: opts.name ?? 'aisle-edge',
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      base: undefined,
      timestamp: pino.stdTimeFunctions.isoTime,
      serializers: {
        req: (req: { method?: string; url?: string }) => ({ method: req.method, url: redactUrl(req.url ?? '') }),
      },
    },
    opts.destination,
  )
}

/** Strip token query parameters from URLs before they reach a log line. */
export function redactUrl(url: string): string {
  return url.replace(/([?&](?:token|access_token)=)[^&]*/gi, '$1[redacted]')
}
