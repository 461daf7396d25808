// Shard balance: sequential registrations spread evenly over the shards
// (Fibonacci hashing of the registration counter, docs/design.md "Shards").
import { describe, test, expect } from 'vitest'
import { HandleRegistry } from '../src/index'
import { sum } from './fixtures/helpers'

function registerSequential(shards: number, n: number): { counts: number[]; distinct: number; size: number } {
  const reg = new HandleRegistry<number>({ shards })
  const seen = new Set<number>()
  for (let i = 0; i < n; i++) seen.add(reg.register(i))
  const counts = reg.stats().shards
  const size = reg.size
  reg.close()
  return { counts, distinct: seen.size, size }
}

function expectBalanced(counts: number[], shards: number, n: number): void {
  expect(counts).toHaveLength(shards)
  expect(sum(counts)).toBe(n)
  const mean = n / shards
  const worst = Math.max(...counts.map((c) => Math.abs(c - mean) / mean))
  // report the whole distribution on failure
  expect({ worstDeviation: worst <= 0.05 ? 'within 5%' : worst, counts }).toEqual({ worstDeviation: 'within 5%', counts })
}

describe('per-shard counts of sequential registrations stay within 5% of the mean', () => {
  test('1,000,000 registrations, 16 shards', () => {
    const n = 1_000_000
    const { counts, distinct, size } = registerSequential(16, n)
    expect(distinct).toBe(n)
    expect(size).toBe(n)
    expectBalanced(counts, 16, n)
  }, 60_000)

  test.each([4, 64])('200,000 registrations, %i shards', (shards) => {
    const n = 200_000
    const { counts, distinct } = registerSequential(shards, n)
    expect(distinct).toBe(n)
    expectBalanced(counts, shards, n)
  })

  test('balance is kept by the registrations that follow releases (16 shards, 200k register / 100k release)', () => {
    const reg = new HandleRegistry<number>({ shards: 16 })
    const hs = []
    for (let i = 0; i < 200_000; i++) hs.push(reg.register(i))
    for (let i = 0; i < 200_000; i += 2) reg.release(hs[i]!)
    expectBalanced(reg.stats().shards, 16, 100_000)
    reg.close()
  })
})
