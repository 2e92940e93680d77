/** Logs are JSON and never carry tokens, keys or secrets. */
import t from 'tap'
import { Writable } from 'node:stream'
import { createLogger, redactUrl } from '../../edge/core/log.js'

t.test('redaction', async (t) => {
  const lines: string[] = []
  const log = createLogger({ destination: new Writable({ write(c, _e, cb) { lines.push(String(c)); cb() } }) as never })
  log.info({ token: 'tok-123', member: { key: 'abcdef' }, cfg: { jwt: { secret: 's3cr3t' } }, authorization: 'Bearer xyz', coupon: { chainKey: 'k' }, ok: 'visible' }, 'hello')
  const line = lines.join('')
  const parsed = JSON.parse(line) as Record<string, unknown>
  t.equal(parsed['msg'], 'hello')
  t.equal(parsed['ok'], 'visible')
  for (const secret of ['tok-123', 'abcdef', 's3cr3t', 'xyz']) t.notOk(line.includes(secret), `no ${secret}`)
  t.equal(redactUrl('/v1/member/ws?token=eyJabc&x=1'), '/v1/member/ws?token=[redacted]&x=1')
})
