// The handle bit layout and the domain memory layout (docs/design.md): one
// table, `L`. tsc inlines a const enum's members as literals, so the hot paths
// pay no property load per constant. The named exports below are aliases of
// the table for readers and tests; test/layout.test.ts compares every value
// with the C++ headers (native/test/layout_dump.cc).
import { InvalidHandleError } from './errors'

export const enum L {
  // Handle: gen * 2^28 + slot, slot = block << 8 | offset.
  SLOT_BITS = 28,
  OFFSET_BITS = 8,
  BLOCK_BITS = 20,
  GEN_BITS = 25,
  SLOT_SPAN = 1 << SLOT_BITS, // the generation's multiplier
  SLOT_MASK = SLOT_SPAN - 1,
  BLOCK_SIZE = 1 << OFFSET_BITS,
  OFFSET_MASK = BLOCK_SIZE - 1,
  GEN_MAX = (1 << GEN_BITS) - 1,
  MAX_OWNERS = 4095,
  MAX_BLOCKS = 1 << BLOCK_BITS,
  MAX_HANDLE = 9007199254740991, // 2^53 - 1: every handle is a safe integer
  MAX_SHARDS = 256, // shards per registry (1..256)

  // Domain words (Int32 indexes).
  W_MAGIC = 0,
  W_VERSION = 1,
  W_NEXT_BLOCK = 2,
  W_OWNER_HINT = 3,
  W_LIVE_OWNERS = 4,
  HEADER_WORDS = 16, // words 5..15 reserved (0)
  OWNERS_BASE = HEADER_WORDS,
  OWNER_WORDS = MAX_OWNERS + 1, // OWNERS[0..4095]; owner indexes are 1..4095
  BLOCKS_BASE = OWNERS_BASE + OWNER_WORDS,
  WORDS_PER_BLOCK = 2,
  DOMAIN_WORDS = BLOCKS_BASE + WORDS_PER_BLOCK * MAX_BLOCKS,
  MAGIC = 0x48524731, // "HRG1"
  LAYOUT_VERSION = 1,

  // Block word 0: owner << 19 | local page index; 0 when unclaimed or retired.
  PAGE_BITS = 19,
  PAGE_MASK = (1 << PAGE_BITS) - 1,
  // Block word 1: CLAIMED | RETIRED | shard << 12 | owner.
  B_CLAIMED = 1 << 30,
  B_RETIRED = 1 << 29,
  B_OWNER_MASK = 0xfff,
  B_SHARD_SHIFT = 12,
  B_SHARD_MASK = 0xff, // bits 12..19: shard index (MAX_SHARDS - 1)

  // Slot state word: gen << 2 | weak << 1 | live.
  S_LIVE = 1,
  S_WEAK = 2,

  // A registry's values live in chunks of 2^16 cells (src/registry.ts,
  // "Storage" in docs/design.md): local slot `at` is cell
  // [at >>> VALUE_CHUNK_BITS][at & VALUE_CHUNK_MASK]. Not part of the handle;
  // native/src/resolve.cc (kValueChunkBits) reads the same table, and
  // test/resolve.test.ts resolves handles on both sides of a chunk boundary.
  VALUE_CHUNK_BITS = 16,
  VALUE_CHUNK = 1 << VALUE_CHUNK_BITS,
  VALUE_CHUNK_MASK = VALUE_CHUNK - 1,

  // Pure-TypeScript domains only (the SharedArrayBuffer of HandleDomain.create()):
  // block reuse. The native domain keeps these in native-private memory. Words
  // 5..7 of the header (reserved, 0, in the C++ layout) and two arrays after
  // the block table: BASES[b], the first generation the next owner of block b
  // issues, and POOL, a FIFO ring of blocks closed registries returned.
  W_POOL_HEAD = 5,
  W_POOL_TAIL = 6,
  W_POOL_LOCK = 7,
  BASES_BASE = DOMAIN_WORDS,
  POOL_BASE = BASES_BASE + MAX_BLOCKS,
  SHARED_DOMAIN_WORDS = POOL_BASE + MAX_BLOCKS,
}

export const SLOT_BITS = L.SLOT_BITS
export const OFFSET_BITS = L.OFFSET_BITS
export const BLOCK_BITS = L.BLOCK_BITS
export const GEN_BITS = L.GEN_BITS
export const SLOT_SPAN = L.SLOT_SPAN
export const SLOT_MASK = L.SLOT_MASK
export const BLOCK_SIZE = L.BLOCK_SIZE
export const OFFSET_MASK = L.OFFSET_MASK
export const GEN_MAX = L.GEN_MAX
export const MAX_OWNERS = L.MAX_OWNERS
export const MAX_BLOCKS = L.MAX_BLOCKS
export const MAX_HANDLE = L.MAX_HANDLE
export const MAX_SHARDS = L.MAX_SHARDS
export const W_MAGIC = L.W_MAGIC
export const W_VERSION = L.W_VERSION
export const W_NEXT_BLOCK = L.W_NEXT_BLOCK
export const W_OWNER_HINT = L.W_OWNER_HINT
export const W_LIVE_OWNERS = L.W_LIVE_OWNERS
export const HEADER_WORDS = L.HEADER_WORDS
export const OWNERS_BASE = L.OWNERS_BASE
export const OWNER_WORDS = L.OWNER_WORDS
export const BLOCKS_BASE = L.BLOCKS_BASE
export const WORDS_PER_BLOCK = L.WORDS_PER_BLOCK
export const DOMAIN_WORDS = L.DOMAIN_WORDS
export const MAGIC = L.MAGIC
export const LAYOUT_VERSION = L.LAYOUT_VERSION
export const PAGE_BITS = L.PAGE_BITS
export const PAGE_MASK = L.PAGE_MASK
export const B_CLAIMED = L.B_CLAIMED
export const B_RETIRED = L.B_RETIRED
export const B_OWNER_MASK = L.B_OWNER_MASK
export const B_SHARD_SHIFT = L.B_SHARD_SHIFT
export const B_SHARD_MASK = L.B_SHARD_MASK
export const S_LIVE = L.S_LIVE
export const S_WEAK = L.S_WEAK

/** The fields of a handle, as laid out in docs/design.md. */
export interface DecodedHandle {
  slot: number
  block: number
  offset: number
  generation: number
}

export const HANDLE_LAYOUT = Object.freeze({
  SLOT_BITS, BLOCK_BITS, OFFSET_BITS, GEN_BITS, GEN_MAX, MAX_OWNERS, MAX_BLOCKS,
})

/** Why `h` is not a well-formed handle, or undefined if it is one. */
export function malformed(h: unknown): string | undefined {
  if (typeof h !== 'number') return `expected a number, got ${typeof h}`
  if (!Number.isSafeInteger(h)) return 'expected a safe integer'
  if (h < 1) return 'handles are positive (0 is never a handle)'
  if ((h % L.SLOT_SPAN) >>> L.OFFSET_BITS === 0) return 'block 0 is never issued'
  return undefined
}

/** Splits a handle into its fields. Throws InvalidHandleError for malformed input. */
export function decodeHandle(h: number): DecodedHandle {
  const why = malformed(h)
  if (why !== undefined) throw new InvalidHandleError(h, why)
  const slot = h % L.SLOT_SPAN
  return { slot, block: slot >>> L.OFFSET_BITS, offset: slot & L.OFFSET_MASK, generation: (h - slot) / L.SLOT_SPAN }
}
