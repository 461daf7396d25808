// Unit tests for HandleRegistry, HandleDomain, decodeHandle and HANDLE_LAYOUT
// (contract: docs/api.md, layout: docs/design.md).
import { describe, test, expect, expectTypeOf } from 'vitest'
import { inspect, format } from 'node:util'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import {
  HandleRegistry,
  HandleDomain,
  HandleRegistryError,
  InvalidOptionError,
  RegistryClosedError,
  decodeHandle,
  HANDLE_LAYOUT,
} from '../src/index'
import type { Handle } from '../src/index'
import { codeOf, errorOf, sum } from './fixtures/helpers'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const GEN_UNIT = 2 ** 28

describe('register / get / tryGet / has', () => {
  test('objects, functions and primitives (incl. null, undefined, NaN, -0) come back identical', () => {
    const reg = new HandleRegistry()
    const fn = (): number => 1
    class K {}
    const values: unknown[] = [
      { a: 1 }, [1, 2, 3], fn, K, new Map([[1, 2]]), new Uint8Array(4),
      0, -0, 42, -7.5, NaN, Infinity, 2 ** 60, '', 'text', true, false, 10n, Symbol('s'), null, undefined,
    ]
    const handles = values.map((v) => reg.register(v))
    handles.forEach((h, i) => {
      expect(Number.isSafeInteger(h)).toBe(true)
      expect(h).toBeGreaterThanOrEqual(1)
      expect(reg.get(h)).toBe(values[i]) // toBe is Object.is: distinguishes -0 and handles NaN
      expect(reg.tryGet(h)).toBe(values[i])
      expect(reg.has(h)).toBe(true)
    })
    expect(new Set(handles).size).toBe(values.length)
    expect(reg.size).toBe(values.length)
    reg.close()
  })

  test('a live handle holding undefined: has() is true, get()/tryGet() return undefined', () => {
    const reg = new HandleRegistry()
    const h = reg.register(undefined)
    expect(reg.has(h)).toBe(true)
    expect(reg.get(h)).toBeUndefined()
    expect(reg.tryGet(h)).toBeUndefined()
    expect(reg.size).toBe(1)
    expect(reg.release(h)).toBeUndefined()
    expect(reg.has(h)).toBe(false)
    reg.close()
  })

  test('equal values get distinct handles that are released independently', () => {
    const reg = new HandleRegistry({ shards: 2 })
    const obj = { x: 1 }
    const fn = (): void => {}
    for (const v of [obj, fn, 42, 'same', null, undefined, true]) {
      const h1 = reg.register(v)
      const h2 = reg.register(v)
      const h3 = reg.register(v)
      expect(new Set([h1, h2, h3]).size).toBe(3)
      expect(reg.release(h1)).toBe(v)
      expect(reg.has(h1)).toBe(false)
      expect(reg.get(h2)).toBe(v)
      expect(reg.get(h3)).toBe(v)
      reg.release(h2)
      reg.release(h3)
    }
    expect(reg.size).toBe(0)
    reg.close()
  })

  test('10k registrations over 16 shards: unique positive safe-integer handles, all resolvable', () => {
    const reg = new HandleRegistry<number>()
    const handles: number[] = []
    for (let i = 0; i < 10_000; i++) handles.push(reg.register(i * 3))
    expect(new Set(handles).size).toBe(10_000)
    for (let i = 0; i < handles.length; i++) {
      const h = handles[i] as Handle<number>
      expect(Number.isSafeInteger(h) && h >= 1).toBe(true)
      expect(h).toBeLessThan(2 ** 31) // fresh slots (generation 0) are Smis
      if (reg.get(h) !== i * 3) expect(reg.get(h)).toBe(i * 3)
    }
    expect(reg.size).toBe(10_000)
    reg.close()
  })

  test('first handle in a fresh domain is small: block 1, generation 0, < 2^31', () => {
    const domain = HandleDomain.create()
    const reg = new HandleRegistry({ domain, shards: 1 })
    const h = reg.register('first')
    expect(h).toBeLessThan(2 ** 31)
    const d = decodeHandle(h)
    expect(d.block).toBe(1)
    expect(d.generation).toBe(0)
    expect(h).toBe(256 + d.offset)
    reg.close()
  })
})

describe('release', () => {
  test('returns the value; afterwards the handle is stale for get/release/has/tryGet', () => {
    const reg = new HandleRegistry()
    const value = { payload: 'p' }
    const h = reg.register(value)
    const other = reg.register('other')
    expect(reg.size).toBe(2)
    expect(reg.release(h)).toBe(value)
    expect(reg.size).toBe(1)
    expect(reg.has(h)).toBe(false)
    expect(reg.tryGet(h)).toBeUndefined()
    expect(codeOf(() => reg.get(h))).toBe('ERR_HANDLE_STALE')
    expect(codeOf(() => reg.release(h))).toBe('ERR_HANDLE_STALE')
    expect(reg.size).toBe(1)
    expect(reg.get(other)).toBe('other')
    reg.close()
  })

  test('size tracks live handles through registrations and releases', () => {
    const reg = new HandleRegistry({ shards: 8 })
    const hs: Handle<number>[] = []
    for (let i = 0; i < 1000; i++) {
      hs.push(reg.register(i))
      expect(reg.size).toBe(i + 1)
    }
    for (let i = 0; i < 400; i++) reg.release(hs[i]!)
    expect(reg.size).toBe(600)
    expect(reg.stats().live).toBe(600)
    reg.close()
  })
})

describe('stats()', () => {
  test('a fresh registry reports zero for every counter, one entry per shard', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    const s = reg.stats()
    expect(s).toMatchObject({
      live: 0, registrations: 0, releases: 0, staleLookups: 0, foreignLookups: 0,
      invalidLookups: 0, collected: 0, retired: 0,
    })
    expect(s.shards).toEqual(new Array(16).fill(0))
    reg.close()
  })

  test('every counter after a scripted sequence (live lookups are not counted)', () => {
    const domain = HandleDomain.create()
    const reg = new HandleRegistry({ shards: 4, domain })
    const other = new HandleRegistry({ domain })
    const hs = Array.from({ length: 10 }, (_, i) => reg.register({ i }))
    for (const h of hs.slice(0, 3)) reg.release(h)

    // live lookups: not counted anywhere
    reg.get(hs[5]!); reg.has(hs[5]!); reg.tryGet(hs[5]!)
    // stale: one per method
    expect(codeOf(() => reg.get(hs[0]!))).toBe('ERR_HANDLE_STALE')
    expect(reg.has(hs[1]!)).toBe(false)
    expect(reg.tryGet(hs[2]!)).toBeUndefined()
    expect(codeOf(() => reg.release(hs[0]!))).toBe('ERR_HANDLE_STALE')
    // foreign: one per method
    const oh = other.register('owned by other')
    expect(codeOf(() => reg.get(oh))).toBe('ERR_HANDLE_FOREIGN')
    expect(reg.has(oh)).toBe(false)
    expect(reg.tryGet(oh)).toBeUndefined()
    expect(codeOf(() => reg.release(oh))).toBe('ERR_HANDLE_FOREIGN')
    expect(other.get(oh)).toBe('owned by other')
    // invalid: one per method
    expect(codeOf(() => reg.get('x' as never))).toBe('ERR_HANDLE_INVALID')
    expect(reg.has(0)).toBe(false)
    expect(reg.tryGet(1.5)).toBeUndefined()
    expect(codeOf(() => reg.release(-1 as never))).toBe('ERR_HANDLE_INVALID')

    const s = reg.stats()
    expect(s).toMatchObject({
      live: 7, registrations: 10, releases: 3, staleLookups: 4, foreignLookups: 4,
      invalidLookups: 4, collected: 0, retired: 0,
    })
    expect(s.shards).toHaveLength(4)
    expect(sum(s.shards)).toBe(7)
    expect(reg.size).toBe(7)
    expect(other.stats()).toMatchObject({
      live: 1, registrations: 1, releases: 0, staleLookups: 0, foreignLookups: 0, invalidLookups: 0,
    })
    reg.close()
    other.close()
  })

  test.each([1, 2, 16, 256])('per-shard live counts (shards=%i) have one entry per shard and sum to live', (shards) => {
    const reg = new HandleRegistry<number>({ shards })
    const check = (): void => {
      const s = reg.stats()
      expect(s.shards).toHaveLength(shards)
      for (const c of s.shards) expect(Number.isInteger(c) && c >= 0).toBe(true)
      expect(sum(s.shards)).toBe(s.live)
      expect(s.live).toBe(reg.size)
    }
    const hs = Array.from({ length: 3000 }, (_, i) => reg.register(i))
    check()
    const nonZero = reg.stats().shards.filter((c) => c > 0).length
    // 3000 registrations spread over every shard when shards <= 16, and over most of 256
    if (shards <= 16) expect(nonZero).toBe(shards)
    else expect(nonZero).toBeGreaterThan(200)
    for (let i = 0; i < hs.length; i += 2) reg.release(hs[i]!)
    check()
    expect(reg.stats().live).toBe(1500)
    for (let i = 1; i < hs.length; i += 2) reg.release(hs[i]!)
    check()
    expect(reg.stats().shards.every((c) => c === 0)).toBe(true)
    reg.close()
  })
})

describe('close() and Symbol.dispose', () => {
  test('close() is idempotent and frees the domain owner slot exactly once', () => {
    const domain = HandleDomain.create()
    const keep = new HandleRegistry({ domain })
    const reg = new HandleRegistry({ domain })
    expect(domain.stats().liveOwners).toBe(2)
    expect(reg.closed).toBe(false)
    reg.close()
    expect(reg.closed).toBe(true)
    expect(domain.stats().liveOwners).toBe(1)
    expect(() => reg.close()).not.toThrow()
    expect(() => reg[Symbol.dispose]()).not.toThrow()
    expect(reg.closed).toBe(true)
    expect(domain.stats().liveOwners).toBe(1)
    keep.close()
    expect(domain.stats().liveOwners).toBe(0)
  })

  test('after close: register/registerWeak/scope/get/release throw RegistryClosedError; has=false, tryGet=undefined, size=0, nothing iterates', () => {
    const reg = new HandleRegistry({ shards: 2 })
    const live = reg.register({ v: 1 })
    const released = reg.register('r')
    reg.release(released)
    const weakTarget = { w: 1 }
    reg.close()

    const throwing: Array<[string, () => unknown]> = [
      ['register', () => reg.register(1)],
      ['registerWeak', () => reg.registerWeak(weakTarget)],
      ['scope', () => reg.scope(1)],
      ['get(live)', () => reg.get(live)],
      ['get(released)', () => reg.get(released)],
      ['release(live)', () => reg.release(live)],
      ['release(released)', () => reg.release(released)],
    ]
    for (const [name, fn] of throwing) {
      const e = errorOf(fn)
      expect({ name, code: e.code }).toEqual({ name, code: 'ERR_REGISTRY_CLOSED' })
      expect(e).toBeInstanceOf(RegistryClosedError)
      expect(e).toBeInstanceOf(HandleRegistryError)
      expect(e.message.startsWith('handle-registry: ')).toBe(true)
    }
    expect(reg.has(live)).toBe(false)
    expect(reg.has(released)).toBe(false)
    expect(reg.tryGet(live)).toBeUndefined()
    expect(reg.size).toBe(0)
    expect(reg.closed).toBe(true)
    expect([...reg]).toEqual([])
    expect([...reg.entries()]).toEqual([])
    expect([...reg.handles()]).toEqual([])
    expect([...reg.values()]).toEqual([])
    const s = reg.stats()
    expect(s.live).toBe(0)
    expect(sum(s.shards)).toBe(0)
  })

  test('a scope disposed after its registry was closed does not throw', () => {
    const reg = new HandleRegistry()
    const e = reg.scope('v')
    reg.close()
    expect(() => e[Symbol.dispose]()).not.toThrow()
  })

  test('`using` a registry closes it at block end (Symbol.dispose = close)', () => {
    const domain = HandleDomain.create()
    let seen: HandleRegistry | undefined
    let h = 0
    {
      using reg = new HandleRegistry({ domain })
      seen = reg
      h = reg.register('x')
      expect(reg.closed).toBe(false)
      expect(domain.stats().liveOwners).toBe(1)
    }
    expect(seen!.closed).toBe(true)
    expect(seen!.size).toBe(0)
    expect(seen!.has(h)).toBe(false)
    expect(domain.stats().liveOwners).toBe(0)
  })
})

describe('scope()', () => {
  test('`using e = reg.scope(v)` exposes handle and value and releases at block end', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const value = { big: 1 }
    let h = 0
    {
      using e = reg.scope(value)
      h = e.handle
      expect(e.value).toBe(value)
      expect(reg.get(e.handle)).toBe(value)
      expect(reg.has(e.handle)).toBe(true)
      expect(reg.size).toBe(1)
    }
    expect(reg.has(h)).toBe(false)
    expect(codeOf(() => reg.get(h as Handle<unknown>))).toBe('ERR_HANDLE_STALE')
    expect(reg.size).toBe(0)
    expect(reg.stats()).toMatchObject({ registrations: 1, releases: 1 })
    reg.close()
  })

  test('disposing twice is a no-op, even after the slot was reused by another value', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const e = reg.scope('a')
    e[Symbol.dispose]()
    const h2 = reg.register('b')
    // shards: 1 and one free slot: the registry reuses the slot with the next generation
    expect(decodeHandle(h2).slot).toBe(decodeHandle(e.handle).slot)
    expect(h2).not.toBe(e.handle)
    expect(() => e[Symbol.dispose]()).not.toThrow()
    expect(reg.get(h2)).toBe('b')
    expect(reg.size).toBe(1)
    expect(reg.stats().releases).toBe(1)
    reg.close()
  })

  test('the handle is released when the block throws', () => {
    const reg = new HandleRegistry()
    let h = 0
    expect(() => {
      using e = reg.scope({ v: 1 })
      h = e.handle
      throw new Error('boom')
    }).toThrow('boom')
    expect(reg.has(h)).toBe(false)
    expect(reg.size).toBe(0)
    reg.close()
  })
})

describe('iteration', () => {
  test('entries/handles/values/[Symbol.iterator] yield exactly the live entries', () => {
    const reg = new HandleRegistry<{ i: number }>({ shards: 4 })
    const model = new Map<number, { i: number }>()
    for (let i = 0; i < 3000; i++) {
      const v = { i }
      model.set(reg.register(v), v)
    }
    let i = 0
    for (const h of [...model.keys()]) {
      if (i++ % 3 === 0) {
        reg.release(h as Handle<{ i: number }>)
        model.delete(h)
      }
    }
    const expectedHandles = [...model.keys()].sort((a, b) => a - b)
    const expectedValues = new Set(model.values())

    for (const [name, list] of [['entries()', [...reg.entries()]], ['[Symbol.iterator]', [...reg]]] as const) {
      expect({ name, n: list.length }).toEqual({ name, n: model.size })
      for (const [h, v] of list) {
        if (model.get(h) !== v) expect({ name, h, v }).toEqual({ name, h, v: model.get(h) })
      }
      expect(new Set(list.map(([h]) => h)).size).toBe(model.size)
    }
    expect([...reg.handles()].sort((a, b) => a - b)).toEqual(expectedHandles)
    const values = [...reg.values()]
    expect(values).toHaveLength(model.size)
    expect(new Set(values)).toEqual(expectedValues)
    expect(values.every((v) => expectedValues.has(v))).toBe(true)

    let n = 0
    for (const [h, v] of reg) {
      expect(reg.get(h)).toBe(v)
      n++
    }
    expect(n).toBe(model.size)
    reg.close()
  })

  test('an empty registry and a fully released one iterate nothing', () => {
    const reg = new HandleRegistry()
    expect([...reg]).toEqual([])
    const hs = [reg.register(1), reg.register(2)]
    expect([...reg.values()].sort()).toEqual([1, 2])
    for (const h of hs) reg.release(h)
    expect([...reg]).toEqual([])
    expect([...reg.handles()]).toEqual([])
    expect([...reg.values()]).toEqual([])
    reg.close()
  })
})

describe('util.inspect', () => {
  test('shows counts, never values, with 100k entries', () => {
    const reg = new HandleRegistry()
    const SECRET = 'TOP-SECRET-VALUE'
    for (let i = 0; i < 50_000; i++) reg.register({ secret: SECRET, i })
    for (let i = 0; i < 50_000; i++) reg.register(`${SECRET}-${i}`)
    expect(reg.size).toBe(100_000)

    const out = inspect(reg)
    expect(out.length).toBeLessThan(200)
    expect(out).toContain('HandleRegistry')
    expect(out).toContain('100000')
    expect(out).toContain('16')
    expect(out).not.toContain(SECRET)

    const deep = inspect(reg, { depth: Infinity, showHidden: true, maxArrayLength: Infinity })
    expect(deep.length).toBeLessThan(200)
    expect(deep).not.toContain(SECRET)
    expect(format('%o', reg)).not.toContain(SECRET)
    expect(format('%O', reg)).not.toContain(SECRET)
    expect(inspect({ nested: reg })).not.toContain(SECRET)

    reg.close()
    expect(inspect(reg)).toMatch(/closed\W*true/)
  })
})

describe('decodeHandle and HANDLE_LAYOUT', () => {
  test('HANDLE_LAYOUT has the documented constants', () => {
    expect(HANDLE_LAYOUT).toMatchObject({
      SLOT_BITS: 28, BLOCK_BITS: 20, OFFSET_BITS: 8, GEN_BITS: 25,
      GEN_MAX: 2 ** 25 - 1, MAX_OWNERS: 4095, MAX_BLOCKS: 2 ** 20,
    })
  })

  test.each([
    [0, 1, 0],
    [0, 1, 255],
    [0, 2 ** 20 - 1, 0],
    [7, 12345, 17],
    [8, 1, 0],
    [123456, 54321, 99],
    [2 ** 25 - 1, 2 ** 20 - 1, 255],
  ])('decodes gen=%i block=%i offset=%i per h = gen*2^28 + block*256 + offset', (generation, block, offset) => {
    const h = generation * GEN_UNIT + block * 256 + offset
    expect(decodeHandle(h)).toMatchObject({ slot: block * 256 + offset, block, offset, generation })
  })

  test('issued handles satisfy the layout and the domain records their owner', () => {
    const reg = new HandleRegistry()
    for (let i = 0; i < 2000; i++) {
      const h = reg.register(i)
      const d = decodeHandle(h)
      const ok =
        d.slot === d.block * 256 + d.offset &&
        h === d.generation * GEN_UNIT + d.slot &&
        d.block >= 1 && d.block < 2 ** 20 &&
        d.offset >= 0 && d.offset < 256 &&
        d.generation === 0 &&
        reg.domain.ownerOf(h) === reg.ownerId
      if (!ok) expect({ h, d, owner: reg.domain.ownerOf(h) }).toEqual({ h, ownerId: reg.ownerId, layout: 'ok' })
    }
    reg.close()
  })

  test('reusing a slot (shards: 1) increments the generation by one per issue', () => {
    const reg = new HandleRegistry({ shards: 1 })
    const first = reg.register(0)
    const slot = decodeHandle(first).slot
    reg.release(first)
    for (let g = 1; g < 12; g++) {
      const h = reg.register(g)
      expect(decodeHandle(h)).toMatchObject({ slot, generation: g })
      expect(h).toBe(g * GEN_UNIT + slot)
      expect(reg.get(h)).toBe(g)
      expect(reg.release(h)).toBe(g)
    }
    reg.close()
  })
})

describe('options', () => {
  test.each([0, 3, 512, 1.5, 'x', -16, NaN, 1024])('shards: %s -> InvalidOptionError (ERR_INVALID_OPTION)', (shards) => {
    const e = errorOf(() => new HandleRegistry({ shards: shards as number }))
    expect(e).toBeInstanceOf(InvalidOptionError)
    expect(e).toBeInstanceOf(HandleRegistryError)
    expect(e.code).toBe('ERR_INVALID_OPTION')
    expect(e.message.startsWith('handle-registry: ')).toBe(true)
  })

  test('every power of two 1..256 is accepted; default is 16', () => {
    for (let shards = 1; shards <= 256; shards *= 2) {
      const reg = new HandleRegistry({ shards })
      expect(reg.shards).toBe(shards)
      expect(reg.stats().shards).toHaveLength(shards)
      reg.close()
    }
    const def = new HandleRegistry()
    expect(def.shards).toBe(16)
    def.close()
  })

  test.each([0, -1, 1.5, 2 ** 25 + 1, 'x', NaN])('retireAfter: %s -> InvalidOptionError', (retireAfter) => {
    expect(codeOf(() => new HandleRegistry({ retireAfter: retireAfter as number }))).toBe('ERR_INVALID_OPTION')
  })

  test('retireAfter 1 and 2^25 are accepted', () => {
    for (const retireAfter of [1, 2 ** 25]) {
      const reg = new HandleRegistry({ retireAfter })
      expect(reg.get(reg.register('ok'))).toBe('ok')
      reg.close()
    }
  })

  test('domain: a non-domain object -> InvalidOptionError', () => {
    expect(codeOf(() => new HandleRegistry({ domain: {} as HandleDomain }))).toBe('ERR_INVALID_OPTION')
  })

  test('default domain is HandleDomain.default; open registries have distinct owner ids 1..4095', () => {
    expect(HandleDomain.default).toBe(HandleDomain.default)
    const a = new HandleRegistry()
    const b = new HandleRegistry()
    expect(a.domain).toBe(HandleDomain.default)
    expect(b.domain).toBe(HandleDomain.default)
    expect(a.ownerId).not.toBe(b.ownerId)
    for (const r of [a, b]) {
      expect(Number.isInteger(r.ownerId)).toBe(true)
      expect(r.ownerId).toBeGreaterThanOrEqual(1)
      expect(r.ownerId).toBeLessThanOrEqual(4095)
    }
    const ha = a.register('a')
    const hb = b.register('b')
    expect(HandleDomain.default.ownerOf(ha)).toBe(a.ownerId)
    expect(HandleDomain.default.ownerOf(hb)).toBe(b.ownerId)
    a.close()
    b.close()
  })
})

describe('HandleDomain', () => {
  test('create() makes an independent SharedArrayBuffer domain; stats count owners and claimed blocks', () => {
    const d = HandleDomain.create()
    const d2 = HandleDomain.create()
    expect(d.buffer).toBeInstanceOf(SharedArrayBuffer)
    expect(d.buffer).not.toBe(d2.buffer)
    expect(d.stats()).toMatchObject({ liveOwners: 0, blocksClaimed: 0 })
    const r = new HandleRegistry({ domain: d, shards: 1 })
    expect(d.stats().liveOwners).toBe(1)
    expect(d2.stats().liveOwners).toBe(0)
    for (let i = 0; i < 257; i++) r.register(i)
    expect(d.stats().blocksClaimed).toBe(2)
    for (let i = 257; i < 512; i++) r.register(i)
    expect(d.stats().blocksClaimed).toBe(2)
    r.register(512)
    expect(d.stats().blocksClaimed).toBe(3)
    expect(d2.stats().blocksClaimed).toBe(0)
    r.close()
    expect(d.stats().liveOwners).toBe(0)
  })

  test('ownerOf: the minting owner for issued handles, undefined for a never-claimed block', () => {
    const d = HandleDomain.create()
    const r = new HandleRegistry({ domain: d })
    const h = r.register('x')
    expect(d.ownerOf(h)).toBe(r.ownerId)
    expect(d.ownerOf((2 ** 20 - 1) * 256 + 5)).toBeUndefined()
    r.close()
  })
})

describe('typing', () => {
  interface A { a: number }
  interface B { b: string }

  test('get on Handle<A> returns A (expectTypeOf; enforced by the tsc test below)', () => {
    const reg = new HandleRegistry()
    const ha: Handle<A> = reg.register<A>({ a: 1 })
    const hb = reg.register({ b: 'x' } as B)
    expectTypeOf(ha).toExtend<number>()
    expectTypeOf(reg.get(ha)).toEqualTypeOf<A>()
    expectTypeOf(reg.get(hb)).toEqualTypeOf<B>()
    expectTypeOf(reg.scope({ a: 2 } as A).handle).toEqualTypeOf<Handle<A>>()
    expectTypeOf<Handle<A>>().not.toEqualTypeOf<Handle<B>>()
    expect(reg.get(ha).a).toBe(1)
    expect(reg.get(hb).b).toBe('x')
    expectTypeOf(reg.release(ha)).toEqualTypeOf<A>()

    // @ts-expect-error registerWeak only accepts objects
    expect(codeOf(() => reg.registerWeak(5))).toBe('ERR_INVALID_OPTION')
    // @ts-expect-error a plain number is not a Handle
    expect(codeOf(() => reg.get(42))).toBe('ERR_HANDLE_INVALID')
    // @ts-expect-error a Handle<A> is not a Handle<B>
    const wrong: Handle<B> = ha
    expect(typeof wrong).toBe('number')

    const typed = new HandleRegistry<A>()
    const ht = typed.register({ a: 3 })
    expectTypeOf(typed.get(ht)).toEqualTypeOf<{ a: number }>()
    expectTypeOf(typed.entries()).toExtend<Iterable<[Handle<A>, A]>>()
    expectTypeOf(typed.values()).toExtend<Iterable<A>>()
    expectTypeOf(typed.handles()).toExtend<Iterable<Handle<A>>>()
    // @ts-expect-error a HandleRegistry<A> only accepts A values
    typed.register('not an A')
    typed.close()
    reg.close()
  })

  test('tsc --noEmit over the test files (makes expectTypeOf and @ts-expect-error real)', () => {
    const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
    const r = spawnSync(process.execPath, [tsc, '-p', path.join(ROOT, 'test', 'fixtures', 'tsconfig.typecheck.json')], {
      cwd: ROOT,
      encoding: 'utf8',
    })
    expect(r.stdout + r.stderr).toBe('')
    expect(r.status).toBe(0)
  }, 90_000)
})
