// The domain: counters shared by every thread (docs/design.md, "Domain").
// All cross-thread state is in one Int32 array advanced with Atomics.
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads'
import { DomainExhaustedError, InvalidOptionError } from './errors'
import { nativeBinding, type NativeBinding } from './native'
import {
  B_CLAIMED, B_OWNER_MASK, B_RETIRED, B_SHARD_MASK, B_SHARD_SHIFT, BLOCKS_BASE, DOMAIN_WORDS,
  LAYOUT_VERSION, MAGIC, MAX_BLOCKS, MAX_OWNERS, OFFSET_BITS, OWNERS_BASE, PAGE_BITS, SLOT_SPAN,
  W_LIVE_OWNERS, W_MAGIC, W_NEXT_BLOCK, W_OWNER_HINT, W_VERSION,
} from './layout'

let defaultDomain: HandleDomain | undefined
// Key under which a thread's pure-TypeScript default domain is handed to the
// Workers it creates afterwards (worker_threads environment data).
const ENV_KEY = 'handle-registry:default-domain'

/** Who minted a handle, as recorded in the domain's block table. */
export interface HandleOwner {
  owner: number
  shard: number
  closed: boolean
}

export class HandleDomain {
  /**
   * The domain's memory. For a domain made by `create()`, a SharedArrayBuffer to
   * send to workers (workerData) and `attach` there. For the native domain, an
   * ArrayBuffer over process-wide native memory that every thread already shares.
   */
  readonly buffer: SharedArrayBuffer | ArrayBuffer
  /** @internal the domain words; registries read the block table directly. */
  readonly words: Int32Array
  /** @internal the addon, when this is the process-wide native domain. */
  readonly native: NativeBinding | null

  private constructor(buffer: SharedArrayBuffer | ArrayBuffer, native: NativeBinding | null = null) {
    this.buffer = buffer
    this.words = new Int32Array(buffer)
    this.native = native
  }

  /** Whether this is the process-wide domain of the native addon. */
  get isNative(): boolean {
    return this.native !== null
  }

  /** A new, empty domain backed by a SharedArrayBuffer. */
  static create(): HandleDomain {
    const d = new HandleDomain(new SharedArrayBuffer(DOMAIN_WORDS * 4))
    Atomics.store(d.words, W_NEXT_BLOCK, 1) // block 0 is never issued: 0 is never a handle
    Atomics.store(d.words, W_VERSION, LAYOUT_VERSION)
    Atomics.store(d.words, W_MAGIC, MAGIC)
    return d
  }

  /** Joins a domain created on another thread; `buffer` is its `domain.buffer`. */
  static attach(buffer: SharedArrayBuffer | ArrayBuffer): HandleDomain {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== DOMAIN_WORDS * 4) {
      throw new InvalidOptionError('HandleDomain.attach expects the `buffer` of a HandleDomain (a SharedArrayBuffer)')
    }
    const words = new Int32Array(buffer)
    if (Atomics.load(words, W_MAGIC) !== MAGIC || Atomics.load(words, W_VERSION) !== LAYOUT_VERSION) {
      throw new InvalidOptionError('HandleDomain.attach: this buffer is not a handle-registry domain of layout version ' + LAYOUT_VERSION)
    }
    return new HandleDomain(buffer)
  }

  /**
   * The default domain of registries created without a `domain` option: the
   * process-wide native domain when the addon is loaded (every worker joins it
   * automatically). Without the addon, the domain of the thread that created
   * this Worker, if it had one by then (passed as worker_threads environment
   * data), else a new one that Workers created from now on inherit.
   */
  static get default(): HandleDomain {
    if (defaultDomain === undefined) {
      const native = nativeBinding()
      if (native) {
        defaultDomain = new HandleDomain(native.domain_buffer(), native)
      } else {
        const inherited = getEnvironmentData(ENV_KEY)
        defaultDomain = inherited instanceof SharedArrayBuffer ? HandleDomain.attach(inherited) : HandleDomain.create()
        setEnvironmentData(ENV_KEY, defaultDomain.buffer as SharedArrayBuffer)
      }
    }
    return defaultDomain
  }

  /** Owner index, shard and state of the registry that minted `h`, or undefined if no registry of this domain did. */
  describe(h: number): HandleOwner | undefined {
    if (!Number.isSafeInteger(h) || h < 1) return undefined
    const block = (h % SLOT_SPAN) >>> OFFSET_BITS
    const w = this.blockMeta(block)
    if ((w & B_CLAIMED) === 0) return undefined
    return { owner: w & B_OWNER_MASK, shard: (w >>> B_SHARD_SHIFT) & B_SHARD_MASK, closed: (w & B_RETIRED) !== 0 }
  }

  /** Owner index of the registry that minted `h`, or undefined. */
  ownerOf(h: number): number | undefined {
    return this.describe(h)?.owner
  }

  stats(): { liveOwners: number; blocksClaimed: number } {
    return {
      liveOwners: Atomics.load(this.words, W_LIVE_OWNERS),
      blocksClaimed: Math.min(Atomics.load(this.words, W_NEXT_BLOCK), MAX_BLOCKS) - 1,
    }
  }

  /** @internal block word 1: CLAIMED | RETIRED | shard << 12 | owner. */
  blockMeta(block: number): number {
    return block > 0 && block < MAX_BLOCKS ? Atomics.load(this.words, BLOCKS_BASE + 2 * block + 1) : 0
  }

  /** @internal takes a free owner index (1..4095). */
  claimOwner(): number {
    if (this.native) {
      const owner = this.native.claim_owner()
      if (owner === 0) throw new DomainExhaustedError(`${MAX_OWNERS} registries are open in this process; close one first`)
      return owner
    }
    const w = this.words
    const start = Atomics.load(w, W_OWNER_HINT)
    for (let i = 0; i < MAX_OWNERS; i++) {
      const owner = ((start + i) % MAX_OWNERS) + 1
      if (Atomics.compareExchange(w, OWNERS_BASE + owner, 0, 1) === 0) {
        Atomics.store(w, W_OWNER_HINT, owner % MAX_OWNERS)
        Atomics.add(w, W_LIVE_OWNERS, 1)
        return owner
      }
    }
    throw new DomainExhaustedError(`${MAX_OWNERS} registries are open in this domain; close one first`)
  }

  /** @internal claims a fresh block for (owner, shard) whose page has index `page` in its registry. */
  claimBlock(owner: number, shard: number, page: number): number {
    if (this.native) {
      const block = this.native.claim_block(owner, shard, page)
      if (block === 0) throw new DomainExhaustedError(`all ${MAX_BLOCKS - 1} blocks of this domain have been issued`)
      return block
    }
    const w = this.words
    const block = Atomics.add(w, W_NEXT_BLOCK, 1)
    if (block >= MAX_BLOCKS) {
      Atomics.store(w, W_NEXT_BLOCK, MAX_BLOCKS)
      throw new DomainExhaustedError(`all ${MAX_BLOCKS - 1} blocks of this domain have been issued`)
    }
    const base = BLOCKS_BASE + 2 * block
    Atomics.store(w, base + 1, B_CLAIMED | (shard << B_SHARD_SHIFT) | owner)
    Atomics.store(w, base, (owner << PAGE_BITS) | page)
    return block
  }

  /** @internal marks the blocks of a closing registry retired and frees its owner index. */
  releaseOwner(owner: number, blocks: number[]): void {
    if (this.native) {
      this.native.release_owner(owner, Int32Array.from(blocks))
      return
    }
    const w = this.words
    for (const b of blocks) {
      // RETIRED first: a reader that then sees word 0 cleared reports "closed", never "unclaimed".
      Atomics.or(w, BLOCKS_BASE + 2 * b + 1, B_RETIRED)
      Atomics.store(w, BLOCKS_BASE + 2 * b, 0)
    }
    Atomics.store(w, OWNERS_BASE + owner, 0)
    Atomics.sub(w, W_LIVE_OWNERS, 1)
  }
}
