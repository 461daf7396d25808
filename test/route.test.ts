// The registry's private block -> page route (src/registry.ts, routeBlock):
// blocks that lie far apart from the registry's others stay out of it, and
// lookups of their handles go through the domain's block table, verified
// against the registry's own page table. Both paths must resolve every live
// handle, reject released and foreign ones, and a scribbled shared table must
// never make a routed lookup resolve something else.
import { describe, test, expect } from 'vitest'
import { HandleRegistry, HandleDomain } from '../src/index'
import { BLOCKS_BASE, PAGE_BITS, W_NEXT_BLOCK } from '../src/layout'

// Registers n values { i } with i = from.. into r, appending the handles to hs.
function fill (r: HandleRegistry<{ i: number }>, from: number, n: number, hs: number[]): void {
  for (let i = from; i < from + n; i++) hs.push(r.register({ i }))
}

describe('block route', () => {
  test('handles in blocks far from the registry\'s others (unrouted) resolve, release and go stale', () => {
    const domain = HandleDomain.create()
    using r = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const hs: number[] = []
    fill(r, 0, 300, hs) // pages 0 and 1: blocks 1 and 2
    // Move the domain's block counter far out (what 600,000 blocks claimed by
    // other registries would do): the next page's block is ~600,000 away from
    // this registry's first ones, beyond the route's span.
    Atomics.store(domain.words, W_NEXT_BLOCK, 600_000)
    fill(r, 300, 600, hs) // pages 2 and 3: blocks 600000 and 600001
    const far = hs.slice(512)
    expect(far.every((h) => Math.floor((h % 2 ** 28) / 256) >= 600_000)).toBe(true)
    let wrong = 0
    for (let i = 0; i < hs.length; i++) if (r.get(hs[i] as never).i !== i) wrong++
    expect(wrong).toBe(0)
    for (let i = 0; i < hs.length; i += 2) if (r.release(hs[i] as never).i !== i) wrong++
    expect(wrong).toBe(0)
    for (let i = 0; i < hs.length; i++) {
      if (i % 2 === 0) expect(() => r.get(hs[i] as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_STALE' }))
      else if (r.get(hs[i] as never).i !== i) wrong++
    }
    expect(wrong).toBe(0)
    expect(r.size).toBe(hs.length / 2)
  })

  test('a foreign handle in a block next to ours is rejected on both paths', () => {
    const domain = HandleDomain.create()
    using a = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    using b = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const ha: number[] = []
    const hb: number[] = []
    // Interleaved claims: a's and b's blocks alternate, so b's lie inside a's route range.
    for (let k = 0; k < 4; k++) {
      fill(a, k * 256, 256, ha)
      fill(b, k * 256, 256, hb)
    }
    Atomics.store(domain.words, W_NEXT_BLOCK, 700_000)
    fill(a, 1024, 256, ha) // unrouted page of a
    fill(b, 1024, 256, hb)
    for (const h of hb) {
      expect(a.has(h)).toBe(false)
      expect(() => a.get(h as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_FOREIGN' }))
    }
    for (let i = 0; i < ha.length; i++) expect(a.get(ha[i] as never).i).toBe(i)
  })

  test('handles of blocks below and above the route\'s range (a read outside #route) are rejected, after hot lookups too', () => {
    const domain = HandleDomain.create()
    using below = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const hBelow: number[] = []
    fill(below, 0, 10, hBelow) // block 1: below every block of r
    using r = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const hs: number[] = []
    fill(r, 0, 200, hs) // r's route starts at its first block (2)
    using above = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const hAbove: number[] = []
    Atomics.store(domain.words, W_NEXT_BLOCK, 900_000)
    fill(above, 0, 10, hAbove) // block 900000: far above r's route
    // Hot first (the lookup's code optimised for routed handles), then the rest.
    let sum = 0
    for (let k = 0; k < 20_000; k++) sum += r.get(hs[k % hs.length] as never).i
    expect(sum).toBe(100 * 199 * 100)
    for (const h of [...hBelow, ...hAbove]) {
      expect(r.has(h)).toBe(false)
      expect(r.tryGet(h)).toBeUndefined()
      expect(() => r.get(h as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_FOREIGN' }))
      expect(() => r.release(h as never)).toThrow(expect.objectContaining({ code: 'ERR_HANDLE_FOREIGN' }))
    }
    for (let i = 0; i < hs.length; i++) expect(r.release(hs[i] as never).i).toBe(i)
    expect(r.size).toBe(0)
  })

  test('a scribbled shared block table never makes a lookup resolve another registry\'s slot', () => {
    const domain = HandleDomain.create()
    using a = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    using b = new HandleRegistry<{ i: number }>({ domain, shards: 1 })
    const ha: number[] = []
    const hb: number[] = []
    fill(a, 0, 256, ha) // a: page 0 (routed)
    fill(b, 0, 256, hb) // b: page 0, next to a's
    Atomics.store(domain.words, W_NEXT_BLOCK, 800_000)
    fill(a, 256, 256, ha) // a: page 1, far out (unrouted)
    fill(b, 256, 256, hb) // b: page 1, next to a's far one
    // Garbage any code holding the buffer can write: every block word of the
    // domain names owner a and page 0, then page 1.
    for (const page of [0, 1]) {
      for (const h of [...ha, ...hb]) {
        const block = Math.floor((h % 2 ** 28) / 256)
        Atomics.store(domain.words, BLOCKS_BASE + 2 * block, (a.ownerId << PAGE_BITS) | page)
      }
      for (const h of hb) {
        expect(a.has(h)).toBe(false)
        expect(a.tryGet(h)).toBeUndefined()
      }
      // a's routed page does not read the table; its far page fails closed once its word is wrong.
      for (let i = 0; i < 256; i++) expect(a.get(ha[i] as never).i).toBe(i)
      for (let i = 256; i < 512; i++) {
        const v = a.tryGet(ha[i])
        if (v !== undefined) expect(v.i).toBe(i)
      }
    }
  })
})
