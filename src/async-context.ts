// Async context per handle (issue 9, part 5), opt-in with
// `new HandleRegistry({ asyncContext: true })`: register() captures the
// caller's async context (an AsyncResource, which takes every
// AsyncLocalStorage's current store with it), and the handlers that
// native code reaches through the handle (onEvent's, and any later handler
// keyed by a handle) run inside it, as Node's AsyncResource and
// napi_make_callback do for callbacks set up earlier. AsyncLocalStorage stores
// (request ids, tracing spans) then see the values of whoever registered the
// handle, not of whatever woke the event loop.
//
// An AsyncResource rather than AsyncLocalStorage.snapshot(): on Node 20.20
// snapshot() took 25-70 us per call here (a new AsyncResource 1-2 us), and
// the two run a function the same way (runInAsyncScope).
//
// Off by default and free when off: the registry's prototype methods are
// untouched; an opted-in registry gets own register / registerWeak / release
// methods that wrap them (installHandleContexts), so registries without the
// option never run a branch for it.
import { AsyncResource } from 'node:async_hooks'
import { InvalidOptionError, describeValue } from './errors'

// Handles spread over this many Maps (by their low bits: the slot offset),
// since one Map stops at 2^24 entries and a registry holds more handles.
const MAPS = 16

/** The captured context of each live handle of one registry. */
export class HandleContexts {
  readonly #maps: Map<number, AsyncResource>[] = Array.from({ length: MAPS }, () => new Map())

  /** Captures the current async context for `h` (at register). */
  capture(h: number): void {
    this.#maps[h % MAPS].set(h, new AsyncResource('HandleRegistry:handle'))
  }

  /** Drops the context of `h` (at release). */
  forget(h: number): void {
    this.#maps[h % MAPS].delete(h)
  }

  /** Drops every context (at close). */
  clear(): void {
    for (const m of this.#maps) m.clear()
  }

  /** Handles with a captured context. */
  get size(): number {
    let n = 0
    for (const m of this.#maps) n += m.size
    return n
  }

  /**
   * Runs fn(...args) inside the context captured for handle `h`, or in the
   * current one if `h` has none (not registered here, or released). What
   * fn returns or throws passes through.
   */
  run<A extends unknown[], R>(h: number, fn: (...args: A) => R, ...args: A): R {
    const resource = this.#maps[h % MAPS].get(h)
    return resource === undefined ? fn(...args) : resource.runInAsyncScope(fn, null, ...args)
  }

  /**
   * `handler` wrapped so that each call runs in the context of the handle it
   * is called with (argument `handleAt`, e.g. 3 for an EventHandler). For the
   * event channel, and for any other handler keyed by a handle (calls).
   */
  bind<A extends unknown[], R>(handler: (...args: A) => R, handleAt: number): (...args: A) => R {
    return (...args: A): R => this.run(args[handleAt] as number, handler, ...args)
  }
}

/** The `asyncContext` option: true or false (default false); ERR_INVALID_OPTION otherwise. */
export function asyncContextOption(value: unknown): boolean {
  if (value === undefined) return false
  if (typeof value !== 'boolean') {
    throw new InvalidOptionError(`Expected the "asyncContext" option to be a boolean, got ${describeValue(value)}`)
  }
  return value
}

/** The registry methods that make and end handles, as the registry's prototype has them. */
interface Registering {
  register(value: unknown): number
  registerWeak(value: object): number
  release(h: number): unknown
}

/**
 * Gives `registry` own register / registerWeak / release methods that capture
 * and drop each handle's context around its prototype's; returns the contexts.
 */
export function installHandleContexts(registry: object): HandleContexts {
  const contexts = new HandleContexts()
  const proto = Object.getPrototypeOf(registry) as Registering
  const { register, registerWeak, release } = proto
  Object.defineProperties(registry, {
    register: {
      value: function (this: Registering, value: unknown): number {
        const h = register.call(this, value)
        contexts.capture(h)
        return h
      },
      configurable: true,
      writable: true,
    },
    registerWeak: {
      value: function (this: Registering, value: object): number {
        const h = registerWeak.call(this, value)
        contexts.capture(h)
        return h
      },
      configurable: true,
      writable: true,
    },
    release: {
      value: function (this: Registering, h: number): unknown {
        const value = release.call(this, h) // throws for a handle that is not live: nothing to forget
        contexts.forget(h)
        return value
      },
      configurable: true,
      writable: true,
    },
  })
  return contexts
}
