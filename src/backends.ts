// The two places a domain's memory can live, behind one interface: a
// SharedArrayBuffer advanced with Atomics (pure TypeScript), or the addon's
// process-wide native memory mutated by native calls. HandleDomain and
// HandleRegistry call the interface and never ask which one they have.
import { NativeUnavailableError } from './errors'
import { L } from './layout'
import { nativeBinding, whyNoNative, type NativeBinding, type OwnerToken } from './native'
import { SPARE_MAX_CELLS, spareStates } from './spares'
import { threadClaimsOf, type ThreadClaims } from './thread-claims'

/**
 * A registry's claim of an owner index, and what releasing it needs. The
 * registry keeps `state` current; a FinalizationRegistry holds the lease (never
 * the registry) to release the claim of a registry dropped without close().
 */
export interface OwnerLease {
  readonly backend: DomainBackend
  readonly owner: number
  /** The backend's proof of the claim: the addon's owner token (an opaque external), or the owner index. */
  readonly token: unknown
  /** The registry's slot-state words (native mode: a view of the addon's region). */
  state: Int32Array
  /** The block of each page of the registry (its private page table, shared by reference). */
  readonly blocks: number[]
  /**
   * The registry's shard of each page, and per shard its current page and
   * bump pointer (shared by reference): what was issued in each block (the
   * pure-TypeScript backend scans only that at release).
   */
  readonly pageShard: number[]
  readonly shardPage: Int32Array
  readonly shardNext: Int32Array
  released: boolean
}

export interface DomainBackend {
  /** The domain words' memory. */
  readonly buffer: SharedArrayBuffer | ArrayBuffer
  readonly isNative: boolean
  /** A free owner index (1..4095) and its token, or undefined when all are taken. */
  claimOwner(): { owner: number; token: unknown } | undefined
  /**
   * A block for (owner, shard) as page `page` of its registry, never-used blocks
   * first: block + base * MAX_BLOCKS, where base is the first generation to issue
   * in it; 0 when none is left.
   */
  claimBlock(token: unknown, shard: number, page: number): number
  /**
   * `count` blocks in one step, for shards shard.. as pages page.. (a
   * registry's first pages): out[i] as claimBlock answers; how many it claimed
   * (fewer when the domain runs out).
   */
  claimBlocks(token: unknown, shard: number, page: number, count: number, out: Float64Array): number
  /** Returns the lease's blocks to the pool (with their next generation bases) and frees its owner index. */
  releaseOwner(lease: OwnerLease): void
  /** A state array of `slots` words holding `old`'s words; `old` must not be used afterwards. */
  growState(token: unknown, old: Int32Array, slots: number): Int32Array
  /**
   * Hands native code (api->resolve) the registry's table of value chunks
   * (cell `at` is table[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK]),
   * once: growth changes the table in place.
   */
  publishValues(token: unknown, table: unknown[][]): void
  /** Hands native code the target of weak handle `h` of the token's registry, so api->resolve needs no WeakRef.deref. */
  noteWeak(token: unknown, h: number, target: object): void
  /** registry.ref() / unref(): whether native holds (api->hold) keep this thread's event loop alive. */
  setRef(token: unknown, ref: boolean): void
  /** The addon, for what needs the native domain (`what` names it); throws ERR_NATIVE_UNAVAILABLE with the reason. */
  native(what: string): NativeBinding
  /**
   * Only when `buffer` is a per-thread copy of the domain (the addon built
   * without external ArrayBuffers, for Electron): refreshes words
   * [first, first + count) of the copy before they are read.
   */
  readonly sync?: (first: number, count: number) => void
}

// Spins of the pure-TypeScript pool lock before giving up: a lock word left
// set by garbage written into the buffer must not hang the thread.
const POOL_LOCK_SPINS = 1 << 20
// Blocks a claim may skip (held by this thread's registries, or retired by its
// records) before it reports the domain exhausted: garbage that rewound the
// block counter costs bounded time per claim.
const CLAIM_ATTEMPTS = 4096

/** How many of page p's slots the lease's registry ever issued: its bump pointer (slots are issued in order). */
function usedSlots(lease: OwnerLease, p: number): number {
  const shard = lease.pageShard[p]
  return lease.shardPage[shard] === p ? lease.shardNext[shard] : L.BLOCK_SIZE
}

/** Pure TypeScript: the domain words are a SharedArrayBuffer that Workers attach to. */
export class SharedBackend implements DomainBackend {
  readonly isNative = false
  readonly #words: Int32Array
  readonly #claims: ThreadClaims

  constructor(readonly buffer: SharedArrayBuffer) {
    this.#words = new Int32Array(buffer)
    this.#claims = threadClaimsOf(buffer)
  }

  claimOwner(): { owner: number; token: unknown } | undefined {
    const w = this.#words
    const start = Atomics.load(w, L.W_OWNER_HINT) >>> 0
    for (let i = 0; i < L.MAX_OWNERS; i++) {
      const owner = ((start + i) % L.MAX_OWNERS) + 1
      // OWNERS[owner]: 0 = free, 1 = taken.
      if (Atomics.compareExchange(w, L.OWNERS_BASE + owner, 0, 1) === 0) {
        Atomics.store(w, L.W_OWNER_HINT, owner % L.MAX_OWNERS)
        Atomics.add(w, L.W_LIVE_OWNERS, 1)
        return { owner, token: owner }
      }
    }
    return undefined
  }

  claimBlock(token: unknown, shard: number, page: number): number {
    const owner = token as number
    const w = this.#words
    const claims = this.#claims
    for (let attempt = 0; attempt < CLAIM_ATTEMPTS; attempt++) {
      let block = Atomics.add(w, L.W_NEXT_BLOCK, 1)
      let base = 0
      if (!(block >= 1 && block < L.MAX_BLOCKS)) {
        Atomics.store(w, L.W_NEXT_BLOCK, L.MAX_BLOCKS)
        block = this.#pop()
        if (block === 0) return 0
        base = Atomics.load(w, L.BASES_BASE + block)
      }
      // Only garbage in the buffer names a block a registry of this thread
      // holds, or a base below generations this thread issued in it: skip
      // the one, raise the other (thread-claims.ts).
      if (claims.holds(block)) continue
      base = Math.max(base, claims.floor(block))
      if (base > L.GEN_MAX) continue
      claims.claimed(block)
      const at = L.BLOCKS_BASE + 2 * block
      // Word 1 before word 0: a reader that sees our page also sees the block's description.
      Atomics.store(w, at + 1, L.B_CLAIMED | (shard << L.B_SHARD_SHIFT) | owner)
      Atomics.store(w, at, (owner << L.PAGE_BITS) | page)
      return base * L.MAX_BLOCKS + block
    }
    return 0
  }

  claimBlocks(token: unknown, shard: number, page: number, count: number, out: Float64Array): number {
    for (let i = 0; i < count; i++) {
      const claimed = this.claimBlock(token, shard + i, page + i)
      if (claimed === 0) return i
      out[i] = claimed
    }
    return count
  }

  releaseOwner(lease: OwnerLease): void {
    const w = this.#words
    const { state, blocks } = lease
    for (let p = 0; p < blocks.length; p++) {
      const b = blocks[p]
      // The next owner's first generation: above every generation this
      // registry's private state words name, and above the old base; or the
      // old base if every word of the block still holds its initial value
      // (nothing was issued there: eager first claims leave most blocks of a
      // small registry untouched), as the addon does (owners.cc, next_base).
      const old = Atomics.load(w, L.BASES_BASE + b)
      let base = old + 1
      const first = p << L.OFFSET_BITS
      // Slots past the page's bump pointer were never issued (their words are
      // untouched): only [first, first + used) can name a generation.
      const used = usedSlots(lease, p)
      if (used === 0) {
        base = old
      } else if (first + L.BLOCK_SIZE <= state.length) {
        for (let at = first, end = first + Math.min(used, L.BLOCK_SIZE); at < end; at++) {
          const next = (state[at] >>> 2) + 1
          if (next > base) base = next
        }
      }
      this.#claims.released(b, base)
      // RETIRED first: a reader that then sees word 0 cleared reports "closed", never "unclaimed".
      Atomics.or(w, L.BLOCKS_BASE + 2 * b + 1, L.B_RETIRED)
      Atomics.store(w, L.BLOCKS_BASE + 2 * b, 0)
      if (base <= L.GEN_MAX) { // else: retired for ever
        Atomics.store(w, L.BASES_BASE + b, base)
        this.#push(b)
      }
    }
    Atomics.store(w, L.OWNERS_BASE + lease.owner, 0)
    Atomics.sub(w, L.W_LIVE_OWNERS, 1)
    // Nothing reads the state of a released lease: kept, zeroed, for the next registry.
    if (state.length <= SPARE_MAX_CELLS) {
      spareStates.give(state.fill(0, 0, Math.min(state.length, blocks.length << L.OFFSET_BITS)))
    }
  }

  growState(_token: unknown, old: Int32Array, slots: number): Int32Array {
    if (old.length === 0) return spareStates.take(slots) ?? new Int32Array(slots)
    const grown = new Int32Array(slots)
    grown.set(old)
    return grown
  }

  publishValues(): void {} // no native code can resolve handles of this domain
  noteWeak(): void {}
  setRef(): void {} // no native code can hold registries of this domain

  native(what: string): never {
    throw new NativeUnavailableError(what, nativeBinding() !== null
      ? 'this registry is on a domain from HandleDomain.create() or attach() (a SharedArrayBuffer), ' +
        'and the native addon only serves its process-wide domain: use the default domain (omit the "domain" option)'
      : whyNoNative())
  }

  // The pool: a FIFO ring of MAX_BLOCKS cells under a spin lock. Every value
  // read from the buffer is checked: garbage there loses or retires blocks,
  // never yields a block number outside 1..MAX_BLOCKS-1.
  #lock(): boolean {
    for (let i = 0; i < POOL_LOCK_SPINS; i++) {
      if (Atomics.compareExchange(this.#words, L.W_POOL_LOCK, 0, 1) === 0) return true
    }
    return false
  }

  #pop(): number {
    const w = this.#words
    if (!this.#lock()) return 0
    let block = 0
    const head = Atomics.load(w, L.W_POOL_HEAD)
    if (((Atomics.load(w, L.W_POOL_TAIL) - head) | 0) > 0) {
      const b = Atomics.load(w, L.POOL_BASE + (head & (L.MAX_BLOCKS - 1)))
      Atomics.store(w, L.W_POOL_HEAD, (head + 1) | 0)
      const base = Atomics.load(w, L.BASES_BASE + (b & (L.MAX_BLOCKS - 1)))
      if (b >= 1 && b < L.MAX_BLOCKS && base >= 0 && base <= L.GEN_MAX) block = b
    }
    Atomics.store(w, L.W_POOL_LOCK, 0)
    return block
  }

  #push(block: number): void {
    const w = this.#words
    if (!this.#lock()) return // the block is lost, never handed out twice by us
    const tail = Atomics.load(w, L.W_POOL_TAIL)
    Atomics.store(w, L.POOL_BASE + (tail & (L.MAX_BLOCKS - 1)), block)
    Atomics.store(w, L.W_POOL_TAIL, (tail + 1) | 0)
    Atomics.store(w, L.W_POOL_LOCK, 0)
  }
}

/** The addon's process-wide domain: static native memory every thread shares. */
export class NativeBackend implements DomainBackend {
  readonly isNative = true
  readonly buffer: ArrayBuffer
  readonly #addon: NativeBinding

  readonly sync?: (first: number, count: number) => void

  constructor(addon: NativeBinding) {
    this.#addon = addon
    this.buffer = addon.domain_buffer()
    // Built without external ArrayBuffers: `buffer` is this thread's copy of
    // the domain. The addon writes there what this thread's calls change;
    // words other threads change are refreshed where they are read
    // (HandleDomain.blockMeta, stats).
    const sync = addon.domain_sync
    if (sync !== undefined) this.sync = (first, count) => sync(first, count)
  }

  claimOwner(): { owner: number; token: unknown } | undefined {
    const claim = this.#addon.claim_owner()
    return claim.owner === 0 ? undefined : claim
  }

  claimBlock(token: unknown, shard: number, page: number): number {
    return this.#addon.claim_block(token as OwnerToken, shard, page)
  }

  claimBlocks(token: unknown, shard: number, page: number, count: number, out: Float64Array): number {
    return this.#addon.claim_block(token as OwnerToken, shard, page, count, out)
  }

  releaseOwner(lease: OwnerLease): void {
    // The addon reads the blocks and their generations from its own memory;
    // the bump pointers spare it the scan of slots never issued.
    const used = new Uint16Array(lease.blocks.length)
    for (let p = 0; p < used.length; p++) used[p] = usedSlots(lease, p)
    this.#addon.release_owner(lease.token as OwnerToken, used)
  }

  growState(token: unknown, old: Int32Array, slots: number): Int32Array {
    // Native memory that producer threads read for is_live; the addon copies
    // the old words and frees the old region (it detaches the old view first).
    // At least double: untouched native pages cost neither RSS nor a page
    // fault, so slack is free here and every growth saved is a copy saved.
    const doubled = Math.min(Math.max(slots, 2 * old.length), L.PAGE_MASK * L.BLOCK_SIZE + L.BLOCK_SIZE)
    return new Int32Array(this.#addon.alloc_state(token as OwnerToken, doubled))
  }

  publishValues(token: unknown, table: unknown[][]): void {
    this.#addon.publish_values(token as OwnerToken, table)
  }

  noteWeak(token: unknown, h: number, target: object): void {
    this.#addon.note_weak(token as OwnerToken, h, target)
  }

  setRef(token: unknown, ref: boolean): void {
    this.#addon.set_ref(token as OwnerToken, ref)
  }

  native(): NativeBinding {
    return this.#addon
  }
}
