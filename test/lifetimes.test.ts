// Issue 10, item 4: blocks and owner indexes come back. Before, the 65,536th
// lifetime of a default registry (create, register 16, close) threw
// ERR_DOMAIN_EXHAUSTED for ever. Runs test/stress/lifetimes.js in child
// processes (so that using up the never-used blocks of the process-wide
// domain does not change what other test files in this process see).
//
// Count: 1,000,000 lifetimes per mode (16M block claims: every never-used
// block, then about 15 rounds through the pool). A lifetime costs about 15 us
// here with the script's checks (11-23 s per million on the loaded 2-core CI
// machine); the stress script runs 10 million (docs/benchmark.md, "Registry
// lifetimes").
import { describe, test, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasNative } from '../src'

const SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'stress', 'lifetimes.js')

interface Summary {
  lifetimes: number
  checks: number
  aliases: number
  errors: Record<string, number>
  maxGen: number
  nativeClosed: number
  rssWarmMB: number
  rssEndMB: number
  heapWarmMB: number
  heapEndMB: number
  domain: { liveOwners: number; blocksClaimed: number }
}

function lifetimes(count: number, mode: 'native' | 'shared', drop = false): Summary {
  const r = spawnSync(process.execPath, ['--expose-gc', SCRIPT, String(count), mode, ...(drop ? ['--drop'] : [])],
    { encoding: 'utf8', timeout: 600_000 })
  expect({ status: r.status, signal: r.signal }, r.stderr.slice(-3000)).toEqual({ status: 0, signal: null })
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary
}

const MODES = hasNative() ? (['native', 'shared'] as const) : (['shared'] as const)
const MAX_BLOCKS = 2 ** 20

describe.each(MODES)('registry lifetimes (%s domain, child processes)', (mode) => {
  test('1,000,000 lifetimes of a default registry: no exhaustion, old handles rejected on reused blocks, memory flat', () => {
    const N = 1_000_000
    const s = lifetimes(N, mode)
    expect(s.lifetimes).toBe(N)
    expect(s.domain).toEqual({ liveOwners: 0, blocksClaimed: MAX_BLOCKS - 1 }) // every never-used block, then reuse
    // Handles of closed registries (one in five lifetimes sampled), tried on
    // the later registries that reuse their blocks: all rejected.
    expect(s.checks).toBeGreaterThan(100_000)
    expect(s.aliases).toBe(0)
    expect(Object.keys(s.errors)).toEqual(['ERR_HANDLE_FOREIGN'])
    expect(s.errors.ERR_HANDLE_FOREIGN).toBe(s.checks)
    // Native posts of those handles get REGISTRY_CLOSED, and is_live says 0: they never reach the new owner.
    expect(s.nativeClosed).toBe(mode === 'native' ? s.checks : 0)
    // Reused blocks start above the earlier owners' generations, and a base
    // rises by one per reuse of its block at most (the pool is FIFO; blocks a
    // registry claimed but never issued from come back unchanged): 16 blocks
    // a lifetime over 2^20 - 1 blocks.
    expect(s.maxGen).toBeGreaterThanOrEqual(1)
    expect(s.maxGen).toBeLessThanOrEqual(Math.ceil((16 * N) / (MAX_BLOCKS - 1)))
    // Memory flat after warm-up (the first 100,000 lifetimes fill the block
    // table and the pool), each measured after a full GC: the JS heap (and
    // external memory) within 8 MB, RSS within 64 MB (V8 may commit more heap
    // for the same live size). A leak of 64 bytes a lifetime would show.
    expect(s.heapEndMB - s.heapWarmMB).toBeLessThan(8)
    expect(s.rssEndMB - s.rssWarmMB).toBeLessThan(64)
  }, 600_000)

  test('10,000 registries dropped without close(): the FinalizationRegistry releases their owners', () => {
    // 4,095 owner indexes exist: without reclaim, the 4,096th registry would throw ERR_DOMAIN_EXHAUSTED.
    const s = lifetimes(10_000, mode, true)
    expect(s.lifetimes).toBe(10_000)
    expect(s.aliases).toBe(0)
    expect(s.domain.liveOwners).toBeLessThan(4095)
  }, 300_000)
})
