// HandleRegistry: integer handles for JS values, sharded, generation-checked.
// Layout and invariants: docs/design.md. Events live in events.ts, calls in
// calls.ts, the domain's memory in backends.ts, arrays kept across lifetimes
// in spares.ts. This file is about 950 lines on purpose: the hot path (find,
// insert, free, the block route), the growth path (newPage, firstPages, reserve, growValues), the weak path
// (findWeak, the finalizer) and the slow paths that classify a failed lookup
// read the same private slot storage, and keeping them in one class lets V8
// inline them (splitting them into modules measured slower); the storage is in
// ES private fields, which only code in this class body reaches.
import { inspect } from 'node:util'
import type { OwnerLease } from './backends'
import { HandleDomain, backendOf, releaseLease } from './domain'
import {
  CollectedHandleError, DomainExhaustedError, ForeignHandleError, InvalidHandleError, InvalidOptionError,
  RegistryClosedError, StaleHandleError, describeValue,
} from './errors'
import type { CallHandler, CallOptions, CallStats } from './calls'
import { EventChannel, NOT_LIVE, type EventHandler, type EventOptions, type EventStats } from './events'
import { L, malformed } from './layout'
import type { NativeApi, OwnerToken } from './native'
import { checkOptions, integerOption } from './options'
import { asyncContextOption, installHandleContexts, type HandleContexts } from './async-context'
import { EMPTY_STATE, SPARE_MAX_CELLS, spareValues } from './spares'

export type { EventErrorHandler, EventHandler, EventOptions, EventStats, WhenFull } from './events'
export type { CallHandler, CallOptions, CallReply, CallStats } from './calls'

declare const brand: unique symbol
/** An integer that stands for a registered value of type T. */
export type Handle<T = unknown> = number & { readonly [brand]: T }

export interface RegistryOptions {
  /** Number of shards, a power of two in 1..256. Default 16. */
  shards?: number
  /** Domain to mint handles in. Default `HandleDomain.default`. */
  domain?: HandleDomain
  /** Retire a slot after this many issues (1..2^25). Default 2^25; lower it only to test retirement. */
  retireAfter?: number
  /**
   * Capture the async context (AsyncLocalStorage stores) at register() and run
   * the handlers of each handle's native events inside it. Default false (it
   * costs an AsyncResource per live handle and a context switch per event).
   */
  asyncContext?: boolean
}

export interface RegistryStats {
  live: number
  /** Live handles per shard. */
  shards: number[]
  registrations: number
  releases: number
  staleLookups: number
  foreignLookups: number
  invalidLookups: number
  /** Weak values found garbage-collected. */
  collected: number
  /** Native event counters; undefined until `onEvent` was called. After offEvent() or close(): the final ones. */
  events?: EventStats
  /** Call counters (api->call); undefined until `onCall` was called or a call arrived. */
  calls?: CallStats
  /** Slots retired because their generation ran out. */
  retired: number
}

/** Returned by `registry.scope(value)`: releases the handle when disposed (`using`). */
export interface ScopedHandle<V> {
  readonly handle: Handle<V>
  readonly value: V
  [Symbol.dispose](): void
}

// Outcomes of locate() below 0.
const E_INVALID = -1
const E_STALE = -2
const E_FOREIGN = -3
const E_COLLECTED = -4
const E_CLOSED = -5

const DEFAULT_SHARDS = 16
// The private block -> page route (routeBlock): the widest range of blocks it
// spans, ROUTE_MIN_SPAN or ROUTE_SPAN_PER_PAGE per page if more (with the
// growth headroom, under 0.2 bytes a slot; 24 KiB at most for a small registry).
const ROUTE_MIN_SPAN = 4096
const ROUTE_SPAN_PER_PAGE = 8
const EMPTY_ROUTE = new Int32Array(0)
// The chunk table of a registry before its first page and after close (never written).
const NO_VALUES: unknown[][] = []
// Shards whose first page the first registration claims at once (firstPages).
const FIRST_PAGES = 16
const claimScratch = new Float64Array(FIRST_PAGES)
const OPTION_NAMES = ['shards', 'domain', 'retireAfter', 'asyncContext'] as const

// Releases the owner index and blocks of registries dropped without close().
// Its held value is a number keying `leases` (each registry's lease until it
// closes), never the registry nor the lease: V8 allocates FinalizationRegistry
// cells in old space, so a lease held there was promoted by every scavenge
// with everything it points to (state view, page tables), about 3.4 MB a
// scavenge over a loop of short lifetimes. The lease is the unregister token
// (held weakly).
const leases = new Map<number, OwnerLease>()
let leaseSeq = 0
const reclaim = new FinalizationRegistry<number>((id) => {
  const lease = leases.get(id)
  leases.delete(id)
  if (lease !== undefined) releaseLease(lease)
})

export class HandleRegistry<T = unknown> implements Iterable<[Handle<T>, T]> {
  // Every field is an ES private field: no key of a registry reaches its
  // storage, so JS can neither read nor scribble on it (docs/design.md,
  // "Threat model"). The domain's block table (#words) is shared memory other
  // threads may write: findUnrouted() uses it only as a hint verified against #pageBlock.
  readonly #domain: HandleDomain
  readonly #shards: number
  readonly #owner: number
  readonly #lease: OwnerLease // owner claim, for close() and the reclaim FinalizationRegistry
  readonly #leaseId: number // its key in `leases`
  readonly #words: Int32Array
  readonly #shardMask: number
  readonly #shardShift: number // 32 - log2(shards): the hash's top bits pick the shard
  readonly #retireAfter: number
  // Storage indexed by local slot `at` (page << 8 | offset): values in chunks
  // of 2^16 cells (#vals[at >>> 16][at & 0xffff]: growth adds a chunk and
  // copies nothing; only chunk 0 grows by copying, up to a full chunk), flat
  // state words (gen << 2 | weak << 1 | live), and per page its block and
  // shard. #valCap: the cells the chunks hold.
  #vals: unknown[][] = NO_VALUES
  #valCap = 0
  #state: Int32Array = EMPTY_STATE
  #pageBlock: number[] = []
  // The reverse, block -> (page + 1) << 8 (0: not ours; the local index of
  // the page's slot 0, plus 256), for blocks #routeBase ..
  // #routeBase + #route.length - 1: what findAs() reads. See routeBlock().
  #route: Int32Array = EMPTY_ROUTE
  #routeBase = 0
  #pageShard: number[] = []
  // Per page: its block's base (the first generation it issues: earlier owners
  // of the block issued only lower ones), the generation at which its slots
  // retire (base + retireAfter, at most GEN_MAX + 1); and block -> page,
  // built on first use (only the slow path that classifies a failed lookup
  // reads it: most registries never need it).
  #pageBase: number[] = []
  #pageLimit: number[] = []
  // The lowest of #pageLimit: free() reads the page's limit only from there on.
  #retireFloor: number = L.GEN_MAX + 1
  #blockPage: Map<number, number> | undefined
  // Released slots, LIFO through the value cells (page << 8 | offset, -1 = empty).
  #freeHead = -1
  // Per shard: the page new slots come from, and the next never-used offset in it.
  readonly #shardPage: Int32Array
  readonly #shardNext: Int32Array
  #counter = 0
  // Two counters only on the hot path: live = issued - freed.
  #issued = 0
  #freed = 0
  #isClosed = false
  #isRef = true // ref() / unref(): Node's convention, ref'd by default
  #finalizer: FinalizationRegistry<number> | undefined
  // Weak registrations are never unregistered from the finalizer (an
  // unregister token makes register ~4x dearer): released weak handles leave a
  // cell behind, whose callback finds its handle stale. #weakStale counts those
  // cells; past a bound, a new finalizer takes the live ones (rebuildFinalizer).
  #weakLive = 0
  #weakStale = 0
  #finalizerEpoch = 0
  #events: EventChannel<T> | undefined // created by the first onEvent()
  #contexts: HandleContexts | undefined // asyncContext: true (async-context.ts)
  readonly #counts = {
    staleLookups: 0, foreignLookups: 0, invalidLookups: 0, collected: 0, retired: 0,
  }

  constructor(options: RegistryOptions = {}) {
    checkOptions(options, OPTION_NAMES, 'new HandleRegistry(options)')
    const shards = integerOption(options.shards, DEFAULT_SHARDS, 'shards', `a power of two from 1 to ${L.MAX_SHARDS}`,
      (n) => n >= 1 && n <= L.MAX_SHARDS && (n & (n - 1)) === 0)
    const retireAfter = integerOption(options.retireAfter, L.GEN_MAX + 1, 'retireAfter', `an integer from 1 to ${L.GEN_MAX + 1}`,
      (n) => n >= 1 && n <= L.GEN_MAX + 1)
    const domain = options.domain ?? HandleDomain.default
    if (!(domain instanceof HandleDomain)) {
      throw new InvalidOptionError(`Expected the "domain" option to be a HandleDomain, got ${describeValue(domain)}`)
    }
    this.#domain = domain
    this.#words = domain.words
    this.#shards = shards
    this.#shardMask = shards - 1
    this.#shardShift = 32 - Math.log2(shards)
    this.#retireAfter = retireAfter
    this.#shardPage = new Int32Array(shards).fill(-1)
    this.#shardNext = new Int32Array(shards).fill(L.BLOCK_SIZE)
    // Opt-in: own register/registerWeak/release wrappers; the prototype's stay branch-free.
    if (asyncContextOption(options.asyncContext)) this.#contexts = installHandleContexts(this)
    this.#lease = domain.claimOwner({
      blocks: this.#pageBlock, pageShard: this.#pageShard, shardPage: this.#shardPage, shardNext: this.#shardNext,
    })
    this.#owner = this.#lease.owner
    this.#leaseId = ++leaseSeq
    leases.set(this.#leaseId, this.#lease)
    reclaim.register(this, this.#leaseId, this.#lease)
  }

  get domain(): HandleDomain {
    return this.#domain
  }

  get shards(): number {
    return this.#shards
  }

  /** This registry's owner index in its domain (1..4095). */
  get ownerId(): number {
    return this.#owner
  }

  /** Live handles. */
  get size(): number {
    return this.#issued - this.#freed
  }

  get closed(): boolean {
    return this.#isClosed
  }

  /** Registers any value and returns a new handle for it. Equal values get distinct handles. */
  register<V extends T>(value: V): Handle<V> {
    return this.insert(value, L.S_LIVE) as Handle<V>
  }

  /** Registers an object without keeping it alive; once it is collected, `get` throws ERR_HANDLE_COLLECTED. */
  registerWeak<V extends T & object>(value: V): Handle<V> {
    if ((typeof value !== 'object' || value === null) && typeof value !== 'function') {
      throw new InvalidOptionError(`registerWeak expects an object or function, got ${describeValue(value)}`)
    }
    if (this.#isClosed) throw new RegistryClosedError('register')
    const h = this.insert(new WeakRef(value), L.S_LIVE | L.S_WEAK)
    backendOf(this.#domain).noteWeak(this.#lease.token, h, value) // api->resolve reads the target without a JS call
    ;(this.#finalizer ?? this.newFinalizer()).register(value, h)
    this.#weakLive++
    return h as Handle<V>
  }

  /** The value of a live handle; throws for anything else. */
  get<V extends T>(h: Handle<V>): V {
    const at = typeof h === 'number' ? this.findAs(h, L.S_LIVE) : -1
    if (at >= 0) return this.#vals[at >>> L.VALUE_CHUNK_BITS][((at << (32 - L.VALUE_CHUNK_BITS)) >>> (32 - L.VALUE_CHUNK_BITS))] as V
    return this.getSlow(h) as V
  }

  /** The value of a live handle, or undefined for anything else. Never throws. */
  tryGet<V extends T>(h: Handle<V>): V | undefined
  tryGet(h: unknown): T | undefined
  tryGet(h: unknown): unknown {
    let at = typeof h === 'number' ? this.findAs(h, L.S_LIVE) : -1
    if (at >= 0) return this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK]
    at = this.locate(h) // weak entries, and everything that is not live
    if (at < 0) {
      this.count(at)
      return undefined
    }
    return this.valueAt(at)
  }

  /** Whether `h` is a live handle of this registry (a type guard). Never throws. */
  has(h: unknown): h is Handle<T> {
    if (typeof h === 'number' && this.findAs(h, L.S_LIVE) >= 0) return true
    const at = this.locate(h)
    if (at < 0) this.count(at)
    return at >= 0
  }

  /** Releases a live handle and returns its value; the handle is stale from now on. */
  release<V extends T>(h: Handle<V>): V {
    const at = typeof h === 'number' ? this.findAs(h, L.S_LIVE) : -1
    if (at < 0) return this.releaseSlow(h) as V
    return this.free(at, 0) as V
  }

  /** Registers `value` for the current block: `using entry = registry.scope(value)`. */
  scope<V extends T>(value: V): ScopedHandle<V> {
    const handle = this.register(value)
    let done = false
    return {
      handle,
      value,
      [Symbol.dispose]: () => {
        if (done) return
        done = true
        // Already released by hand, or the registry closed: nothing to do.
        if (this.locate(handle) >= 0) this.release(handle)
      },
    }
  }

  /**
   * Installs the handler of native events posted to this registry's handles
   * (from any thread, see docs/native.md). Events arrive in batches on this
   * thread; each handle is resolved first, and events for released handles are
   * dropped and counted. Calling it again replaces the handler.
   */
  onEvent(handler: EventHandler<T>, options?: EventOptions): this {
    if (this.#isClosed) throw new RegistryClosedError('install an event handler')
    ;this.#channel().open(handler, options)
    return this
  }

  /**
   * Installs the handler of native calls (api->call, docs/native.md): a
   * native thread waits while `handler` runs here, and its return value (a
   * number or a Uint8Array, or a Promise of one) is the reply. Calls travel
   * with the events, in the same queue and batches; onCall opens that path
   * if onEvent has not (`options.capacity` and `batch` then size it). Calling
   * it again replaces the handler.
   */
  onCall(handler: CallHandler<T>, options?: CallOptions): this {
    if (this.#isClosed) throw new RegistryClosedError('install a call handler')
    this.#channel().openCalls(handler, options)
    return this
  }

  /**
   * Removes the call handler: calls waiting for a reply, and those that
   * arrive later, are answered REGISTRY_CLOSED at once. Events keep flowing
   * if onEvent is on.
   */
  offCall(): void {
    this.#events?.offCalls()
  }

  #channel(): EventChannel<T> {
    return this.#events ??= new EventChannel<T>(this, backendOf(this.#domain), this.#lease.token as OwnerToken)
  }

  /**
   * The addon's C ABI table (`hr_api_v1`, native/include/handle_registry_abi.h)
   * for other addons, as an opaque type-tagged external: pass it (or the
   * registry) to your addon, whose `hr::attach` checks the tag and the version
   * and then posts events and checks liveness from any thread. The table is
   * static and valid for the life of the process.
   */
  get nativeApi(): NativeApi {
    const addon = backendOf(this.#domain).native('registry.nativeApi')
    if (this.#isClosed) throw new RegistryClosedError('hand out the native API')
    return addon.native_api()
  }

  /**
   * Lets native holds (api->hold, docs/native.md) keep this thread's event loop
   * alive: the default. A registry never keeps the loop alive by itself, only
   * while native code holds it. Returns this.
   */
  ref(): this {
    if (!this.#isRef && !this.#isClosed) backendOf(this.#domain).setRef(this.#lease.token, true)
    this.#isRef = true
    return this
  }

  /** The process (or worker) may exit even while native code holds this registry. Returns this. */
  unref(): this {
    if (this.#isRef && !this.#isClosed) backendOf(this.#domain).setRef(this.#lease.token, false)
    this.#isRef = false
    return this
  }

  /** Whether native holds keep the event loop alive (ref(), the default) or not (unref()). */
  hasRef(): boolean {
    return this.#isRef
  }

  /**
   * Stops native event delivery; queued events are dropped and counted. Inside
   * a handler, the rest of the current batch is not delivered either.
   */
  offEvent(): void {
    this.#events?.off()
  }

  /** Counters, and the live count of each shard (a scan of the slots: O(capacity), not for hot loops). */
  stats(): RegistryStats {
    const stats: RegistryStats = {
      live: this.size,
      shards: this.liveByShard(),
      registrations: this.#issued,
      releases: this.#freed - this.#counts.collected,
      ...this.#counts,
    }
    const events = this.#events?.stats()
    if (events !== undefined) stats.events = events
    const calls = this.#events?.callStats()
    if (calls !== undefined) stats.calls = calls
    return stats
  }

  /** Releases every handle and leaves the domain. Idempotent. */
  close(): void {
    if (this.#isClosed) return
    this.#isClosed = true
    this.#events?.close() // before the owner index is released: it reads the final event counters
    reclaim.unregister(this.#lease)
    leases.delete(this.#leaseId)
    releaseLease(this.#lease) // its blocks go back to the pool, with generations above ours
    this.recycleValues()
    this.#vals = NO_VALUES
    this.#valCap = 0
    this.#state = EMPTY_STATE
    this.#lease.state = EMPTY_STATE
    // Emptied in place (nothing reads a released lease's tables): no allocation.
    this.#pageBlock.length = 0
    this.#pageShard.length = 0
    this.#pageBase.length = 0
    this.#pageLimit.length = 0
    this.#retireFloor = L.GEN_MAX + 1
    this.#blockPage = undefined
    this.#route = EMPTY_ROUTE
    this.#routeBase = 0
    this.#freed = this.#issued // close releases every live handle
    this.#contexts?.clear()
    this.#freeHead = -1
    this.#shardNext.fill(L.BLOCK_SIZE) // the next register() reaches bump(), which throws
    this.#finalizer = undefined
    this.#weakLive = this.#weakStale = 0
  }

  [Symbol.dispose](): void {
    this.close()
  }

  /** Live entries as [handle, value]; weak entries whose value is gone are skipped. */
  *entries(): IterableIterator<[Handle<T>, T]> {
    // Re-read the fields each step: a registration during iteration may grow them.
    for (let at = 0; at < this.#pageShard.length << L.OFFSET_BITS; at++) {
      const st = this.#state[at]
      if ((st & L.S_LIVE) === 0) continue
      let v = this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK]
      if ((st & L.S_WEAK) !== 0 && (v = (v as WeakRef<object>).deref()) === undefined) continue
      yield [this.handleAt(at, st) as Handle<T>, v as T]
    }
  }

  *handles(): IterableIterator<Handle<T>> {
    for (const [h] of this.entries()) yield h
  }

  *values(): IterableIterator<T> {
    for (const [, v] of this.entries()) yield v
  }

  [Symbol.iterator](): IterableIterator<[Handle<T>, T]> {
    return this.entries()
  }

  [inspect.custom](): string {
    return `HandleRegistry { size: ${this.size}, shards: ${this.#shards}, owner: ${this.#owner}, ` +
      `registrations: ${this.#issued}, closed: ${this.#isClosed} }`
  }

  // --- internals -----------------------------------------------------------

  /** @internal for the event channel (and calls): the async contexts of the handles, with asyncContext: true. */
  get handleContexts(): HandleContexts | undefined {
    return this.#contexts
  }

  /** @internal for the event channel: the value of live handle `h`, weak ones included, or NOT_LIVE. */
  eventValue(h: number): unknown {
    let at = this.findAs(h, L.S_LIVE)
    if (at >= 0) return this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] // live, strong
    at = this.locate(h) // weak entries take the slow path
    return at >= 0 ? this.valueAt(at) : NOT_LIVE
  }

  /**
   * Fast path: local index (page << 8 | offset) of `h` if its slot's state
   * word is `gen << 2 | bits` (bits: S_LIVE for a live strong entry, S_LIVE |
   * S_WEAK for a weak one), else -1 (locate() then says why). Kept small on
   * purpose: get and release inline it into the caller's loop, and V8 inlines
   * at most 920 bytes of bytecode into one function, counting register's own
   * optimised code (with bump) whole; past that, register or release's lookup
   * stays a call, and a heap-number handle passed to a call is boxed first
   * (docs/benchmark-log.md, "Where the registry's time goes").
   *
   * One decode for every number, without a branch on its kind (a heap
   * number passed to a call is boxed, so the decode of the heap-number
   * handles of generations 8 and up cannot live out of line): `lo`, the slot
   * bits, by bit ops (ToInt32 is h mod 2^32 for every finite integer h,
   * exactly), then the handle this slot would issue, rebuilt from its state
   * word, compared with h. Exact for any number h (test/find-decode.test.ts
   * tries each case): R = (state - bits) * 2^26 + lo is an integer (all its
   * terms are; above 2^53 rounding keeps it one) and R === h needs R mod
   * 2^28 = lo, so state - bits = 4 gen: a state word gen << 2 | bits with
   * 0 <= gen <= GEN_MAX, R = gen * 2^28 + lo < 2^53 computed exactly, the
   * handle of exactly that slot and generation. So fractions, NaN,
   * +-Infinity, negatives (R >= -3 * 2^26 > h for a negative h with low bits
   * lo), 2^53 and up (R <= GEN_MAX * 2^28 + 2^27 + lo), and generations
   * above GEN_MAX never match; 0 and -0 decode to block 0, never claimed.
   */
  private findAs(h: number, bits: number): number {
    const lo = (h << (32 - L.SLOT_BITS)) >>> (32 - L.SLOT_BITS)
    // Block -> page through #route, private memory only this registry writes
    // (docs/design.md, "Threat model"). A block outside the route reads
    // undefined (| 0: 0), so `at` is negative for it and for a 0 word:
    // findUnrouted.
    const at = ((this.#route[(lo >>> L.OFFSET_BITS) - this.#routeBase] | 0) - L.BLOCK_SIZE) | (lo & L.OFFSET_MASK)
    if (at < 0) return this.findUnrouted(h, bits)
    return (this.#state[at] - bits) * (L.SLOT_SPAN / 4) + lo === h ? at : -1
  }

  /**
   * findAs() for a block #route does not cover (a registry whose blocks lie
   * too far apart, see routeBlock): one read of the domain's block table
   * (owner << 19 | local page, 0 once closed). Other threads can write it:
   * the page is verified against our own page table, so a scribbled word
   * fails the lookup (locate() then routes through private memory only),
   * never resolves another slot. Takes `h` (any number: the final compare
   * is findAs's, exact for every input) rather than its decoded fields:
   * fewer arguments, less bytecode in findAs.
   */
  private findUnrouted(h: number, bits: number): number {
    const lo = (h << (32 - L.SLOT_BITS)) >>> (32 - L.SLOT_BITS)
    const block = lo >>> L.OFFSET_BITS
    const w = this.#words[L.BLOCKS_BASE + (block << 1)]
    if (w >>> L.PAGE_BITS !== this.#owner) return -1
    const page = w & L.PAGE_MASK
    if (this.#pageBlock[page] !== block) return -1
    const at = (page << L.OFFSET_BITS) | (lo & L.OFFSET_MASK)
    return (this.#state[at] - bits) * (L.SLOT_SPAN / 4) + lo === h ? at : -1
  }

  /** release() of a weak handle, or of anything that is not a live handle (throws). */
  private releaseSlow(h: unknown): unknown {
    let at = typeof h === 'number' ? this.findWeak(h) : -1
    if (at < 0 || (this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] as WeakRef<object>).deref() === undefined) at = this.locate(h)
    if (at < 0) throw this.failure(h, at, 'release')
    let value = this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK]
    if ((this.#state[at] & L.S_WEAK) === 0) {
      this.free(at, 0)
      return value
    }
    value = (value as WeakRef<object>).deref()
    this.free(at, 0)
    this.#weakLive--
    if (++this.#weakStale > Math.max(4096, 8 * this.#weakLive, this.#valCap >>> 4)) this.rebuildFinalizer()
    return value
  }

  private getSlow(h: unknown): unknown {
    const w = typeof h === 'number' ? this.findWeak(h) : -1
    if (w >= 0) {
      const v = (this.#vals[w >>> L.VALUE_CHUNK_BITS][w & L.VALUE_CHUNK_MASK] as WeakRef<object>).deref()
      if (v !== undefined) return v
    }
    const at = this.locate(h)
    if (at < 0) throw this.failure(h, at, 'get')
    return this.valueAt(at)
  }

  // get, insert and free take a value's cell in its chunk as (at << 16) >>> 16
  // rather than at & 0xffff: 6 bytes of bytecode instead of 10 (a 32-bit
  // operand), against V8's inlining budget (findAs).
  private insert(value: unknown, liveBits: number): number {
    // Reuse the last released slot (it stays in its shard); only a new slot
    // needs a shard. Closed registries have no free slots, so bump() throws.
    const head = this.#freeHead
    const at = head >= 0 ? head : this.bump()
    const cells = this.#vals[at >>> L.VALUE_CHUNK_BITS]
    const o = ((at << (32 - L.VALUE_CHUNK_BITS)) >>> (32 - L.VALUE_CHUNK_BITS))
    if (head >= 0) this.#freeHead = cells[o] as number
    cells[o] = value
    const st = this.#state[at] // free: next generation << 2
    this.#state[at] = (st & ~3) | liveBits
    this.#issued++
    return this.handleAt(at, st)
  }

  /** The handle of local slot `at` whose state word is `st` (its generation, its page's block). */
  private handleAt(at: number, st: number): number {
    return (st >>> 2) * L.SLOT_SPAN + (this.#pageBlock[at >>> L.OFFSET_BITS] << L.OFFSET_BITS) + (at & L.OFFSET_MASK)
  }

  /** A never-used slot of the shard picked for this registration, claiming a block when its page is full. */
  private bump(): number {
    if (this.#isClosed) throw new RegistryClosedError('register')
    // Fibonacci hashing of a counter: sequential registrations spread evenly.
    const c = (this.#counter = (this.#counter + 1) | 0)
    const s = (Math.imul(c, 0x9e3779b1) >>> this.#shardShift) & this.#shardMask
    let p = this.#shardPage[s]
    let off = this.#shardNext[s]
    if (off === L.BLOCK_SIZE) {
      p = this.newPage(s)
      off = 0
    }
    this.#shardNext[s] = off + 1
    return (p << L.OFFSET_BITS) | off
  }

  private newPage(s: number): number {
    if (this.#pageBlock.length === 0) {
      const n = this.firstPages()
      if (s < n) return s
    }
    const p = this.#pageBlock.length
    if (p > L.PAGE_MASK) throw new DomainExhaustedError(`a registry holds at most ${(L.PAGE_MASK + 1) * L.BLOCK_SIZE} slots`)
    this.addPage(s, this.#domain.claimBlock(this.#lease, s, p))
    this.reserve(p + 1)
    this.initPage(p)
    this.#shardPage[s] = p
    return p
  }

  /**
   * The first registration claims the first page of shards 0..n-1 (n =
   * min(shards, 16)) in one step, page i for shard i: sequential
   * registrations reach every shard within a few dozen, and one claim (one
   * native call with the addon) beats n. Blocks a registry never issues from
   * go back to the domain with their generation base unchanged. How many it
   * claimed (fewer only when the domain is nearly exhausted).
   */
  private firstPages(): number {
    const out = claimScratch
    const n = this.#domain.claimBlocks(this.#lease, 0, 0, Math.min(this.#shards, FIRST_PAGES), out)
    for (let i = 0; i < n; i++) this.addPage(i, out[i])
    this.reserve(n)
    for (let i = 0; i < n; i++) {
      this.initPage(i)
      this.#shardPage[i] = i
      this.#shardNext[i] = 0
    }
    return n
  }

  /** Records the block `claimed` (block + base * MAX_BLOCKS, from the domain) as the next page, of shard `s`. */
  private addPage(s: number, claimed: number): void {
    const p = this.#pageBlock.length
    // `| 0`: `claimed` is a double (from a Float64Array or the addon), and so
    // are % and / of it; pushed as such they would turn the page tables into
    // double arrays, which findAs() and handleAt() then read as doubles
    // (a convert and a float compare per lookup, seen in `perf annotate`).
    const block = (claimed % L.MAX_BLOCKS) | 0
    const base = ((claimed - block) / L.MAX_BLOCKS) | 0 // first generation: above every earlier owner's
    this.#pageBlock.push(block)
    this.routeBlock(block, p)
    this.#pageShard.push(s)
    this.#pageBase.push(base)
    const limit = Math.min(base + this.#retireAfter, L.GEN_MAX + 1)
    this.#pageLimit.push(limit)
    if (limit < this.#retireFloor) this.#retireFloor = limit
    this.#blockPage?.set(block, p)
  }

  /**
   * Enters block -> page `p` in #route, growing its range to take `block` if
   * the range then spans at most max(ROUTE_MIN_SPAN, ROUTE_SPAN_PER_PAGE x
   * pages) blocks: blocks are claimed from a domain-wide counter, so a
   * registry's blocks usually lie close together, and the route costs well
   * under a byte per handle. A block farther out stays unrouted: findAs() then
   * reads the domain's table and verifies it (findUnrouted), slower, as correct.
   */
  private routeBlock(block: number, p: number): void {
    let route = this.#route
    let r = block - this.#routeBase
    if (r < 0 || r >= route.length) {
      const lo = route.length === 0 ? block : Math.min(this.#routeBase, block)
      const hi = route.length === 0 ? block : Math.max(this.#routeBase + route.length - 1, block)
      const span = hi - lo + 1
      if (span > Math.max(ROUTE_MIN_SPAN, ROUTE_SPAN_PER_PAGE * (p + 1))) return
      // Headroom above: later claims mostly come from the counter, upwards.
      const grown = new Int32Array(Math.min(span + (span >>> 1) + 16, L.MAX_BLOCKS - lo))
      if (route.length > 0) grown.set(route, this.#routeBase - lo)
      this.#route = route = grown
      this.#routeBase = lo
      r = block - lo
    }
    route[r] = (p + 1) << L.OFFSET_BITS
  }

  /** Grows the state words and the value chunks to hold `pages` pages. */
  private reserve(pages: number): void {
    const need = pages * L.BLOCK_SIZE
    if (this.#state.length < need) {
      // With the addon, the old view is detached: replace it at once, and keep
      // the lease's view (what releases a dropped registry's blocks) current.
      this.#state = backendOf(this.#domain).growState(this.#lease.token, this.#state, this.grownCapacity(this.#state.length, need, 8))
      this.#lease.state = this.#state
    }
    if (this.#valCap < need) this.growValues(need)
  }

  /**
   * Value cells for `need` slots. The first allocation (a spare of a closed
   * registry if one fits) is chunk 0 at a first growth's size; chunk 0 grows
   * by copying (by 5/16, as the states) up to a full chunk; after that each
   * growth appends a full chunk (2^16 cells, 512 KiB) and copies nothing, so
   * a fill allocates 8 bytes of values per slot once, where a flat array
   * grown by f allocates 8 (1 + f) / f (docs/benchmark-log.md, "Lifecycle"). The
   * table itself stays the same array for the registry's life: native code
   * (api->resolve) gets it once.
   */
  private growValues(need: number): void {
    let table = this.#vals
    if (this.#valCap === 0) {
      const cells = Math.min(this.grownCapacity(0, need, 5), L.VALUE_CHUNK)
      table = this.#vals = [spareValues.take(cells) ?? copyChunk(undefined, cells)]
      this.#valCap = cells
      backendOf(this.#domain).publishValues(this.#lease.token, table) // api->resolve reads slots from it
    }
    while (this.#valCap < need) {
      if (this.#valCap < L.VALUE_CHUNK) {
        const cells = Math.min(this.grownCapacity(this.#valCap, need, 5), L.VALUE_CHUNK)
        table[0] = copyChunk(table[0], cells)
        this.#valCap = cells
      } else {
        table.push(copyChunk(undefined, L.VALUE_CHUNK))
        this.#valCap += L.VALUE_CHUNK
      }
    }
  }

  /** A new page's slots start free at its block's base generation (states are zero until then). */
  private initPage(p: number): void {
    const base = this.#pageBase[p]
    if (base !== 0) this.#state.fill(base << 2, p << L.OFFSET_BITS, (p + 1) << L.OFFSET_BITS)
  }

  /**
   * Capacity in slots after growing `cur` to hold at least `need`: by
   * `sixteenths`/16, in whole pages. Every grown array is fresh memory, and
   * where touching a fresh page costs more than copying it (11-16 us a page
   * on the reference VM), the bytes allocated over a fill decide its speed:
   * b (1 + f) / f per handle for b bytes a slot grown by f. The state words
   * (4 bytes) grow by 1/2: 12 bytes allocated per handle, slack right after a
   * growth 2 bytes a handle; the value chunks allocate 8 once (growValues),
   * so a handle costs at most about 8 + 6 bytes plus the page tables, inside
   * the 16-byte budget (docs/benchmark.md). Chunk 0 of the values, which
   * does grow by copying, grows by 5/16 (slack 2.5 bytes a handle). The
   * first growth takes a page per shard (at most 16): registrations spread
   * over every shard, so a small registry needs them after a few dozen
   * handles, and one allocation beats a growth per page (each a native call
   * with the addon).
   */
  private grownCapacity(cur: number, need: number, sixteenths: number): number {
    const grown = (cur + (cur >>> 4) * sixteenths + L.OFFSET_MASK) & ~L.OFFSET_MASK
    const first = cur === 0 ? Math.min(this.#shards, 16) * L.BLOCK_SIZE : 0
    return Math.min(Math.max(need, grown, first), (L.PAGE_MASK + 1) * L.BLOCK_SIZE)
  }

  /**
   * close(): clears the cells this registry wrote (each page up to its bump
   * pointer) and keeps the array for the next registry of this thread, when
   * it is of a first growth's size. Native code dropped it at release.
   */
  private recycleValues(): void {
    if (this.#valCap === 0 || this.#valCap > SPARE_MAX_CELLS) return
    const vals = this.#vals[0]
    for (let p = 0; p < this.#pageShard.length; p++) {
      const s = this.#pageShard[p]
      const used = this.#shardPage[s] === p ? this.#shardNext[s] : L.BLOCK_SIZE
      vals.fill(undefined, p << L.OFFSET_BITS, (p << L.OFFSET_BITS) + used)
    }
    spareValues.give(vals)
  }

  /** Frees the live slot `at` and returns its value cell; `extra` marks the freed state (L.S_WEAK = collected). */
  private free(at: number, extra: number): unknown {
    // The chunk read once for both the value and the free-list link: every
    // byte of bytecode here counts against V8's inlining budget (findAs).
    const cells = this.#vals[at >>> L.VALUE_CHUNK_BITS]
    const o = ((at << (32 - L.VALUE_CHUNK_BITS)) >>> (32 - L.VALUE_CHUNK_BITS))
    const value = cells[o]
    const next = (this.#state[at] >>> 2) + 1
    this.#state[at] = (next << 2) | extra
    // Below every page's retirement limit (the common case: one field read).
    if (next < this.#retireFloor) {
      cells[o] = this.#freeHead
      this.#freeHead = at
    } else {
      this.freeNearLimit(at, next)
    }
    this.#freed++
    return value
  }

  /** free() of a slot whose next generation `next` reaches the lowest retirement limit of some page. */
  private freeNearLimit(at: number, next: number): void {
    if (next < this.#pageLimit[at >>> L.OFFSET_BITS]) {
      this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] = this.#freeHead
      this.#freeHead = at
    } else {
      this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] = undefined // retired: never issued again, so no stale handle can alias
      this.#counts.retired++
    }
  }

  private liveByShard(): number[] {
    const live = new Array<number>(this.#shards).fill(0)
    for (let p = 0; p < this.#pageShard.length; p++) {
      let n = 0
      for (let at = p << L.OFFSET_BITS, end = at + L.BLOCK_SIZE; at < end; at++) n += this.#state[at] & L.S_LIVE
      live[this.#pageShard[p]] += n
    }
    return live
  }

  /** Like findAs(h, S_LIVE), for a live weak entry: its index, or -1. */
  private findWeak(h: number): number {
    return this.findAs(h, L.S_LIVE | L.S_WEAK)
  }

  private newFinalizer(): FinalizationRegistry<number> {
    const epoch = ++this.#finalizerEpoch
    return (this.#finalizer = new FinalizationRegistry((held: number) => this.collect(held, epoch)))
  }

  /**
   * A new finalizer holding the live weak entries only: the old one, with the
   * cells of released handles, becomes garbage. Run after max(4096,
   * 8 x live weak, capacity / 16) weak releases: a rebuild scans the capacity
   * and re-registers the live weak entries, so per release that is at most
   * 16 slots scanned and 1/8 of a registration, while the cells outstanding
   * stay under 9 x live weak + max(4096, capacity / 16).
   */
  private rebuildFinalizer(): void {
    const fin = this.newFinalizer()
    this.#weakStale = 0
    for (let at = 0; at < this.#pageShard.length << L.OFFSET_BITS; at++) {
      const st = this.#state[at]
      if ((st & (L.S_LIVE | L.S_WEAK)) !== (L.S_LIVE | L.S_WEAK)) continue
      const v = (this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] as WeakRef<object>).deref()
      if (v !== undefined) {
        fin.register(v, this.handleAt(at, st))
      } else {
        this.#counts.collected++
        this.#weakLive--
        this.free(at, L.S_WEAK)
      }
    }
  }

  /** FinalizationRegistry callback (of finalizer `epoch`): the weak value of `h` was collected. */
  private collect(h: number, epoch: number): void {
    if (this.#isClosed) return
    const at = this.locateRaw(h)
    if (at < 0 || (this.#state[at] & L.S_WEAK) === 0) {
      // The cell of a released handle (or one a newer finalizer already handled).
      if (epoch === this.#finalizerEpoch && this.#weakStale > 0) this.#weakStale--
      return
    }
    this.#counts.collected++
    this.#weakLive--
    this.free(at, L.S_WEAK)
  }

  private valueAt(at: number): unknown {
    const v = this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK]
    return (this.#state[at] & L.S_WEAK) !== 0 ? (v as WeakRef<object>).deref() : v
  }

  /** Local index (page << 8 | offset) of the live entry `h`, or an E_* code. */
  private locate(h: unknown): number {
    const at = this.locateRaw(h)
    if (at < 0) return at
    if ((this.#state[at] & L.S_WEAK) !== 0 && (this.#vals[at >>> L.VALUE_CHUNK_BITS][at & L.VALUE_CHUNK_MASK] as WeakRef<object>).deref() === undefined) return E_COLLECTED
    return at
  }

  /** Like locate, without looking into weak refs. */
  private locateRaw(h: unknown): number {
    if (this.#isClosed) return E_CLOSED
    if (malformed(h) !== undefined) return E_INVALID
    const n = h as number
    const slot = n % L.SLOT_SPAN
    const gen = (n - slot) / L.SLOT_SPAN
    const block = slot >>> L.OFFSET_BITS
    // Routed through private memory only: the page table this registry wrote.
    const page = (this.#blockPage ?? this.blockPages()).get(block)
    if (page === undefined) {
      // Not ours. The shared block table only tells "never claimed" from "another registry's".
      return (this.#domain.blockMeta(block) & L.B_CLAIMED) === 0 ? E_INVALID : E_FOREIGN
    }
    const p = page << L.OFFSET_BITS
    const off = slot & L.OFFSET_MASK
    const st = this.#state[p | off]
    const sgen = st >>> 2
    // Below the block's base: issued by an earlier (closed) owner of this block.
    if (gen < this.#pageBase[page]) return E_FOREIGN
    if (gen > sgen) return E_INVALID
    if (gen === sgen) return (st & L.S_LIVE) !== 0 ? p | off : E_INVALID
    if (gen === sgen - 1 && (st & (L.S_WEAK | L.S_LIVE)) === L.S_WEAK) return E_COLLECTED
    return E_STALE
  }

  /** The block -> page map, built from the page table on first use and kept current by addPage. */
  private blockPages(): Map<number, number> {
    const map = new Map<number, number>()
    for (let p = 0; p < this.#pageBlock.length; p++) map.set(this.#pageBlock[p], p)
    return (this.#blockPage = map)
  }

  private count(code: number): void {
    if (code === E_STALE) this.#counts.staleLookups++
    else if (code === E_FOREIGN) this.#counts.foreignLookups++
    else if (code === E_INVALID) this.#counts.invalidLookups++
  }

  private failure(h: unknown, code: number, op: string): Error {
    this.count(code)
    switch (code) {
      case E_CLOSED: return new RegistryClosedError(op)
      case E_STALE: return new StaleHandleError(h as number)
      case E_COLLECTED: return new CollectedHandleError(h as number)
      case E_FOREIGN: {
        const who = this.#domain.describe(h as number)
        // An earlier owner of one of our blocks (who names us), or a scribbled table: a closed registry.
        const earlier = who === undefined || who.owner === this.#owner
        return new ForeignHandleError(h as number, earlier ? 0 : who.owner, this.#owner, earlier || who.closed)
      }
      default: return new InvalidHandleError(h, malformed(h) ?? 'it was never issued by this registry')
    }
  }
}

/**
 * A value chunk of `cells` cells holding `old`'s (if any), the new ones holes
 * (read as undefined; only live and free-list cells are ever read). V8 writes
 * the holes when it allocates; writing undefined into each again cost a
 * second pass (about 1 ns a cell). The last cell gets undefined so that the
 * array has object elements from the start: no elements-kind transition (a
 * copy) at the first value, and every chunk has the same elements kind.
 */
function copyChunk(old: unknown[] | undefined, cells: number): unknown[] {
  const vals = new Array<unknown>(cells)
  vals[cells - 1] = undefined
  if (old !== undefined) for (let i = 0; i < old.length; i++) vals[i] = old[i]
  return vals
}
