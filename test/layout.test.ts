// One layout, two languages: compiles native/test/layout_dump.cc (which prints
// the C++ headers' layout constants) with g++, runs it, and compares every
// constant it prints with src/layout.ts. A constant the dump prints that is
// neither compared nor listed as C++-only fails the test, so a new constant
// cannot slip past it.
import { execFileSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import * as layout from '../src/layout'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const SOURCE = path.join(ROOT, 'native', 'test', 'layout_dump.cc')
// Inside the project (native/test/bin is ignored by git); one binary per process and thread.
const BIN = path.join(ROOT, 'native', 'test', 'bin', `layout_dump_vitest_${process.pid}_${process.env.VITEST_POOL_ID ?? 0}`)

/**
 * The dump's output as name -> number. Today layout_dump prints one JSON
 * object of numbers; if its format changes, this is the one line to adapt.
 */
const parseDump = (stdout: string): Record<string, number> => JSON.parse(stdout) as Record<string, number>

/** Dump name -> the src/layout.ts value it must equal. */
const EXPECTED: Record<string, number> = {
  slotBits: layout.SLOT_BITS,
  offsetBits: layout.OFFSET_BITS,
  blockBits: layout.BLOCK_BITS,
  genBits: layout.GEN_BITS,
  genMax: layout.GEN_MAX,
  slotsPerBlock: layout.BLOCK_SIZE,
  maxBlocks: layout.MAX_BLOCKS,
  maxOwners: layout.MAX_OWNERS,
  maxRegistryShards: layout.MAX_SHARDS,
  maxHandle: layout.MAX_HANDLE,
  magic: layout.MAGIC,
  layoutVersion: layout.LAYOUT_VERSION,
  magicIndex: layout.W_MAGIC,
  layoutVersionIndex: layout.W_VERSION,
  nextBlockIndex: layout.W_NEXT_BLOCK,
  ownerHintIndex: layout.W_OWNER_HINT,
  liveOwnersIndex: layout.W_LIVE_OWNERS,
  headerWords: layout.HEADER_WORDS,
  ownersBase: layout.OWNERS_BASE,
  ownerWords: layout.OWNER_WORDS,
  blocksBase: layout.BLOCKS_BASE,
  wordsPerBlock: layout.WORDS_PER_BLOCK,
  domainWords: layout.DOMAIN_WORDS,
  claimed: layout.B_CLAIMED,
  retired: layout.B_RETIRED,
  shardShift: layout.B_SHARD_SHIFT,
  shardMask: layout.B_SHARD_MASK,
  ownerMask: layout.B_OWNER_MASK,
  offsetMask: layout.OFFSET_MASK,
  blockMask: layout.MAX_BLOCKS - 1,
  slotMask: layout.SLOT_MASK,
  pageBits: layout.PAGE_BITS,
  pageMask: layout.PAGE_MASK,
  maxPages: layout.PAGE_MASK + 1,
  maxStateSlots: (layout.PAGE_MASK + 1) * layout.BLOCK_SIZE,
  stateLive: layout.S_LIVE,
  stateWeak: layout.S_WEAK,
  stateGenShift: 2, // slot state word: gen << 2 | weak << 1 | live (registry.ts find())
  ownerClaimed: 1, // OWNERS[i]: 0 free, 1 claimed (backends.ts claimOwner)
  routeWord: 0, // block word 0: owner << PAGE_BITS | page
  metaWord: 1, // block word 1: CLAIMED | RETIRED | shard << 12 | owner
}

/** Printed by the dump but with no TypeScript counterpart (versions of the C++ header and ABI, C++ struct sizes). */
const CPP_ONLY = new Set(['versionMajor', 'versionMinor', 'versionPatch', 'abiVersion', 'eventBytes'])

describe('src/layout.ts matches the C++ headers (native/test/layout_dump.cc)', () => {
  let dump: Record<string, number>

  beforeAll(() => {
    fs.mkdirSync(path.dirname(BIN), { recursive: true })
    const cxx = process.env.CXX || 'g++'
    execFileSync(cxx, ['-std=c++17', '-Wall', '-Wextra', '-Werror',
      '-I', path.join(ROOT, 'native', 'include'), '-I', path.join(ROOT, 'native', 'src'),
      SOURCE, '-o', BIN], { stdio: ['ignore', 'inherit', 'inherit'] })
    try {
      dump = parseDump(execFileSync(BIN, { encoding: 'utf8' }))
    } finally {
      fs.rmSync(BIN, { force: true })
    }
  }, 120_000)

  test('every constant the dump prints is compared or known to be C++-only', () => {
    const unknown = Object.keys(dump).filter((k) => !(k in EXPECTED) && !CPP_ONLY.has(k))
    expect(unknown, 'add these to EXPECTED (with their src/layout.ts value) or CPP_ONLY').toEqual([])
  })

  test('every compared constant is printed by the dump', () => {
    expect(Object.keys(EXPECTED).filter((k) => !(k in dump))).toEqual([])
  })

  test.each(Object.keys(EXPECTED))('%s: C++ and TypeScript agree', (name) => {
    expect({ name, cpp: dump[name] }).toEqual({ name, cpp: EXPECTED[name] })
  })

  test('the values derived in TypeScript are consistent with the table', () => {
    expect(layout.SLOT_SPAN).toBe(2 ** layout.SLOT_BITS)
    expect(layout.SLOT_BITS).toBe(layout.OFFSET_BITS + layout.BLOCK_BITS)
    expect(layout.GEN_BITS + layout.SLOT_BITS).toBe(53)
    expect(layout.PAGE_MASK).toBe(2 ** layout.PAGE_BITS - 1)
    expect(layout.MAX_OWNERS).toBe(layout.B_OWNER_MASK)
    expect(layout.MAX_SHARDS - 1).toBeLessThanOrEqual(layout.B_SHARD_MASK)
  })
})
