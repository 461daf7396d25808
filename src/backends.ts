// The two places a domain's memory can live, behind one interface: a
// SharedArrayBuffer advanced with Atomics (pure TypeScript), or the addon's
// process-wide native memory mutated by native calls. HandleDomain and
// HandleRegistry call the interface and never ask which one they have.
import { NativeUnavailableError } from './errors'
import { L } from './layout'
import { nativeBinding, whyNoNative, type NativeBinding } from './native'

export interface DomainBackend {
  /** The domain words' memory. */
  readonly buffer: SharedArrayBuffer | ArrayBuffer
  readonly isNative: boolean
  /** A free owner index (1..4095), or 0 when all are taken. */
  claimOwner(): number
  /** A fresh block for (owner, shard) whose page has index `page` in its registry, or 0 when none is left. */
  claimBlock(owner: number, shard: number, page: number): number
  /** Marks the blocks of a closing registry retired and frees its owner index. */
  releaseOwner(owner: number, blocks: readonly number[]): void
  /** A state array of `slots` words holding `old`'s words; `old` must not be used afterwards. */
  growState(owner: number, old: Int32Array, slots: number): Int32Array
  /** The addon, for what needs the native domain (`what` names it); throws ERR_NATIVE_UNAVAILABLE with the reason. */
  native(what: string): NativeBinding
}

/** Pure TypeScript: the domain words are a SharedArrayBuffer that Workers attach to. */
export class SharedBackend implements DomainBackend {
  readonly isNative = false
  private readonly words: Int32Array

  constructor(readonly buffer: SharedArrayBuffer) {
    this.words = new Int32Array(buffer)
  }

  claimOwner(): number {
    const w = this.words
    const start = Atomics.load(w, L.W_OWNER_HINT)
    for (let i = 0; i < L.MAX_OWNERS; i++) {
      const owner = ((start + i) % L.MAX_OWNERS) + 1
      // OWNERS[owner]: 0 = free, 1 = taken.
      if (Atomics.compareExchange(w, L.OWNERS_BASE + owner, 0, 1) === 0) {
        Atomics.store(w, L.W_OWNER_HINT, owner % L.MAX_OWNERS)
        Atomics.add(w, L.W_LIVE_OWNERS, 1)
        return owner
      }
    }
    return 0
  }

  claimBlock(owner: number, shard: number, page: number): number {
    const w = this.words
    const block = Atomics.add(w, L.W_NEXT_BLOCK, 1)
    if (block >= L.MAX_BLOCKS) {
      Atomics.store(w, L.W_NEXT_BLOCK, L.MAX_BLOCKS)
      return 0
    }
    const base = L.BLOCKS_BASE + 2 * block
    // Word 1 before word 0: a reader that sees our page also sees the block's description.
    Atomics.store(w, base + 1, L.B_CLAIMED | (shard << L.B_SHARD_SHIFT) | owner)
    Atomics.store(w, base, (owner << L.PAGE_BITS) | page)
    return block
  }

  releaseOwner(owner: number, blocks: readonly number[]): void {
    const w = this.words
    for (const b of blocks) {
      // RETIRED first: a reader that then sees word 0 cleared reports "closed", never "unclaimed".
      Atomics.or(w, L.BLOCKS_BASE + 2 * b + 1, L.B_RETIRED)
      Atomics.store(w, L.BLOCKS_BASE + 2 * b, 0)
    }
    Atomics.store(w, L.OWNERS_BASE + owner, 0)
    Atomics.sub(w, L.W_LIVE_OWNERS, 1)
  }

  growState(_owner: number, old: Int32Array, slots: number): Int32Array {
    const grown = new Int32Array(slots)
    grown.set(old)
    return grown
  }

  native(what: string): never {
    throw new NativeUnavailableError(what, nativeBinding() !== null
      ? 'this registry is on a domain from HandleDomain.create() or attach() (a SharedArrayBuffer), ' +
        'and the native addon only serves its process-wide domain: use the default domain (omit the "domain" option)'
      : whyNoNative())
  }
}

/** The addon's process-wide domain: static native memory every thread shares. */
export class NativeBackend implements DomainBackend {
  readonly isNative = true
  readonly buffer: ArrayBuffer

  constructor(private readonly addon: NativeBinding) {
    this.buffer = addon.domain_buffer()
  }

  claimOwner(): number {
    return this.addon.claim_owner()
  }

  claimBlock(owner: number, shard: number, page: number): number {
    return this.addon.claim_block(owner, shard, page)
  }

  releaseOwner(owner: number, blocks: readonly number[]): void {
    this.addon.release_owner(owner, Int32Array.from(blocks))
  }

  growState(owner: number, old: Int32Array, slots: number): Int32Array {
    // Native memory that producer threads read for is_live; the addon copies
    // the old words and frees the old region (it detaches the old view first).
    // At least double: untouched native pages cost neither RSS nor a page
    // fault, so slack is free here and every growth saved is a copy saved.
    const doubled = Math.min(Math.max(slots, 2 * old.length), L.PAGE_MASK * L.BLOCK_SIZE + L.BLOCK_SIZE)
    return new Int32Array(this.addon.alloc_state(owner, doubled))
  }

  native(): NativeBinding {
    return this.addon
  }
}
