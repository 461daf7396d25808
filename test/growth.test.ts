// Growth of a registry's slot storage (the first allocation, then by half in
// whole pages): every handle keeps resolving to its value across page and
// capacity boundaries, on both domain backends, and reused slots after a
// full release resolve too.
import { describe, test, expect } from 'vitest'
import { HandleRegistry, HandleDomain } from '../src/index'

// Counts that land just before, on and after page (256) and growth
// boundaries: the first allocation is one page per shard (at most 16), then
// each growth adds half the capacity, rounded up to whole pages.
const COUNTS = [1, 255, 256, 257, 511, 512, 513, 4095, 4096, 4097, 6144, 6145, 9217, 20000]

const domains: [string, () => HandleDomain][] = [
  ['SharedArrayBuffer domain', () => HandleDomain.create()],
  [`default domain (${HandleDomain.default.isNative ? 'native' : 'shared'} backend)`, () => HandleDomain.default],
]

describe.each(domains)('growth on a %s', (_name, makeDomain) => {
  test.each([1, 2, 16, 256])('%i shard(s): every handle resolves across page and capacity boundaries', (shards) => {
    const domain = makeDomain()
    for (const n of COUNTS) {
      using r = new HandleRegistry<{ i: number }>({ domain, shards })
      const hs: number[] = []
      for (let i = 0; i < n; i++) {
        hs.push(r.register({ i }))
        // The handle minted before the latest growth still resolves.
        if ((i & 255) === 0) expect(r.get(hs[i >> 1] as never).i).toBe(i >> 1)
      }
      expect(r.size).toBe(n)
      expect(new Set(hs).size).toBe(n)
      let wrong = 0
      for (let i = 0; i < n; i++) if (r.get(hs[i] as never).i !== i) wrong++
      expect(wrong).toBe(0)
      expect(r.stats().shards.reduce((a, b) => a + b, 0)).toBe(n)
      for (let i = 0; i < n; i++) if (r.release(hs[i] as never).i !== i) wrong++
      expect(wrong).toBe(0)
      expect(r.size).toBe(0)
      // Refill: reused slots, no growth; old handles stay stale.
      const again: number[] = []
      for (let i = 0; i < n; i++) again.push(r.register({ i: -i }))
      for (let i = 0; i < n; i++) if (r.get(again[i] as never).i !== -i) wrong++
      expect(wrong).toBe(0)
      for (const h of hs.slice(0, 64)) expect(r.has(h)).toBe(false)
      expect(r.stats().registrations).toBe(2 * n)
    }
  })
})
