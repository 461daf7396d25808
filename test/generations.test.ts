// Generations and slot retirement: a released handle never resolves again,
// not even after its slot was reused up to the generation limit.
import { describe, test, expect } from 'vitest'
import { HandleRegistry, decodeHandle, HANDLE_LAYOUT } from '../src/index'
import type { Handle } from '../src/index'
import { codeOf } from './fixtures/helpers'

const GEN_UNIT = 2 ** 28

/** register+release `cycles` times in a fresh shards:1 registry; returns every handle issued. */
function cycle(reg: HandleRegistry<number>, cycles: number): Handle<number>[] {
  const issued: Handle<number>[] = []
  for (let i = 0; i < cycles; i++) {
    const h = reg.register(i)
    issued.push(h)
    if (reg.get(h) !== i) expect(reg.get(h)).toBe(i)
    reg.release(h)
  }
  return issued
}

function expectAllStale(reg: HandleRegistry<number>, handles: readonly number[]): void {
  for (const h of handles) {
    const codes = {
      h,
      get: codeOf(() => reg.get(h as Handle<number>)),
      release: codeOf(() => reg.release(h as Handle<number>)),
      has: reg.has(h),
      tryGet: reg.tryGet(h),
    }
    if (codes.get !== 'ERR_HANDLE_STALE' || codes.release !== 'ERR_HANDLE_STALE' || codes.has || codes.tryGet !== undefined) {
      expect(codes).toEqual({ h, get: 'ERR_HANDLE_STALE', release: 'ERR_HANDLE_STALE', has: false, tryGet: undefined })
    }
  }
}

describe('retirement with retireAfter', () => {
  test('retireAfter: 16 — a slot is issued 16 times, then retired; the next registration uses another slot', () => {
    const reg = new HandleRegistry<number>({ shards: 1, retireAfter: 16 })
    const issued = cycle(reg, 40)
    expect(new Set(issued).size).toBe(40)
    const slots = issued.map((h) => decodeHandle(h).slot)
    const gens = issued.map((h) => decodeHandle(h).generation)
    // slot A: generations 0..15, slot B: 0..15, slot C: 0..7
    expect(new Set(slots.slice(0, 16)).size).toBe(1)
    expect(new Set(slots.slice(16, 32)).size).toBe(1)
    expect(new Set(slots.slice(32)).size).toBe(1)
    expect(new Set([slots[0], slots[16], slots[32]]).size).toBe(3)
    expect(gens).toEqual([...range(16), ...range(16), ...range(8)])
    expect(reg.stats().retired).toBe(2)
    expectAllStale(reg, issued)
    // a live value next to the retired slots still works and lands on the current slot
    const h = reg.register(99)
    expect(decodeHandle(h).slot).toBe(slots[32])
    expect(decodeHandle(h).generation).toBe(8)
    expect(reg.get(h)).toBe(99)
    expect(reg.stats()).toMatchObject({ live: 1, registrations: 41, releases: 40, retired: 2 })
    reg.close()
  })

  test('retireAfter: 1 — every slot is used once; crosses block boundaries', () => {
    const reg = new HandleRegistry<number>({ shards: 1, retireAfter: 1 })
    const issued = cycle(reg, 600)
    expect(new Set(issued).size).toBe(600)
    expect(new Set(issued.map((h) => decodeHandle(h).slot)).size).toBe(600)
    expect(issued.every((h) => decodeHandle(h).generation === 0)).toBe(true)
    expect(new Set(issued.map((h) => decodeHandle(h).block)).size).toBeGreaterThanOrEqual(3)
    expect(reg.stats().retired).toBe(600)
    expectAllStale(reg, issued)
    expect(reg.stats().live).toBe(0)
    reg.close()
  })

  test('retirement with several shards: nothing is reissued, all old handles stale', () => {
    const reg = new HandleRegistry<number>({ shards: 4, retireAfter: 3 })
    const issued: number[] = []
    for (let round = 0; round < 50; round++) {
      const batch = Array.from({ length: 10 }, (_, i) => reg.register(round * 10 + i))
      batch.forEach((h, i) => expect(reg.get(h)).toBe(round * 10 + i))
      for (const h of batch) reg.release(h)
      issued.push(...batch)
    }
    expect(new Set(issued).size).toBe(500)
    expect(Math.max(...issued.map((h) => decodeHandle(h).generation))).toBeLessThanOrEqual(2)
    expect(reg.stats().retired).toBeGreaterThan(0)
    expectAllStale(reg, issued)
    reg.close()
  })
})

describe('small integers', () => {
  test('a slot\'s first 8 generations are < 2^31; the 9th is not, and still works', () => {
    const reg = new HandleRegistry<number>({ shards: 1 })
    const issued = cycle(reg, 12)
    expect(new Set(issued.map((h) => decodeHandle(h).slot)).size).toBe(1)
    for (let g = 0; g < 8; g++) {
      expect(issued[g]!).toBeLessThan(2 ** 31)
      expect(issued[g]! | 0).toBe(issued[g]) // fits an int32
    }
    for (let g = 8; g < 12; g++) expect(issued[g]!).toBeGreaterThanOrEqual(2 ** 31)
    expectAllStale(reg, issued)
    reg.close()
  })

  test('1000 fresh slots over 16 shards are all < 2^31', () => {
    const reg = new HandleRegistry<number>()
    for (let i = 0; i < 1000; i++) expect(reg.register(i)).toBeLessThan(2 ** 31)
    reg.close()
  })
})

describe('the real generation limit', () => {
  test('2^25 register/release cycles through one slot retire it; generations 0 and 2^25-1 are both stale', () => {
    const GEN_MAX = HANDLE_LAYOUT.GEN_MAX
    expect(GEN_MAX).toBe(2 ** 25 - 1)
    const reg = new HandleRegistry<number>({ shards: 1 })
    const first = reg.register(-1)
    const slot = decodeHandle(first).slot
    reg.release(first)
    // fail fast if the slot is not reused
    const second = reg.register(-2)
    expect(decodeHandle(second).slot).toBe(slot)
    reg.release(second)

    let last: Handle<number> = second
    for (let i = 2; i <= GEN_MAX; i++) {
      last = reg.register(i)
      reg.release(last)
    }
    expect(decodeHandle(last)).toMatchObject({ slot, generation: GEN_MAX })
    expect(last).toBe(GEN_MAX * GEN_UNIT + slot)
    expect(Number.isSafeInteger(last)).toBe(true)
    const s = reg.stats()
    expect(s).toMatchObject({ retired: 1, registrations: 2 ** 25, releases: 2 ** 25, live: 0 })

    expectAllStale(reg, [first, second, last, (GEN_MAX - 1) * GEN_UNIT + slot])

    const next = reg.register(42)
    expect(decodeHandle(next).slot).not.toBe(slot)
    expect(decodeHandle(next).generation).toBe(0)
    expect(reg.get(next)).toBe(42)
    expectAllStale(reg, [first, last])
    reg.close()
  }, 120_000)
})

function range(n: number): number[] {
  return Array.from({ length: n }, (_, i) => i)
}
