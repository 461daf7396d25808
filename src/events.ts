// The event channel of one registry: native events posted to its handles (from
// any thread) arrive here in batches, are resolved to values and handed to the
// user's handler. Validation of onEvent's arguments, the byte arena, delivery
// and the event counters live here; the registry only resolves handles.
import { AsyncResource } from 'node:async_hooks'
import type { HandleContexts } from './async-context'
import type { DomainBackend } from './backends'
import { CallDesk, checkCallHandler, type CallHandler, type CallStats } from './calls'
import { InvalidOptionError, describeValue } from './errors'
import type { NativeBinding, NativeEventStats, OwnerToken } from './native'
import { checkOptions, integerOption } from './options'
import type { Handle } from './registry'

/**
 * Receives native events: the handle's value, the event kind and its payload:
 * a number (api->post, api->post_many), or for byte events (api->post_bytes) a
 * Uint8Array view that is valid only during this call (the next batch
 * overwrites its memory): copy it (`payload.slice()`) to keep it.
 */
export type EventHandler<T> = (value: T, kind: number, payload: number | Uint8Array, handle: Handle<T>) => void

/** Receives what a handler threw, with the event that it threw for. */
export type EventErrorHandler = (error: unknown, handle: Handle, kind: number) => void

/**
 * What a native post does when the registry's event queue is full:
 * - `'drop'` (default): the post returns QUEUE_FULL at once; the event is not
 *   queued and is counted in `droppedFull`.
 * - `'block'`: the posting thread waits until there is room, at most
 *   `blockTimeoutMs`; then TIMEOUT (counted in `droppedTimeout`). On this
 *   registry's own JS thread (which would have to drain the queue) a post to
 *   a full queue returns WOULD_DEADLOCK at once. close(), offEvent() and the
 *   end of the worker wake every waiting thread (REGISTRY_CLOSED).
 * - `'grow'`: the queue takes more events than `capacity`, up to
 *   `maxQueueBytes` of memory in all; beyond it, QUEUE_FULL as with 'drop'.
 * Events of one producer thread keep their order under every policy.
 */
export type WhenFull = 'drop' | 'block' | 'grow'

export interface EventOptions {
  /** Events the native queue holds (its ring); what a post to a full one does: `whenFull`. Default 65536. */
  capacity?: number
  /** The policy for a full queue: 'drop' (default), 'block' or 'grow' (see WhenFull). */
  whenFull?: WhenFull
  /** 'block' only: how long a post waits for room, in ms (an integer up to 2^31-1, or Infinity). Default 5000. */
  blockTimeoutMs?: number
  /**
   * 'grow' only: the most memory the queued events may take, in bytes: the
   * ring (32 bytes per cell of `capacity`) plus the overflow (24 bytes per
   * event, in chunks of 1024, plus the bytes of byte events). At least
   * 32 * capacity + 24600 (one chunk). Default 64 MiB.
   */
  maxQueueBytes?: number
  /** Events delivered per boundary crossing. Default 4096. */
  batch?: number
  /**
   * Called with each error a handler throws, in order, and delivery goes on.
   * Without it, the errors of a batch are raised together after the batch as
   * one uncaught AggregateError.
   */
  onError?: EventErrorHandler
}

const OPTION_NAMES = ['capacity', 'batch', 'onError', 'whenFull', 'blockTimeoutMs', 'maxQueueBytes'] as const

// The native side's codes and sizes (native/src/back_pressure.h, event_queue.h).
const WHEN_FULL_CODES = { drop: 0, block: 1, grow: 2 } as const
const RING_CELL_BYTES = 32 // a BoundedQueue cell: sequence word + 24-byte event
const OVERFLOW_CHUNK_BYTES = 24 + 1024 * 24 // Overflow<Event>: header + 1024 events
const WAIT_FOREVER = 0xffffffff // HR_WAIT_FOREVER
const DEFAULT_BLOCK_TIMEOUT_MS = 5000
const DEFAULT_MAX_QUEUE_BYTES = 64 * 2 ** 20

/** whenFull and its options as the addon takes them: [code, timeout ms, overflow bytes]. */
type FullPolicy = readonly [code: number, timeoutMs: number, overflowBytes: number]

/** Event counters: native ones (posted, dropped at the source) and those counted in JS. */
export interface EventStats extends NativeEventStats {
  /** Events whose handle was released between post and delivery; not given to the handler. */
  droppedReleased: number
  /**
   * Events of a batch being delivered when offEvent() or close() ran, and events
   * delivered while only onCall was installed; not given to any handler.
   */
  droppedOff: number
  /** Handler calls. */
  handled: number
}

/** What the channel needs from its registry: the value of a live handle, or NOT_LIVE; the handles' async contexts, if captured. */
export interface EventTarget {
  eventValue(h: number): unknown
  readonly handleContexts?: HandleContexts
}

/**
 * eventValue()'s answer for a handle that is not live (released, collected,
 * foreign, malformed). An object, not a symbol: deliver() compares every
 * event's value with it, and with objects on both sides V8 compiles that
 * `===` to a pointer compare; an object value against a symbol made it a call
 * of the generic StrictEqual builtin per event (perf of the split, issue 11).
 * Never handed out, so no registered value can be it.
 */
export const NOT_LIVE: object = Object.freeze(Object.create(null) as object)

// Bytes of the buffer byte events are copied into for one batch (>= HR_MAX_BYTES).
const ARENA_BYTES = 1 << 20

// One spare pair of delivery buffers per thread, left by the last channel that
// closed: a fresh 1 MiB arena and 128 KiB of records per onEvent() made
// onEvent() + close() in a loop cost 2 ms and hundreds of MB until the GC ran.
// Only buffers that never reached user code are kept (the records never do;
// the arena does once a byte event was handed out), and the native path no
// longer writes them once close_events() returned. Module-scoped: no object
// the package hands out reaches them.
let spareRecords: Float64Array | undefined
let spareArena: Uint8Array | undefined

// Channels whose native path is open on this thread (module state is per
// thread). At process 'exit' (or a worker's), their paths close, which wakes
// every thread waiting in api->call with REGISTRY_CLOSED: a worker blocked in
// a call to this thread's registry must return before Node stops and joins
// it, which it does before the env cleanup that would otherwise close them.
const openPaths = new Set<{ closeAtExit(): void }>()
let exitHooked = false
function closeAtExit(): void {
  for (const channel of [...openPaths]) channel.closeAtExit()
}

/** onEvent's and onCall's options, checked, with defaults filled in. */
type ValidOptions = Required<Pick<EventOptions, 'capacity' | 'batch'>> & EventOptions & { full: FullPolicy }

/** Checks whenFull and the options that only apply to one policy. */
function fullPolicy(o: EventOptions, capacity: number): FullPolicy {
  const whenFull = o.whenFull === undefined ? 'drop' : o.whenFull
  if (!Object.hasOwn(WHEN_FULL_CODES, whenFull)) {
    throw new InvalidOptionError(`Expected the "whenFull" option to be 'drop', 'block' or 'grow', got ${describeValue(o.whenFull)}`)
  }
  if (o.blockTimeoutMs !== undefined && whenFull !== 'block') {
    throw new InvalidOptionError(`The "blockTimeoutMs" option applies only to whenFull: 'block' (whenFull is '${whenFull}')`)
  }
  if (o.maxQueueBytes !== undefined && whenFull !== 'grow') {
    throw new InvalidOptionError(`The "maxQueueBytes" option applies only to whenFull: 'grow' (whenFull is '${whenFull}')`)
  }
  let timeoutMs = DEFAULT_BLOCK_TIMEOUT_MS
  if (o.blockTimeoutMs === Infinity) timeoutMs = WAIT_FOREVER
  else {
    timeoutMs = integerOption(o.blockTimeoutMs, DEFAULT_BLOCK_TIMEOUT_MS, 'blockTimeoutMs',
      'an integer from 0 to 2^31-1 or Infinity', (n) => n >= 0 && n <= 2 ** 31 - 1)
  }
  const ring = RING_CELL_BYTES * capacity
  const least = ring + OVERFLOW_CHUNK_BYTES
  const max = integerOption(o.maxQueueBytes, Math.max(DEFAULT_MAX_QUEUE_BYTES, least), 'maxQueueBytes',
    `an integer from ${least} (32 * capacity + one overflow chunk) to 2^53-1`, (n) => n >= least && Number.isSafeInteger(n))
  return [WHEN_FULL_CODES[whenFull], timeoutMs, whenFull === 'grow' ? max - ring : 0]
}

/** Checks onEvent's arguments; returns the options with defaults filled in. */
function validate(handler: unknown, options: unknown, where = 'registry.onEvent(handler, options)'): ValidOptions {
  if (typeof handler !== 'function') {
    throw new InvalidOptionError(`onEvent expects a handler function, got ${describeValue(handler)}`)
  }
  checkOptions(options, OPTION_NAMES, where)
  const o = (options ?? {}) as EventOptions
  const capacity = integerOption(o.capacity, 65536, 'capacity', `a power of two from 2 to ${2 ** 24}`,
    (n) => n >= 2 && n <= 2 ** 24 && (n & (n - 1)) === 0)
  const batch = integerOption(o.batch, 4096, 'batch', 'an integer from 1 to 65536', (n) => n >= 1 && n <= 65536)
  if (o.onError !== undefined && typeof o.onError !== 'function') {
    throw new InvalidOptionError(`Expected the "onError" option to be a function, got ${describeValue(o.onError)}`)
  }
  return { capacity, batch, onError: o.onError, full: fullPolicy(o, capacity) }
}

export class EventChannel<T> {
  private handler: EventHandler<T> | undefined
  private onError: EventErrorHandler | undefined
  private calls: CallDesk<T> | undefined // created when the path first opens (calls.ts)
  private callsUsed = false // onCall() was called
  private addon: NativeBinding | undefined // set by the first open()
  private isOpen = false // the native path is open
  private opened = 0 // times the native path was opened: a batch of an earlier opening is never handed to a later handler
  #records: Float64Array = new Float64Array(0)
  #arenaView: Uint8Array | undefined // byte events' bytes, per batch (native writes it)
  #arena: ArrayBufferLike | undefined // #arenaView's buffer, read by deliver()
  #arenaEscaped = false // a byte event's view of #arena was handed to the handler
  #scope: AsyncResource | undefined // the async context of the latest onEvent() (set by open())
  private final: NativeEventStats | undefined // native counters read when the registry closed
  private readonly counts = { droppedReleased: 0, droppedOff: 0, handled: 0 }

  constructor(private readonly target: EventTarget, private readonly backend: DomainBackend, private readonly owner: OwnerToken) {}

  /** Installs `handler` (replacing the current one) and opens the native path if it is closed. */
  open(handler: unknown, options: unknown): void {
    const o = validate(handler, options)
    const addon = this.backend.native('registry.onEvent')
    this.#openPath(addon, o)
    // asyncContext: each call runs in the context its handle (argument 3) was registered in.
    const contexts = this.target.handleContexts
    this.handler = contexts === undefined ? handler as EventHandler<T> : contexts.bind(handler as EventHandler<T>, 3)
    // Without asyncContext, batches run in the async context of the latest
    // onEvent() (as an EventEmitter's listener runs in its emitter's): once
    // per batch, not per event. Node 24's AsyncContextFrame no longer carries
    // it through the addon's napi_make_callback.
    this.#scope = new AsyncResource('HandleRegistryEvents')
    this.onError = o.onError
    // On every onEvent(): its whenFull replaces the previous one.
    addon.set_when_full(this.owner, ...o.full)
  }

  /**
   * onCall(): installs the call handler (replacing the current one) and opens
   * the native path if it is closed: calls travel through the event queue.
   */
  openCalls(handler: unknown, options: unknown): void {
    checkCallHandler(handler)
    const o = validate(() => {}, options, 'registry.onCall(handler, options)')
    const addon = this.backend.native('registry.onCall')
    // onCall() sets the full policy only when it opens the path: a policy
    // onEvent() chose stays.
    if (!this.isOpen) {
      this.#openPath(addon, o)
      addon.set_when_full(this.owner, ...o.full)
    }
    const calls = this.calls!
    this.callsUsed = true
    const contexts = this.target.handleContexts
    // Without asyncContext, in the context of onCall() (once per call, which costs microseconds anyway).
    calls.handler = contexts === undefined
      ? AsyncResource.bind(handler as CallHandler<T>)
      : contexts.bind(handler as CallHandler<T>, 3)
    calls.onError = o.onError
  }

  #openPath(addon: NativeBinding, o: ValidOptions): void {
    if (this.isOpen) return
    let records = spareRecords
    if (records?.length === 4 * o.batch) spareRecords = undefined
    else records = new Float64Array(4 * o.batch)
    let arena = spareArena
    spareArena = undefined
    arena ??= new Uint8Array(ARENA_BYTES)
    try {
      addon.open_events(this.owner, o.capacity, records, (count: number) => this.deliverInScope(count), arena)
    } catch (err) {
      spareRecords = records
      spareArena = arena
      throw err
    }
    this.#records = records
    this.#arenaView = arena
    this.#arena = arena.buffer
    this.#arenaEscaped = false
    this.addon = addon
    this.isOpen = true
    this.opened++
    // Calls may arrive as soon as the path is open, with or without onCall.
    this.calls ??= new CallDesk<T>(addon, this.owner)
    openPaths.add(this)
    if (!exitHooked) {
      exitHooked = true
      process.once('exit', closeAtExit)
    }
  }

  /** process 'exit': nothing can be delivered any more; close the path (wakes waiting callers). */
  closeAtExit(): void {
    this.#closePath()
  }

  /** offEvent(): stops event delivery; the path closes (queued events dropped and counted natively) unless onCall keeps it open. */
  off(): void {
    this.handler = undefined
    this.onError = undefined
    if (this.calls?.handler === undefined) this.#closePath()
  }

  /**
   * offCall(): calls are answered REGISTRY_CLOSED from now on, and so are
   * those handed to the handler and not answered yet; the path closes unless
   * onEvent keeps it open.
   */
  offCalls(): void {
    const calls = this.calls
    if (calls === undefined || calls.handler === undefined) return
    calls.handler = undefined
    calls.onError = undefined
    if (this.handler === undefined) this.#closePath()
    else if (this.isOpen) this.addon!.cancel_calls(this.owner)
  }

  #closePath(): void {
    if (!this.isOpen) return
    this.isOpen = false
    openPaths.delete(this)
    this.addon!.close_events(this.owner)
    // The native path is gone: nothing writes these buffers any more. Keep
    // them for the next open() unless user code holds a view of the arena.
    // (this.#records stays: a deliver() still on the stack reads it.)
    spareRecords = this.#records
    if (!this.#arenaEscaped) spareArena = this.#arenaView
    this.#arenaView = undefined
    this.#arena = undefined
  }

  /** The registry closes: off(), and keep the final native counters before its owner index is released. */
  close(): void {
    if (this.calls !== undefined) this.calls.handler = this.calls.onError = undefined
    this.off()
    if (this.addon !== undefined) this.final = this.addon.event_stats(this.owner)
  }

  /** Counters of the current or last native path; undefined if none was ever opened. */
  stats(): EventStats | undefined {
    // Until the registry closes its owner index is ours, and so are the native counters.
    const native = this.final ?? this.addon?.event_stats(this.owner)
    return native === undefined ? undefined : { ...native, ...this.counts }
  }

  /** Call counters; undefined until onCall was called or a call arrived. */
  callStats(): CallStats | undefined {
    const c = this.calls?.counts
    if (c === undefined || (!this.callsUsed && c.answered + c.threw + c.refused === 0)) return undefined
    return { ...c }
  }

  /** The addon's callback: a batch, in the context of the latest onEvent() (or none before one). */
  deliverInScope(count: number): void {
    const scope = this.#scope
    if (scope === undefined) this.deliver(count)
    else scope.runInAsyncScope(this.deliver, this, count)
  }

  /**
   * One batch from the addon: `count` records of [handle, kind, payload, size]
   * in `records`; size > 0: a byte event whose bytes are at arena[payload, payload + size).
   * The handler is re-read before each event, so after offEvent(), close() or
   * a new onEvent() inside a handler the old handler is never called again.
   */
  deliver(count: number): void {
    const records = this.#records
    const arena = this.#arena
    const target = this.target
    const opened = this.opened
    let errors: unknown[] | undefined
    // Per batch, not per event: events not given to a handler are counted
    // (dropped, off, calls); handled = events taken - those.
    let dropped = 0
    let off = 0
    let calls = 0
    let i = 0
    // The try wraps the inner loop (not each event, which would cost on the hot
    // path): after a throw the outer loop resumes at the next event.
    while (i < count) {
      const handler = this.handler
      // close(), offEvent() or offCall() closed the path during the batch (and
      // maybe onEvent() opened it again after it): drop the rest. (The calls
      // among them were answered REGISTRY_CLOSED by the path's close.)
      if (!this.isOpen || this.opened !== opened) break
      try {
        for (; i < count; i++) {
          if (this.handler !== handler) break // replaced or removed: the outer loop re-reads it
          const r = 4 * i
          const h = records[r]
          const value = target.eventValue(h)
          const size = records[r + 3]
          // The common event first, in one branch: numeric, live, a handler on.
          if (size === 0 && value !== NOT_LIVE && handler !== undefined) {
            handler(value as T, records[r + 1], records[r + 2], h as Handle<T>)
            continue
          }
          if (size < 0) { // a call (calls.ts)
            if (!this.isOpen || this.opened !== opened) break
            calls++
            if (-size % 2 === 1) this.#arenaEscaped = true // a view of its bytes goes to the handler
            errors = this.calls!.take(size, h, value, NOT_LIVE, records[r + 1], records[r + 2], arena, errors)
            continue
          }
          if (value === NOT_LIVE) {
            dropped++
            continue
          }
          if (handler === undefined) { // only onCall is on
            off++
            continue
          }
          // A byte event: its bytes are at arena[payload, payload + size).
          this.#arenaEscaped = true
          handler(value as T, records[r + 1], new Uint8Array(arena!, records[r + 2], size), h as Handle<T>)
        }
      } catch (err) {
        const onError = this.onError
        const r = 4 * i
        i++
        if (onError === undefined) {
          (errors ??= []).push(err)
        } else {
          try {
            onError(err, records[r] as Handle, records[r + 1])
          } catch (err2) {
            (errors ??= []).push(err2)
          }
        }
      }
    }
    const counts = this.counts
    counts.droppedReleased += dropped
    counts.handled += i - dropped - off - calls
    counts.droppedOff += count - i + off
    // As an EventEmitter without an 'error' listener would: the errors surface
    // as an uncaught exception, all of them, after the whole batch was delivered.
    if (errors !== undefined) {
      const all = errors
      process.nextTick(() => {
        throw new AggregateError(all, `handle-registry: ${all.length} handler call(s) threw in one batch ` +
          '(pass an onError option to onEvent or onCall to receive them instead)')
      })
    }
  }
}
