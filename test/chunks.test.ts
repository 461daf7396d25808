// The registry's values live in chunks of 2^16 cells (src/registry.ts,
// "Storage" in docs/design.md): growth past the first chunk appends a chunk
// and copies nothing. These tests put handles on both sides of chunk
// boundaries and check every path that reads or writes a value cell there:
// get, tryGet, has, release, the free list (its links are stored in the
// cells), retirement, weak handles, iteration, and close with the spare
// arrays the next registry of the thread reuses.
import { describe, test, expect } from 'vitest'
import { HandleDomain, HandleRegistry } from '../src/index'

const CHUNK = 65536

const domains: [string, () => HandleDomain][] = [
  ['SharedArrayBuffer domain', () => HandleDomain.create()],
  [`default domain (${HandleDomain.default.isNative ? 'native' : 'shared'} backend)`, () => HandleDomain.default],
]

describe.each(domains)('value chunks on a %s', (_name, makeDomain) => {
  test('one shard: slots 65535 | 65536 and 131071 | 131072 resolve, release and reuse across the boundary', () => {
    // With one shard, registration i takes local slot i.
    using r = new HandleRegistry<{ i: number }>({ domain: makeDomain(), shards: 1 })
    const n = 2 * CHUNK + 3
    const hs: number[] = []
    for (let i = 0; i < n; i++) hs.push(r.register({ i }))
    for (const i of [0, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK - 1, 2 * CHUNK, n - 1]) {
      expect(r.get(hs[i] as never).i).toBe(i)
      expect(r.tryGet(hs[i])).toEqual({ i })
      expect(r.has(hs[i])).toBe(true)
    }
    // Free-list links cross chunks: release the two slots at each boundary,
    // then four registrations take exactly those slots back (LIFO), with new
    // generations; the released handles stay stale.
    const edges = [CHUNK - 1, CHUNK, 2 * CHUNK - 1, 2 * CHUNK]
    for (const i of edges) expect(r.release(hs[i] as never).i).toBe(i)
    for (const i of edges) expect(() => r.get(hs[i] as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_STALE' }))
    const again = [...edges].reverse().map((i) => ({ i, h: r.register({ i: -i }) }))
    for (const { i, h } of again) {
      expect(h % 2 ** 28).toBe(hs[i] % 2 ** 28) // same slot
      expect(h).not.toBe(hs[i])
      expect(r.get(h as never).i).toBe(-i)
    }
    expect(r.size).toBe(n)
    // Every other handle is untouched.
    let wrong = 0
    for (let i = 0; i < n; i++) if (!edges.includes(i) && r.get(hs[i] as never).i !== i) wrong++
    expect(wrong).toBe(0)
  })

  test('16 shards: growth through several chunks, every handle resolves, iteration sees each once', () => {
    using r = new HandleRegistry<number>({ domain: makeDomain() })
    const n = 3 * CHUNK + 1000
    const hs = new Float64Array(n)
    for (let i = 0; i < n; i++) {
      hs[i] = r.register(i)
      // A handle minted before the latest growth still resolves.
      if ((i & 4095) === 0) expect(r.get(hs[i >> 1] as never)).toBe(i >> 1)
    }
    let wrong = 0
    for (let i = 0; i < n; i++) if (r.get(hs[i] as never) !== i) wrong++
    expect(wrong).toBe(0)
    const seen = new Uint8Array(n)
    for (const [h, v] of r) {
      if (hs[v] !== h) wrong++
      seen[v]++
    }
    expect(wrong).toBe(0)
    expect(seen.every((x) => x === 1)).toBe(true)
    expect(r.stats().shards.reduce((a, b) => a + b, 0)).toBe(n)
    for (let i = 0; i < n; i++) if (r.release(hs[i] as never) !== i) wrong++
    expect(wrong).toBe(0)
    expect([...r]).toEqual([])
  })

  test('retirement writes the retired cell in its own chunk, never a neighbour\'s', () => {
    using r = new HandleRegistry<{ i: number }>({ domain: makeDomain(), shards: 1, retireAfter: 1 })
    const n = CHUNK + 2
    const hs: number[] = []
    for (let i = 0; i < n; i++) hs.push(r.register({ i }))
    for (const i of [CHUNK - 1, CHUNK]) r.release(hs[i] as never)
    expect(r.stats().retired).toBe(2)
    expect(r.get(hs[CHUNK - 2] as never).i).toBe(CHUNK - 2)
    expect(r.get(hs[CHUNK + 1] as never).i).toBe(CHUNK + 1)
    // Retired slots are never reused: the next registration takes a new slot.
    const h = r.register({ i: -1 })
    expect(h % 2 ** 28).not.toBe(hs[CHUNK - 1] % 2 ** 28)
    expect(h % 2 ** 28).not.toBe(hs[CHUNK] % 2 ** 28)
  })

  test('weak handles on both sides of a boundary', () => {
    using r = new HandleRegistry<object>({ domain: makeDomain(), shards: 1 })
    const kept: object[] = []
    const hs: number[] = []
    for (let i = 0; i < CHUNK + 2; i++) {
      const v = { i }
      kept.push(v)
      hs.push(i >= CHUNK - 2 ? r.registerWeak(v) : r.register(v))
    }
    for (let i = CHUNK - 2; i < CHUNK + 2; i++) {
      expect(r.get(hs[i] as never)).toBe(kept[i])
      expect(r.tryGet(hs[i])).toBe(kept[i])
    }
    expect(r.release(hs[CHUNK] as never)).toBe(kept[CHUNK])
    expect(r.has(hs[CHUNK])).toBe(false)
    expect(r.get(hs[CHUNK + 1] as never)).toBe(kept[CHUNK + 1])
  })

  test('close: a chunked registry leaves no spare behind; small ones do, cleared; the next registries start clean', () => {
    const domain = makeDomain()
    const big = new HandleRegistry<{ i: number }>({ domain })
    const bigHandles: number[] = []
    for (let i = 0; i < CHUNK + 10; i++) bigHandles.push(big.register({ i }))
    big.close()
    for (let round = 0; round < 6; round++) {
      // Small registries reuse the first chunk of a closed one (src/spares.ts).
      const r = new HandleRegistry<{ round: number; i: number }>({ domain })
      const hs: number[] = []
      for (let i = 0; i < 300; i++) hs.push(r.register({ round, i }))
      expect([...r.values()]).toHaveLength(300)
      for (let i = 0; i < 300; i++) expect(r.get(hs[i] as never)).toEqual({ round, i })
      for (const h of bigHandles.slice(0, 8)) expect(r.has(h)).toBe(false)
      r.close()
      expect(() => r.get(hs[0] as never)).toThrow(expect.objectContaining({ code: 'ERR_REGISTRY_CLOSED' }))
    }
    // A registry that grows past the spare's size after taking it.
    using r = new HandleRegistry<number>({ domain })
    const hs: number[] = []
    for (let i = 0; i < CHUNK + 5000; i++) hs.push(r.register(i))
    let wrong = 0
    for (let i = 0; i < hs.length; i++) if (r.get(hs[i] as never) !== i) wrong++
    expect(wrong).toBe(0)
    expect([...r.handles()].length).toBe(hs.length)
  })
})
