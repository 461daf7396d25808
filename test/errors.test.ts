// Error classes, codes and messages; the malformed / never-issued / foreign /
// stale classification of handles.
import { describe, test, expect, expectTypeOf } from 'vitest'
import {
  HandleRegistry,
  HandleDomain,
  HandleRegistryError,
  InvalidHandleError,
  StaleHandleError,
  ForeignHandleError,
  CollectedHandleError,
  RegistryClosedError,
  DomainExhaustedError,
  InvalidOptionError,
  IllegalConstructorError,
  NativeUnavailableError,
  decodeHandle,
  HANDLE_LAYOUT,
} from '../src/index'
import type { Handle, HandleRegistryErrorCode } from '../src/index'
import { nativeBinding } from '../src/native'
import { MALFORMED, codeOf, describeValue, errorOf } from './fixtures/helpers'

const GEN_UNIT = 2 ** 28
const PREFIX = 'handle-registry: '

/** Asserts the four lookup methods classify h as `code` (get/release throw, has false, tryGet undefined). */
function expectRejected(reg: HandleRegistry, h: unknown, code: string, cls: new (...a: never[]) => Error): void {
  const tag = describeValue(h)
  const g = errorOf(() => reg.get(h as Handle<unknown>))
  expect({ tag, op: 'get', code: g.code }).toEqual({ tag, op: 'get', code })
  expect(g).toBeInstanceOf(cls)
  const r = errorOf(() => reg.release(h as Handle<unknown>))
  expect({ tag, op: 'release', code: r.code }).toEqual({ tag, op: 'release', code })
  expect(r).toBeInstanceOf(cls)
  expect({ tag, op: 'has', v: reg.has(h) }).toEqual({ tag, op: 'has', v: false })
  expect({ tag, op: 'tryGet', v: reg.tryGet(h) }).toEqual({ tag, op: 'tryGet', v: undefined })
}

describe('error classes', () => {
  const classes = {
    InvalidHandleError, StaleHandleError, ForeignHandleError, CollectedHandleError,
    RegistryClosedError, DomainExhaustedError, InvalidOptionError,
  }

  test('HandleRegistryError extends Error; every error class extends HandleRegistryError', () => {
    expect(HandleRegistryError.prototype).toBeInstanceOf(Error)
    for (const [name, cls] of Object.entries(classes)) {
      expect({ name, sub: cls.prototype instanceof HandleRegistryError }).toEqual({ name, sub: true })
    }
  })

  test('each error, triggered for real, is an Error + HandleRegistryError with a stable code and a handle-registry: message', () => {
    const domain = HandleDomain.create()
    const reg = new HandleRegistry({ domain })
    const other = new HandleRegistry({ domain })
    const released = reg.register('r')
    reg.release(released)
    const foreign = other.register('o')
    const closed = new HandleRegistry({ domain })
    closed.close()

    const cases: Array<[string, new (...a: never[]) => Error, () => unknown]> = [
      ['ERR_HANDLE_INVALID', InvalidHandleError, () => reg.get(0 as Handle<unknown>)],
      ['ERR_HANDLE_INVALID', InvalidHandleError, () => decodeHandle(-1)],
      ['ERR_HANDLE_STALE', StaleHandleError, () => reg.get(released)],
      ['ERR_HANDLE_FOREIGN', ForeignHandleError, () => reg.get(foreign)],
      ['ERR_REGISTRY_CLOSED', RegistryClosedError, () => closed.register(1)],
      ['ERR_INVALID_OPTION', InvalidOptionError, () => new HandleRegistry({ shards: 3 })],
      ['ERR_INVALID_OPTION', InvalidOptionError, () => reg.registerWeak(1 as unknown as object)],
    ]
    for (const [code, cls, trigger] of cases) {
      const e1 = errorOf(trigger)
      const e2 = errorOf(trigger)
      expect(e1).toBeInstanceOf(Error)
      expect(e1).toBeInstanceOf(HandleRegistryError)
      expect(e1).toBeInstanceOf(cls)
      expect({ cls: cls.name, code: e1.code }).toEqual({ cls: cls.name, code })
      expect(e2.code).toBe(e1.code)
      expect(e1.message.startsWith(PREFIX)).toBe(true)
      expect(e1.message.length).toBeGreaterThan(PREFIX.length + 3)
      expect(typeof e1.stack).toBe('string')
    }
    reg.close()
    other.close()
  })

  test('the 4096th open registry of a domain throws DomainExhaustedError; closing one frees its owner index', () => {
    const domain = HandleDomain.create()
    const regs: HandleRegistry[] = []
    let err: unknown
    for (let i = 0; i < 5000; i++) {
      try {
        regs.push(new HandleRegistry({ domain, shards: 1 }))
      } catch (e) {
        err = e
        break
      }
    }
    expect(regs.length).toBe(HANDLE_LAYOUT.MAX_OWNERS)
    expect(err).toBeInstanceOf(DomainExhaustedError)
    expect(err).toBeInstanceOf(HandleRegistryError)
    expect((err as DomainExhaustedError).code).toBe('ERR_DOMAIN_EXHAUSTED')
    expect((err as Error).message.startsWith(PREFIX)).toBe(true)
    const ids = regs.map((r) => r.ownerId)
    expect(new Set(ids).size).toBe(4095)
    expect(Math.min(...ids)).toBe(1)
    expect(Math.max(...ids)).toBe(4095)
    expect(domain.stats().liveOwners).toBe(4095)

    const freed = regs[100]!.ownerId
    regs[100]!.close()
    const again = new HandleRegistry({ domain, shards: 1 })
    expect(again.ownerId).toBe(freed)
    regs[100] = again
    expect(codeOf(() => new HandleRegistry({ domain, shards: 1 }))).toBe('ERR_DOMAIN_EXHAUSTED')
    for (const r of regs) r.close()
    expect(domain.stats().liveOwners).toBe(0)
  })
})

describe('malformed input', () => {
  test.each(MALFORMED.map((v) => [describeValue(v), v]))(
    '%s: get/release throw ERR_HANDLE_INVALID, has=false, tryGet=undefined, decodeHandle throws; counted as invalid',
    (_, bad) => {
      const reg = new HandleRegistry()
      const live = reg.register('live')
      expectRejected(reg, bad, 'ERR_HANDLE_INVALID', InvalidHandleError)
      const e = errorOf(() => reg.get(bad as Handle<unknown>))
      expect(Object.is(e.handle, bad)).toBe(true)
      expect(e.message.startsWith(PREFIX)).toBe(true)
      expect(codeOf(() => decodeHandle(bad as number))).toBe('ERR_HANDLE_INVALID')
      // get, release, has, tryGet, get
      expect(reg.stats()).toMatchObject({ invalidLookups: 5, staleLookups: 0, foreignLookups: 0, releases: 0 })
      expect(reg.get(live)).toBe('live')
      expect(reg.size).toBe(1)
      reg.close()
    },
  )
})

describe('never-issued handles of a valid shape -> ERR_HANDLE_INVALID', () => {
  test('a slot beyond the bump pointer in the registry\'s own block', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const h = reg.register('only')
    const d = decodeHandle(h)
    const neighbour = d.offset < 255 ? h + 1 : h - 1
    expect(decodeHandle(neighbour).block).toBe(d.block)
    expect(reg.domain.ownerOf(neighbour)).toBe(reg.ownerId) // same block: ours, not foreign
    expectRejected(reg, neighbour, 'ERR_HANDLE_INVALID', InvalidHandleError)
    expect(reg.get(h)).toBe('only')
    reg.close()
  })

  test('a newer generation of a live slot (h + 2^28, h + 5*2^28)', () => {
    const reg = new HandleRegistry()
    const h = reg.register('live')
    expectRejected(reg, h + GEN_UNIT, 'ERR_HANDLE_INVALID', InvalidHandleError)
    expectRejected(reg, h + 5 * GEN_UNIT, 'ERR_HANDLE_INVALID', InvalidHandleError)
    expect(reg.get(h)).toBe('live')
    expect(reg.size).toBe(1)
    reg.close()
  })

  test('a slot in a block nobody claimed, and slots in block 0', () => {
    const reg = new HandleRegistry()
    reg.register('x')
    const unclaimed = (2 ** 20 - 1) * 256 + 3
    expect(reg.domain.ownerOf(unclaimed)).toBeUndefined()
    for (const h of [unclaimed, 2 ** 53 - 1, 1, 255, GEN_UNIT + 7]) {
      expectRejected(reg, h, 'ERR_HANDLE_INVALID', InvalidHandleError)
    }
    reg.close()
  })
})

describe('foreign handles -> ERR_HANDLE_FOREIGN', () => {
  test.each([
    ['default domain', () => HandleDomain.default],
    ['a created domain', () => HandleDomain.create()],
  ])('a handle of a second registry in the same domain (%s)', (_, mkDomain) => {
    const domain = mkDomain()
    const a = new HandleRegistry({ domain })
    const b = new HandleRegistry({ domain, shards: 4 })
    const value = { owner: 'b' }
    const hb = b.register(value)
    const hbReleased = b.register('gone')
    b.release(hbReleased)
    a.register('a')
    expectRejected(a, hb, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
    expectRejected(a, hbReleased, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
    const e = errorOf(() => a.get(hb))
    expect(e.handle).toBe(hb)
    expect(e.message.startsWith(PREFIX)).toBe(true)
    expect(a.stats().foreignLookups).toBe(9)
    // the owner is unaffected by the foreign attempts (including release)
    expect(b.get(hb)).toBe(value)
    expect(b.size).toBe(1)
    a.close()
    b.close()
  })

  test('a handle of a closed registry, looked up in other open registries (including one reusing its owner index)', () => {
    const domain = HandleDomain.create()
    const r1 = new HandleRegistry({ domain, shards: 1 })
    const h = r1.register('v')
    const hReleased = r1.register('w')
    r1.release(hReleased)
    const oldOwner = r1.ownerId
    const before = new HandleRegistry({ domain })
    r1.close()
    const after = new HandleRegistry({ domain })
    for (const r of [before, after]) {
      expectRejected(r, h, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
      expectRejected(r, hReleased, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
    }
    // Owner indices are reused, blocks are not: find the registry that gets r1's owner index.
    let reuse: HandleRegistry | undefined
    for (let i = 0; i < 5000 && !reuse; i++) {
      const r = after.ownerId === oldOwner ? after : new HandleRegistry({ domain, shards: 1 })
      if (r.ownerId === oldOwner) reuse = r
      else r.close()
    }
    expect(reuse?.ownerId).toBe(oldOwner)
    const own = reuse!.register('new')
    expect(own).not.toBe(h)
    expectRejected(reuse!, h, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
    expectRejected(reuse!, hReleased, 'ERR_HANDLE_FOREIGN', ForeignHandleError)
    expect(reuse!.get(own)).toBe('new')
    for (const r of new Set([before, after, reuse!])) r.close()
  })
})

describe('stale handles -> ERR_HANDLE_STALE', () => {
  test('after release; the message names the handle', () => {
    const reg = new HandleRegistry()
    const h = reg.register({ x: 1 })
    reg.release(h)
    expectRejected(reg, h, 'ERR_HANDLE_STALE', StaleHandleError)
    const e = errorOf(() => reg.get(h))
    expect(e.handle).toBe(h)
    expect(e.message.startsWith(PREFIX)).toBe(true)
    expect(e.message).toContain(String(h))
    reg.close()
  })

  test('a reused slot: the new handle differs, the old one throws and never yields the new value', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const h1 = reg.register('first')
    reg.release(h1)
    const h2 = reg.register('second')
    expect(h2).not.toBe(h1)
    expect(decodeHandle(h2).slot).toBe(decodeHandle(h1).slot)
    expect(decodeHandle(h2).generation).toBe(decodeHandle(h1).generation + 1)
    expectRejected(reg, h1, 'ERR_HANDLE_STALE', StaleHandleError)
    // the failed release of h1 must not have freed h2's slot
    expect(reg.get(h2)).toBe('second')
    expect(reg.size).toBe(1)
    reg.close()
  })

  test('100 reuse cycles of one slot: every old handle stays stale (message contains it, also past 2^31)', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const old: number[] = []
    let current = reg.register(0)
    for (let i = 1; i <= 100; i++) {
      reg.release(current)
      old.push(current)
      current = reg.register(i)
      expect(reg.get(current)).toBe(i)
    }
    expect(new Set([...old, current]).size).toBe(101)
    expect(Math.max(...old)).toBeGreaterThan(2 ** 31)
    for (const h of old) {
      const e = errorOf(() => reg.get(h as Handle<unknown>))
      expect(e.code).toBe('ERR_HANDLE_STALE')
      expect(e.message).toContain(String(h))
      expect(reg.has(h)).toBe(false)
      expect(reg.tryGet(h)).toBeUndefined()
      expect(codeOf(() => reg.release(h as Handle<unknown>))).toBe('ERR_HANDLE_STALE')
    }
    expect(reg.get(current)).toBe(100)
    expect(reg.stats().staleLookups).toBe(400)
    reg.close()
  })

  test('a released handle is stale; the next generation of its free slot was never issued, so it is invalid', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const h = reg.register('x')
    reg.release(h) // slot is now free at generation 1
    expectRejected(reg, h, 'ERR_HANDLE_STALE', StaleHandleError)
    expectRejected(reg, h + GEN_UNIT, 'ERR_HANDLE_INVALID', InvalidHandleError)
    expectRejected(reg, h + 2 * GEN_UNIT, 'ERR_HANDLE_INVALID', InvalidHandleError)
    reg.close()
  })
})

describe('errors a user can act on', () => {
  test.each([
    [{ shards: '16' }, 'Expected the "shards" option to be a power of two from 1 to 256, got "16" (a string)'],
    [{ shards: 16n }, 'Expected the "shards" option to be a power of two from 1 to 256, got 16n (a bigint)'],
    [{ shards: 3 }, 'Expected the "shards" option to be a power of two from 1 to 256, got 3'],
    [{ retireAfter: '2' }, 'Expected the "retireAfter" option to be an integer from 1 to 33554432, got "2" (a string)'],
    [{ retireAfter: true }, 'Expected the "retireAfter" option to be an integer from 1 to 33554432, got true (a boolean)'],
    [{ domain: {} }, 'Expected the "domain" option to be a HandleDomain, got an object'],
    [{ shard: 4 }, 'Unknown option "shard" for new HandleRegistry(options); known options: shards, domain, retireAfter, asyncContext'],
    [null, 'Expected the options of new HandleRegistry(options) to be an object, got null'],
    [5, 'Expected the options of new HandleRegistry(options) to be an object, got 5'],
    ['x', 'Expected the options of new HandleRegistry(options) to be an object, got "x" (a string)'],
  ])('new HandleRegistry(%o): ERR_INVALID_OPTION, the value quoted with its type', (options, message) => {
    const e = errorOf(() => new HandleRegistry(options as never))
    expect(e).toBeInstanceOf(InvalidOptionError)
    expect({ code: e.code, message: e.message }).toEqual({ code: 'ERR_INVALID_OPTION', message: PREFIX + message })
  })

  test('registerWeak quotes what it got', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    expect(errorOf(() => reg.registerWeak('s' as never)).message)
      .toBe(PREFIX + 'registerWeak expects an object or function, got "s" (a string)')
    reg.close()
  })

  test('new HandleDomain() throws ERR_ILLEGAL_CONSTRUCTOR and names the factories', () => {
    const Ctor = HandleDomain as unknown as new () => HandleDomain
    const e = errorOf(() => new Ctor())
    expect(e).toBeInstanceOf(IllegalConstructorError)
    expect(e).toBeInstanceOf(HandleRegistryError)
    expect(e.code).toBe('ERR_ILLEGAL_CONSTRUCTOR')
    expect(e.message).toBe(PREFIX + 'HandleDomain has no public constructor: use HandleDomain.default, ' +
      'HandleDomain.create() or HandleDomain.attach(buffer)')
  })

  test('ERR_NATIVE_UNAVAILABLE gives the true reason', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    const e = errorOf(() => reg.onEvent(() => {}))
    expect(e).toBeInstanceOf(NativeUnavailableError)
    expect(e.code).toBe('ERR_NATIVE_UNAVAILABLE')
    expect(errorOf(() => reg.nativeApi).code).toBe('ERR_NATIVE_UNAVAILABLE')
    if (nativeBinding() !== null) {
      // The addon is loaded: the reason is the domain, not the addon.
      expect(e.message).toContain('HandleDomain.create() or attach()')
      expect(e.message).not.toMatch(/did not load|disabled/)
    } else if (process.env.HANDLE_REGISTRY_NO_NATIVE === '1') {
      expect(e.message).toContain('disabled by HANDLE_REGISTRY_NO_NATIVE=1')
    } else {
      expect(e.message).toMatch(/did not load .*npm rebuild handle-registry/)
    }
    reg.close()
  })

  test('types: code is the union of the codes; has() narrows unknown to a Handle', () => {
    expectTypeOf<HandleRegistryError['code']>().toEqualTypeOf<HandleRegistryErrorCode>()
    const e = errorOf(() => new HandleRegistry({ shards: 3 })) as HandleRegistryError
    // @ts-expect-error not one of the codes: tsc rejects the comparison
    expect(e.code === 'ERR_NOT_A_CODE').toBe(false)
    const reg = new HandleRegistry<string>({ domain: HandleDomain.create() })
    const x: unknown = reg.register('v')
    if (reg.has(x)) {
      expectTypeOf(x).toEqualTypeOf<Handle<string>>()
      expect(reg.get(x)).toBe('v')
    } else {
      throw new Error('has() should hold for a live handle')
    }
    reg.close()
  })
})
