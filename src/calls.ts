// The call desk of one registry: blocking calls from native threads
// (api->call, native/src/calls.cc) arrive in the event channel's batches, in
// queue order with the events; this runs the onCall handler and sends its
// reply (or THREW / REGISTRY_CLOSED / STALE_HANDLE) back to the waiting thread.
import { InvalidOptionError, InvalidReplyError, describeValue } from './errors'
import type { EventErrorHandler, EventOptions } from './events'
import type { NativeBinding, OwnerToken } from './native'
import type { Handle } from './registry'

/** A call's reply: a number, or bytes (copied when the handler returns). */
export type CallReply = number | Uint8Array

/**
 * Answers a native call (api->call): the handle's value, the call kind and its
 * payload (a number, or a Uint8Array valid only during this call: copy it to
 * keep it). The return value, or what its Promise resolves to, is the reply.
 */
export type CallHandler<T> = (value: T, kind: number, payload: number | Uint8Array, handle: Handle<T>) =>
  CallReply | PromiseLike<CallReply>

/**
 * onCall's options. `capacity` and `batch` size the native queue when onCall
 * opens it (they are ignored while onEvent keeps it open); `onError` receives
 * what the call handler threw or rejected with.
 */
export type CallOptions = EventOptions

// HR_STATUS_* of native/include/handle_registry_status.h that JS answers with.
const OK = 0
const STALE_HANDLE = 2
const REGISTRY_CLOSED = 4
const THREW = 14

/** Checks onCall's handler (the options are checked by the event channel). */
export function checkCallHandler(handler: unknown): asserts handler is CallHandler<unknown> {
  if (typeof handler !== 'function') {
    throw new InvalidOptionError(`onCall expects a handler function, got ${describeValue(handler)}`)
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return (typeof v === 'object' || typeof v === 'function') && v !== null &&
    typeof (v as { then?: unknown }).then === 'function'
}

function isReply(v: unknown): v is CallReply {
  return typeof v === 'number' || v instanceof Uint8Array
}

/** Call counters, kept in JS. */
export interface CallStats {
  /** Calls whose handler answered (synchronously or by a settled Promise). */
  answered: number
  /** Calls whose handler threw, rejected or answered with something else than a number or a Uint8Array. */
  threw: number
  /** Calls answered REGISTRY_CLOSED (no onCall handler) or STALE_HANDLE (released before delivery). */
  refused: number
}

export class CallDesk<T> {
  handler: CallHandler<T> | undefined
  onError: EventErrorHandler | undefined
  readonly counts: CallStats = { answered: 0, threw: 0, refused: 0 }

  constructor(private readonly addon: NativeBinding, private readonly owner: OwnerToken) {}

  /**
   * One call of a batch: `code` is the record's negative size (-(2 id) for a
   * numeric payload, -(2 id + 1) for bytes at arena[offset, offset + size)
   * with payload = offset * 2^17 + size). `value` is NOT_LIVE's stand-in
   * `notLive` when the handle was released. Returns `errors` with what to
   * raise after the batch (a synchronous throw without onError).
   */
  take(code: number, h: number, value: unknown, notLive: unknown, kind: number, payload: number,
    arena: ArrayBufferLike | undefined, errors: unknown[] | undefined): unknown[] | undefined {
    const id = Math.floor(-code / 2)
    const handler = this.handler
    if (handler === undefined || value === notLive) {
      this.counts.refused++
      this.#send(id, handler === undefined ? REGISTRY_CLOSED : STALE_HANDLE)
      return errors
    }
    let arg: number | Uint8Array = payload
    if (-code % 2 === 1) {
      const size = payload % 131072
      arg = new Uint8Array(arena!, (payload - size) / 131072, size)
    }
    let reply: unknown
    try {
      reply = handler(value as T, kind, arg, h as Handle<T>)
    } catch (err) {
      return this.#threw(id, err, h, kind, errors)
    }
    if (isReply(reply)) {
      this.counts.answered++
      this.#send(id, OK, reply)
      return errors
    }
    if (!isThenable(reply)) return this.#threw(id, new InvalidReplyError(reply), h, kind, errors)
    const onError = this.onError
    reply.then((v) => {
      if (isReply(v)) {
        this.counts.answered++
        this.#send(id, OK, v)
      } else {
        this.#rejected(id, new InvalidReplyError(v), h, kind, onError)
      }
    }, (err: unknown) => this.#rejected(id, err, h, kind, onError))
    return errors
  }

  // The answer to call `id`. If the registry closed meanwhile (a handler may
  // close it, a Promise may settle later), its callers were already woken
  // with REGISTRY_CLOSED and the addon refuses the token: nothing to send.
  #send(id: number, status: number, reply?: CallReply): void {
    try {
      this.addon.call_reply(this.owner, id, status, reply)
    } catch {
      // closed: see above
    }
  }

  // A synchronous throw: THREW to the caller; the error to onError, or with the batch's.
  #threw(id: number, err: unknown, h: number, kind: number, errors: unknown[] | undefined): unknown[] | undefined {
    this.counts.threw++
    this.#send(id, THREW)
    const onError = this.onError
    if (onError === undefined) {
      (errors ??= []).push(err)
      return errors
    }
    try {
      onError(err, h as Handle, kind)
    } catch (err2) {
      (errors ??= []).push(err2)
    }
    return errors
  }

  // A rejection (or an invalid async reply): THREW to the caller (if it still
  // waits); the error to the onError of when the call was delivered, else
  // uncaught, as an event handler's would be.
  #rejected(id: number, err: unknown, h: number, kind: number, onError: EventErrorHandler | undefined): void {
    this.counts.threw++
    this.#send(id, THREW)
    if (onError !== undefined) {
      try {
        onError(err, h as Handle, kind)
        return
      } catch (err2) {
        err = err2
      }
    }
    const all = [err]
    process.nextTick(() => {
      throw new AggregateError(all, 'handle-registry: a call handler rejected ' +
        '(pass an onError option to onCall to receive it instead)')
    })
  }
}
