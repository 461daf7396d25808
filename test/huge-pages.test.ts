// The native domain's state words, once a registry's region reaches 2 MiB, live
// in an anonymous mapping madvise(MADV_HUGEPAGE)'d (native/src/huge_alloc.h):
// a registry grown past that keeps resolving every handle, the mapping shows
// the `hg` flag in /proc/self/smaps, and closing the registry unmaps it.
// madvise sets `hg` whether or not the kernel then finds huge pages, so this
// holds on any Linux with transparent huge pages configured (the file exists).
import { describe, expect, test } from 'vitest'
import * as fs from 'node:fs'
import { HandleDomain, HandleRegistry } from '../src/index'
import { nativeRequired } from './fixtures/native-required'

const THP = '/sys/kernel/mm/transparent_hugepage/enabled'

interface Vma { start: bigint, bytes: number, hg: boolean }

/** This process's mappings, from /proc/self/smaps (start address, size, whether VmFlags holds `hg`). */
function mappings(): Vma[] {
  const out: Vma[] = []
  let cur: Vma | null = null
  for (const line of fs.readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) /.exec(line)
    if (head) {
      const start = BigInt('0x' + head[1])
      cur = { start, bytes: Number(BigInt('0x' + head[2]) - start), hg: false }
      out.push(cur)
    } else if (cur && line.startsWith('VmFlags:')) {
      cur.hg = line.split(/\s+/).includes('hg')
    }
  }
  return out
}

// More live handles than 2 MiB of state words (4 bytes each) hold.
const N = 600_000

describe.runIf(nativeRequired() && process.platform === 'linux' && fs.existsSync(THP))('native state words on huge pages', () => {
  test('a registry grown past 2 MiB of state words resolves every handle; its words sit in one hg mapping, unmapped by growth and close', () => {
    const known = new Set(mappings().filter((m) => m.hg).map((m) => m.start))
    // hg mappings this test made: the registry's current region only. The
    // header's small page in front of each region has no hg, so two regions
    // never merge into one VMA.
    const ours = (): Vma[] => mappings().filter((m) => m.hg && !known.has(m.start))
    const r = new HandleRegistry<{ i: number }>({ domain: HandleDomain.default })
    const hs: number[] = []
    const seen = new Set<bigint>()
    for (let i = 0; i < N; i++) {
      hs.push(r.register({ i }))
      if ((i & 8191) === 8191) {
        // Growth unmaps the old region (after synchronize()): never two at once.
        const now = ours()
        expect(now.length, `at ${i + 1} handles: ${JSON.stringify(now.map((m) => m.bytes))}`).toBeLessThanOrEqual(1)
        for (const m of now) seen.add(m.start)
      }
    }
    let wrong = 0
    for (let i = 0; i < N; i++) if (r.get(hs[i] as never).i !== i) wrong++
    expect(wrong).toBe(0)

    const region = ours()
    expect(region.length).toBe(1)
    expect(region[0].bytes).toBeGreaterThanOrEqual(4 * N)
    expect(region[0].start % (2n << 20n)).toBe(0n) // 2 MiB-aligned: whole huge pages
    expect(seen.size).toBeGreaterThan(1) // it grew at least once on the huge path

    r.close()
    expect(ours()).toEqual([])
  }, 120_000)
})
