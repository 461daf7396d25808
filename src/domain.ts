// The domain: counters shared by every thread (docs/design.md, "Domain").
// All cross-thread state is in one Int32 array; where that array lives (a
// SharedArrayBuffer or the addon's native memory) is the backend's business
// (backends.ts).
import { getEnvironmentData, setEnvironmentData } from 'node:worker_threads'
import { NativeBackend, SharedBackend, type DomainBackend, type OwnerLease } from './backends'
import { DomainExhaustedError, IllegalConstructorError, InvalidOptionError, describeValue } from './errors'
import { L } from './layout'
import { nativeBinding } from './native'
import { EMPTY_STATE } from './spares'

let defaultDomain: HandleDomain | undefined
// Key under which a thread's pure-TypeScript default domain is handed to the
// Workers it creates afterwards (worker_threads environment data).
const ENV_KEY = 'handle-registry:default-domain'
// Only this module's factories may construct a domain (`new HandleDomain()` throws).
const FACTORY = Symbol('HandleDomain factory')
// The backend of a domain, for registry.ts and events.ts only: not a property
// user code can reach (it holds the addon's functions).
let backendOf: (domain: HandleDomain) => DomainBackend

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
  /** @internal the domain words; registries read the block table as a hint they verify. */
  readonly words: Int32Array
  // Where the words live and how they are mutated.
  readonly #backend: DomainBackend

  static {
    backendOf = (domain) => domain.#backend
  }

  /** @internal use HandleDomain.default, HandleDomain.create() or HandleDomain.attach(buffer). */
  private constructor(token?: unknown, backend?: DomainBackend) {
    if (token !== FACTORY || backend === undefined) {
      throw new IllegalConstructorError('HandleDomain', 'HandleDomain.default, HandleDomain.create() or HandleDomain.attach(buffer)')
    }
    this.#backend = backend
    this.buffer = backend.buffer
    this.words = new Int32Array(backend.buffer)
  }

  /** Whether this is the process-wide domain of the native addon. */
  get isNative(): boolean {
    return this.#backend.isNative
  }

  /** A new, empty domain backed by a SharedArrayBuffer. */
  static create(): HandleDomain {
    const d = new HandleDomain(FACTORY, new SharedBackend(new SharedArrayBuffer(L.SHARED_DOMAIN_WORDS * 4)))
    Atomics.store(d.words, L.W_NEXT_BLOCK, 1) // block 0 is never issued: 0 is never a handle
    Atomics.store(d.words, L.W_VERSION, L.LAYOUT_VERSION)
    Atomics.store(d.words, L.W_MAGIC, L.MAGIC)
    return d
  }

  /** Joins a domain created on another thread; `buffer` is its `domain.buffer`. */
  static attach(buffer: SharedArrayBuffer | ArrayBuffer): HandleDomain {
    if (!(buffer instanceof SharedArrayBuffer) || buffer.byteLength !== L.SHARED_DOMAIN_WORDS * 4) {
      throw new InvalidOptionError('HandleDomain.attach expects the `buffer` of a HandleDomain (a SharedArrayBuffer of ' +
        `${L.SHARED_DOMAIN_WORDS * 4} bytes), got ${buffer instanceof SharedArrayBuffer || buffer instanceof ArrayBuffer
          ? `a${buffer instanceof ArrayBuffer ? 'n ArrayBuffer' : ' SharedArrayBuffer'} of ${buffer.byteLength} bytes`
          : describeValue(buffer)}`)
    }
    const words = new Int32Array(buffer)
    if (Atomics.load(words, L.W_MAGIC) !== L.MAGIC || Atomics.load(words, L.W_VERSION) !== L.LAYOUT_VERSION) {
      throw new InvalidOptionError('HandleDomain.attach: this buffer is not a handle-registry domain of layout version ' + L.LAYOUT_VERSION)
    }
    return new HandleDomain(FACTORY, new SharedBackend(buffer))
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
      const addon = nativeBinding()
      if (addon) {
        defaultDomain = new HandleDomain(FACTORY, new NativeBackend(addon))
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
    const block = (h % L.SLOT_SPAN) >>> L.OFFSET_BITS
    const w = this.blockMeta(block)
    if ((w & L.B_CLAIMED) === 0) return undefined
    return { owner: w & L.B_OWNER_MASK, shard: (w >>> L.B_SHARD_SHIFT) & L.B_SHARD_MASK, closed: (w & L.B_RETIRED) !== 0 }
  }

  /** Owner index of the registry that minted `h`, or undefined. */
  ownerOf(h: number): number | undefined {
    return this.describe(h)?.owner
  }

  stats(): { liveOwners: number; blocksClaimed: number } {
    this.#backend.sync?.(0, L.HEADER_WORDS)
    return {
      liveOwners: Atomics.load(this.words, L.W_LIVE_OWNERS),
      blocksClaimed: Math.min(Atomics.load(this.words, L.W_NEXT_BLOCK), L.MAX_BLOCKS) - 1,
    }
  }

  /** @internal block word 1: CLAIMED | RETIRED | shard << 12 | owner. */
  blockMeta(block: number): number {
    if (!(block > 0 && block < L.MAX_BLOCKS)) return 0
    this.#backend.sync?.(L.BLOCKS_BASE + 2 * block, 2)
    return Atomics.load(this.words, L.BLOCKS_BASE + 2 * block + 1)
  }

  /** @internal takes a free owner index (1..4095): its lease (see backends.ts), over the registry's page tables. */
  claimOwner(tables: Pick<OwnerLease, 'blocks' | 'pageShard' | 'shardPage' | 'shardNext'>): OwnerLease {
    const claim = this.#backend.claimOwner()
    if (claim === undefined) throw new DomainExhaustedError(`${L.MAX_OWNERS} registries are open in this domain; close one first`)
    const { blocks, pageShard, shardPage, shardNext } = tables
    return {
      backend: this.#backend, owner: claim.owner, token: claim.token, state: EMPTY_STATE,
      blocks, pageShard, shardPage, shardNext, released: false,
    }
  }

  /** @internal claims a block for the lease's owner as page `page` (shard `shard`): block + base * MAX_BLOCKS. */
  claimBlock(lease: OwnerLease, shard: number, page: number): number {
    const claimed = this.#backend.claimBlock(lease.token, shard, page)
    if (claimed === 0) throw new DomainExhaustedError(`all ${L.MAX_BLOCKS - 1} blocks of this domain are in use or retired`)
    return claimed
  }

  /** @internal claims up to `count` blocks (shards shard.., pages page..) into `out`: how many, at least 1. */
  claimBlocks(lease: OwnerLease, shard: number, page: number, count: number, out: Float64Array): number {
    const n = this.#backend.claimBlocks(lease.token, shard, page, count, out)
    if (n === 0) throw new DomainExhaustedError(`all ${L.MAX_BLOCKS - 1} blocks of this domain are in use or retired`)
    return n
  }
}

/** @internal releases a registry's claim (close, or its FinalizationRegistry after it was dropped). Idempotent. */
export function releaseLease(lease: OwnerLease): void {
  if (lease.released) return
  lease.released = true
  lease.backend.releaseOwner(lease)
}

export { backendOf }
