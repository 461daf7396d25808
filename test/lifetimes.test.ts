// Issue 10, item 4: blocks and owner indexes come back. Before, the 65,536th
// lifetime of a default registry (create, register 16, close) threw
// ERR_DOMAIN_EXHAUSTED for ever. Runs test/stress/lifetimes.js in child
// processes (so that using up the never-used blocks of the process-wide
// domain does not change what other test files in this process see).
//
// Count: 70,000 lifetimes (1.12M block claims: every never-used block is used,
// then blocks come back from the pool). One million does not fit the ~60 s
// budget here: a lifetime of a 16-shard registry claims 16 blocks and grows its
// state 16 times, about 100 us of CPU (300-450 us of wall time on the loaded
// 2-core CI machine); the stress script runs 10 million.
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
  domain: { liveOwners: number; blocksClaimed: number }
}

function lifetimes(count: number, mode: 'native' | 'shared', drop = false): Summary {
  const r = spawnSync(process.execPath, ['--expose-gc', SCRIPT, String(count), mode, ...(drop ? ['--drop'] : [])],
    { encoding: 'utf8', timeout: 300_000 })
  expect({ status: r.status, signal: r.signal }, r.stderr.slice(-3000)).toEqual({ status: 0, signal: null })
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Summary
}

const MODES = hasNative() ? (['native', 'shared'] as const) : (['shared'] as const)

describe.each(MODES)('registry lifetimes (%s domain, child processes)', (mode) => {
  test('70,000 lifetimes of a default registry: past the old 65,535 limit, old handles rejected on reused blocks', () => {
    const s = lifetimes(70_000, mode)
    expect(s.lifetimes).toBe(70_000)
    expect(s.domain).toEqual({ liveOwners: 0, blocksClaimed: 2 ** 20 - 1 }) // every never-used block, then reuse
    // Handles of closed registries, tried on the later registries that reuse their blocks: all rejected.
    expect(s.checks).toBeGreaterThan(1000)
    expect(s.aliases).toBe(0)
    expect(Object.keys(s.errors)).toEqual(['ERR_HANDLE_FOREIGN'])
    expect(s.errors.ERR_HANDLE_FOREIGN).toBe(s.checks)
    // Native posts of those handles get REGISTRY_CLOSED, and is_live says 0: they never reach the new owner.
    expect(s.nativeClosed).toBe(mode === 'native' ? s.checks : 0)
    expect(s.maxGen).toBeGreaterThanOrEqual(1) // reused blocks start above the earlier owners' generations
    expect(s.maxGen).toBeLessThan(8) // and handles stay small integers (Smis)
  }, 300_000)

  test('10,000 registries dropped without close(): the FinalizationRegistry releases their owners', () => {
    // 4,095 owner indexes exist: without reclaim, the 4,096th registry would throw ERR_DOMAIN_EXHAUSTED.
    const s = lifetimes(10_000, mode, true)
    expect(s.lifetimes).toBe(10_000)
    expect(s.aliases).toBe(0)
    expect(s.domain.liveOwners).toBeLessThan(4095)
  }, 300_000)
})
