// The lookup's decode (src/registry.ts, findAs and findUnrouted): one decode
// for every number, the slot bits by bit ops and the handle rebuilt from the
// slot's state word compared with the input, exact by the argument in findAs's
// comment. Here the inputs that argument covers: numbers that share a live
// handle's low 32 bits (ToInt32 cannot tell them apart) or that are off by a
// fraction, NaN, +-Infinity, 0, -0, negatives, 2^53 and up, generations above
// GEN_MAX (and at 2^30, where a 32-bit `gen << 2` would wrap onto a real
// state word). Each must fail to resolve, from optimised code (the probes run
// in a loop hot enough for TurboFan), on routed and unrouted blocks, for Smi
// handles (generation < 8) and heap-number handles alike.
import { describe, test, expect } from 'vitest'
import fc from 'fast-check'
import { HandleRegistry, HandleDomain } from '../src/index'
import { W_NEXT_BLOCK } from '../src/layout'

const SPAN = 2 ** 28
const GEN_MAX = 2 ** 25 - 1

// The next double above x (x finite, > 0).
function nextUp (x: number): number {
  const f = new Float64Array([x])
  const b = new BigInt64Array(f.buffer)
  b[0] += 1n
  return f[0]
}
function nextDown (x: number): number {
  const f = new Float64Array([x])
  const b = new BigInt64Array(f.buffer)
  b[0] -= 1n
  return f[0]
}

// Numbers near live handle h that are not h (some round back to h: dropped).
function near (h: number): number[] {
  const slot = h % SPAN
  const gen = (h - slot) / SPAN
  const xs = [
    nextUp(h), nextDown(h), h + 0.5, h - 0.5, h + 0.25, h + 1 / 3,
    -h, -h - 0.5, h - 2 ** 32, h + 2 ** 32, h - 2 ** 33, -(2 ** 32) + (h % 2 ** 32), // same low 32 bits
    h - SPAN, h + SPAN, // the previous and the next generation of the slot
    (gen + 2 ** 25) * SPAN + slot, (GEN_MAX + 1) * SPAN + slot, // above GEN_MAX (2^53 and up)
    (gen + 2 ** 30) * SPAN + slot, 2 ** 30 * SPAN + slot, // gen << 2 would wrap onto gen's word
    (gen + 2 ** 32) * SPAN + slot, 2 ** 60 + h, 2 ** 64 + h, -(2 ** 60) + h, -(2 ** 53) + h,
    h * 2 ** 32, h / 2 ** 32,
  ]
  return xs.filter((x) => x !== h)
}

const SPECIALS = [
  NaN, Infinity, -Infinity, 0, -0, -1, 1, 0.5, -0.5, Number.MIN_VALUE, -Number.MIN_VALUE,
  Number.EPSILON, 2 ** 31, -(2 ** 31), 2 ** 32, 2 ** 53, 2 ** 53 - 1, 2 ** 53 + 2, -(2 ** 53),
  Number.MAX_VALUE, -Number.MAX_VALUE, Number.MAX_SAFE_INTEGER, Number.MIN_SAFE_INTEGER,
]

// A registry (shards: 1) with `n` live handles at generation `gens` or so;
// `far`: the second half of its pages on blocks outside its route (findUnrouted).
function build (n: number, gens: number, far: boolean): { r: HandleRegistry<{ i: number }>, hs: number[] } {
  const domain = HandleDomain.create()
  const r = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
  const hs: number[] = []
  for (let i = 0; i < n; i++) {
    if (far && i === n >> 1) Atomics.store(domain.words, W_NEXT_BLOCK, 600_000)
    hs.push(r.register({ i }))
  }
  // Each round frees every slot and issues each again: its generation + 1.
  for (let g = 0; g < gens; g++) {
    for (let i = 0; i < n; i++) r.release(hs[i] as never)
    for (let i = 0; i < n; i++) hs[i] = r.register({ i })
  }
  return { r, hs }
}

// The probe loop: tryGet and has of every x, counted. Called often enough to be optimised.
function probe (r: HandleRegistry<{ i: number }>, xs: number[]): number {
  let found = 0
  for (let k = 0; k < xs.length; k++) {
    if (r.tryGet(xs[k]) !== undefined) found++
    if (r.has(xs[k])) found++
  }
  return found
}

// The hot loop of the ring: get, release, register, so findAs sees the handles' kind.
function warm (r: HandleRegistry<{ i: number }>, hs: number[], rounds: number): void {
  for (let k = 0; k < rounds; k++) {
    for (let i = 0; i < hs.length; i++) {
      const v = r.get(hs[i] as never)
      r.release(hs[i] as never)
      hs[i] = r.register(v)
    }
  }
}

describe('findAs / findUnrouted decode', () => {
  for (const far of [false, true]) {
    for (const gens of [0, 8]) {
      test(`near misses of live handles never resolve (generation ${gens + 5}, ${far ? 'unrouted' : 'routed'} blocks)`, () => {
        const { r, hs } = build(600, gens, far)
        warm(r, hs, 5) // generation gens + 5: Smis (< 8) for 0, heap numbers for 8
        if (gens >= 8) expect(hs.every((h) => h >= 2 ** 31)).toBe(true)
        else expect(hs.every((h) => (h | 0) === h)).toBe(true)
        if (far) expect(hs.some((h) => Math.floor((h % SPAN) / 256) >= 600_000)).toBe(true)
        const live = new Set(hs)
        const xs = [...SPECIALS, ...hs.flatMap(near)].filter((x) => !live.has(x))
        let found = 0
        for (let k = 0; k < 50; k++) found += probe(r, xs)
        expect(found).toBe(0)
        // The live ones still resolve, from the same optimised probe loop's callees.
        let wrong = 0
        for (let i = 0; i < hs.length; i++) if (r.get(hs[i] as never).i !== i) wrong++
        expect(wrong).toBe(0)
        // get and release throw a typed error for each, and release frees nothing.
        for (const x of xs.slice(0, 400)) {
          expect(() => r.get(x as never)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_HANDLE_(INVALID|STALE|FOREIGN)$/) }))
          expect(() => r.release(x as never)).toThrow(expect.objectContaining({ code: expect.stringMatching(/^ERR_HANDLE_(INVALID|STALE|FOREIGN)$/) }))
        }
        expect(r.size).toBe(hs.length)
        r.close()
      })
    }
  }

  test('malformed numbers near live handles are ERR_HANDLE_INVALID, the previous generation ERR_HANDLE_STALE', () => {
    const { r, hs } = build(300, 10, false)
    warm(r, hs, 20)
    for (const h of hs.slice(0, 50)) {
      for (const x of [nextUp(h), nextDown(h), h + 0.5, -h, (GEN_MAX + 1) * SPAN + (h % SPAN), 2 ** 30 * SPAN + (h % SPAN), NaN, Infinity, -0]) {
        expect(() => r.get(x as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_INVALID' }))
      }
      expect(() => r.get((h - SPAN) as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_STALE' }))
    }
    r.close()
  })

  test('property: a number resolves iff it is a live handle (fast-check, optimised code)', () => {
    for (const far of [false, true]) {
      const { r, hs } = build(600, 10, far)
      warm(r, hs, 20)
      const live = new Map(hs.map((h, i) => [h, i]))
      const handle = fc.constantFrom(...hs)
      const candidate = fc.oneof(
        handle,
        fc.double(),
        fc.double({ min: 2 ** 31, max: 2 ** 40 }),
        fc.tuple(handle, fc.double({ min: -4, max: 4 })).map(([h, d]) => h + d),
        fc.tuple(handle, fc.integer({ min: -(2 ** 21), max: 2 ** 21 })).map(([h, k]) => h + k * 2 ** 32),
        fc.tuple(handle, fc.integer({ min: -40, max: 40 })).map(([h, k]) => h + k * SPAN),
        fc.tuple(handle, fc.integer({ min: 1, max: 2 ** 11 })).map(([h, k]) => h + k * 2 ** 53),
        fc.tuple(handle, fc.integer({ min: 0, max: 60 })).map(([h, e]) => (h % SPAN) + 2 ** (28 + e)),
      )
      fc.assert(fc.property(fc.array(candidate, { minLength: 50, maxLength: 200 }), (xs) => {
        for (let k = 0; k < 20; k++) {
          for (const x of xs) {
            const v = r.tryGet(x)
            const want = live.get(x)
            if (want === undefined ? v !== undefined : v?.i !== want) return false
          }
        }
        return true
      }), { numRuns: 200 })
      r.close()
    }
  })
})
