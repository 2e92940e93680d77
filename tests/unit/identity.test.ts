/** Identity: rpid -> pseudonymous key only with location consent, stable across rotations; no member id leaks. */
import t from 'tap'
import { rpidAt } from '../../edge/contract/rpid.js'
import { Identity } from '../../edge/identity/identity.js'

const K1 = '11'.repeat(32)
const K2 = '22'.repeat(32)
const T0 = Date.UTC(2026, 10, 23, 12, 14, 0)

t.test('resolution', async (t) => {
  const id = new Identity(Buffer.alloc(32, 7))
  id.upsert({ memberId: 'm-1', key: K1, consent: { offers: true, location: true } })
  id.upsert({ memberId: 'm-2', key: K2, consent: { offers: true, location: false } })
  id.advance(T0)
  const r = id.resolve(rpidAt(K1, T0))
  t.match(r.key, /^pm:[0-9a-f]{16}$/)
  t.equal(r.memberId, 'm-1')
  t.equal(id.resolve(rpidAt(K1, T0 - 900_000)).key, r.key, 'previous window resolves (clock drift)')
  t.equal(id.resolve(rpidAt(K1, T0 + 900_000)).key, r.key, 'next window resolves')
  t.same(id.resolve(rpidAt(K1, T0 + 2 * 900_000)), { key: rpidAt(K1, T0 + 2 * 900_000) }, 'two windows ahead does not')
  id.advance(T0 + 900_000)
  t.equal(id.resolve(rpidAt(K1, T0 + 2 * 900_000)).key, r.key, 'after the window turns it does')
  t.same(id.resolve(rpidAt(K1, T0 - 900_000)), { key: rpidAt(K1, T0 - 900_000) }, 'and the oldest window is dropped')
  t.same(id.resolve(rpidAt(K2, T0)), { key: rpidAt(K2, T0) }, 'no location consent: stays an anonymous rpid')
  t.equal(id.memberOfKey(r.key), 'm-1')
  t.equal(id.resolve('ibeacon:x-1-2').key, 'ibeacon:x-1-2', 'other subjects keep their id')
  t.not(id.pseudonym('m-1'), new Identity(Buffer.alloc(32, 8)).pseudonym('m-1'), 'pseudonyms depend on the gateway pepper')
  id.remove('m-1')
  t.same(id.resolve(rpidAt(K1, T0 + 900_000)), { key: rpidAt(K1, T0 + 900_000) }, 'removed members no longer resolve')
  t.equal(id.memberOfKey(r.key), undefined)
})

t.test('consent change takes effect at once', async (t) => {
  const id = new Identity(Buffer.alloc(32, 1))
  id.advance(T0)
  id.upsert({ memberId: 'm-1', key: K1, consent: { offers: true, location: true } })
  t.equal(id.resolve(rpidAt(K1, T0)).memberId, 'm-1')
  id.upsert({ memberId: 'm-1', key: K1, consent: { offers: true, location: false } })
  t.equal(id.resolve(rpidAt(K1, T0)).memberId, undefined)
})
