// The handle bit layout and the domain memory layout (docs/design.md).
// native/include/handle_registry.h carries the same numbers.
import { InvalidHandleError } from './errors'

export const SLOT_BITS = 28
export const OFFSET_BITS = 8
export const BLOCK_BITS = 20
export const GEN_BITS = 25
export const SLOT_SPAN = 2 ** SLOT_BITS // gen multiplier
export const SLOT_MASK = SLOT_SPAN - 1
export const BLOCK_SIZE = 1 << OFFSET_BITS
export const OFFSET_MASK = BLOCK_SIZE - 1
export const GEN_MAX = 2 ** GEN_BITS - 1
/** Handles below this are V8 Smis on x64: slots' first 8 generations. */
export const SMI_LIMIT = 2 ** 31
export const MAX_OWNERS = 4095
export const MAX_BLOCKS = 2 ** BLOCK_BITS

// Domain words (Int32 indexes).
export const W_MAGIC = 0
export const W_VERSION = 1
export const W_NEXT_BLOCK = 2
export const W_OWNER_HINT = 3
export const W_LIVE_OWNERS = 4
export const OWNERS_BASE = 16
export const BLOCKS_BASE = OWNERS_BASE + 4096
export const DOMAIN_WORDS = BLOCKS_BASE + 2 * MAX_BLOCKS
export const MAGIC = 0x48524731
export const LAYOUT_VERSION = 1

// Block word 0: owner << 19 | local page index; 0 when unclaimed or retired.
export const PAGE_BITS = 19
export const PAGE_MASK = (1 << PAGE_BITS) - 1
// Block word 1: CLAIMED | RETIRED | shard << 12 | owner.
export const B_CLAIMED = 1 << 30
export const B_RETIRED = 1 << 29
export const B_OWNER_MASK = 0xfff
export const B_SHARD_SHIFT = 12
export const B_SHARD_MASK = 0xff

// Slot state word: gen << 2 | weak << 1 | live.
export const S_LIVE = 1
export const S_WEAK = 2

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
  if ((h % SLOT_SPAN) >>> OFFSET_BITS === 0) return 'block 0 is never issued'
  return undefined
}

/** Splits a handle into its fields. Throws InvalidHandleError for malformed input. */
export function decodeHandle(h: number): DecodedHandle {
  const why = malformed(h)
  if (why !== undefined) throw new InvalidHandleError(h, why)
  const slot = h % SLOT_SPAN
  return { slot, block: slot >>> OFFSET_BITS, offset: slot & OFFSET_MASK, generation: (h - slot) / SLOT_SPAN }
}

/** MurmurHash3's 32-bit finaliser: spreads sequential counters over shards. */
export function fmix32(x: number): number {
  x ^= x >>> 16
  x = Math.imul(x, 0x85ebca6b)
  x ^= x >>> 13
  x = Math.imul(x, 0xc2b2ae35)
  x ^= x >>> 16
  return x >>> 0
}

/**
 * The same numbers as a const enum, which tsc inlines as literals: the hot
 * paths in registry.ts use these so V8 does no property load per constant.
 */
export const enum L {
  SLOT_SPAN = 268435456, // 2^28
  SLOT_MASK = 268435455,
  OFFSET_BITS = 8,
  OFFSET_MASK = 255,
  BLOCK_SIZE = 256,
  GEN_MAX = 33554431, // 2^25 - 1
  BLOCKS_BASE = 4112,
  PAGE_BITS = 19,
  PAGE_MASK = 524287,
  S_LIVE = 1,
  S_WEAK = 2,
  B_CLAIMED = 1073741824,
  B_RETIRED = 536870912,
  B_OWNER_MASK = 4095,
}
