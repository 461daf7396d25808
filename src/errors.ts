// Every error the package throws: an Error subclass with a stable `code`.
// Messages start with the package name and say what was wrong.

const PREFIX = 'handle-registry: '

/** The `code` of every error this package throws. */
export type HandleRegistryErrorCode =
  | 'ERR_HANDLE_INVALID' | 'ERR_HANDLE_STALE' | 'ERR_HANDLE_FOREIGN' | 'ERR_HANDLE_COLLECTED'
  | 'ERR_REGISTRY_CLOSED' | 'ERR_DOMAIN_EXHAUSTED' | 'ERR_INVALID_OPTION' | 'ERR_NATIVE_UNAVAILABLE'
  | 'ERR_ILLEGAL_CONSTRUCTOR' | 'ERR_CALL_REPLY_INVALID'

/** Base class of every error thrown by handle-registry. */
export class HandleRegistryError extends Error {
  readonly code: HandleRegistryErrorCode
  constructor(code: HandleRegistryErrorCode, message: string) {
    super(PREFIX + message)
    this.code = code
    this.name = new.target.name
  }
}

/**
 * A value as an error message quotes it: numbers as they are, anything else
 * with its type, so `"16" (a string)` never reads as the number 16.
 */
export function describeValue(v: unknown): string {
  switch (typeof v) {
    case 'number': return Object.is(v, -0) ? '-0' : String(v)
    case 'string': return `${JSON.stringify(v)} (a string)`
    case 'bigint': return `${v}n (a bigint)`
    case 'boolean': return `${v} (a boolean)`
    case 'undefined': return 'undefined'
    case 'symbol': return 'a symbol'
    case 'function': return 'a function'
    default: return v === null ? 'null' : Array.isArray(v) ? 'an array' : 'an object'
  }
}

function describe(h: unknown): string {
  if (typeof h === 'bigint') return `${h}n`
  if (typeof h === 'string') return JSON.stringify(h)
  if (typeof h === 'number') return String(h)
  if (h === null) return 'null'
  return typeof h === 'object' ? 'an object' : typeof h === 'function' ? 'a function' : String(h)
}

/** Malformed input, or a well-formed number that this domain never issued. */
export class InvalidHandleError extends HandleRegistryError {
  declare readonly code: 'ERR_HANDLE_INVALID'
  readonly handle: unknown
  constructor(handle: unknown, why: string) {
    super('ERR_HANDLE_INVALID', `${describe(handle)} is not a valid handle: ${why}`)
    this.handle = handle
  }
}

/** The handle was released (or its slot reused since). */
export class StaleHandleError extends HandleRegistryError {
  declare readonly code: 'ERR_HANDLE_STALE'
  readonly handle: number
  constructor(handle: number) {
    super('ERR_HANDLE_STALE', `handle ${handle} was released`)
    this.handle = handle
  }
}

/** The handle belongs to another registry of the same domain (another thread, another instance, or a closed one). */
export class ForeignHandleError extends HandleRegistryError {
  declare readonly code: 'ERR_HANDLE_FOREIGN'
  readonly handle: number
  readonly owner: number
  constructor(handle: number, owner: number, mine: number, closed: boolean) {
    super('ERR_HANDLE_FOREIGN',
      `handle ${handle} belongs to ${closed ? 'a closed registry' : `registry #${owner}`}, not to registry #${mine}`)
    this.handle = handle
    this.owner = owner
  }
}

/** A weak handle whose value has been garbage-collected. */
export class CollectedHandleError extends HandleRegistryError {
  declare readonly code: 'ERR_HANDLE_COLLECTED'
  readonly handle: number
  constructor(handle: number) {
    super('ERR_HANDLE_COLLECTED', `the value of weak handle ${handle} was garbage-collected`)
    this.handle = handle
  }
}

/** The registry was closed. */
export class RegistryClosedError extends HandleRegistryError {
  declare readonly code: 'ERR_REGISTRY_CLOSED'
  constructor(what: string) {
    super('ERR_REGISTRY_CLOSED', `cannot ${what}: the registry is closed`)
  }
}

/** The domain ran out of registry slots or blocks. */
export class DomainExhaustedError extends HandleRegistryError {
  declare readonly code: 'ERR_DOMAIN_EXHAUSTED'
  constructor(what: string) {
    super('ERR_DOMAIN_EXHAUSTED', what)
  }
}

/** A bad option or argument (not a handle). */
export class InvalidOptionError extends HandleRegistryError {
  declare readonly code: 'ERR_INVALID_OPTION'
  constructor(message: string) {
    super('ERR_INVALID_OPTION', message)
  }
}

/**
 * A feature that needs the native domain was used on a registry without it:
 * `reason` says which of the cases it is (addon not loaded and why, disabled
 * by HANDLE_REGISTRY_NO_NATIVE=1, or a registry on a HandleDomain.create()
 * domain while the addon is loaded).
 */
export class NativeUnavailableError extends HandleRegistryError {
  declare readonly code: 'ERR_NATIVE_UNAVAILABLE'
  constructor(what: string, reason: string) {
    super('ERR_NATIVE_UNAVAILABLE', `${what} needs the native domain: ${reason}`)
  }
}

/** `new HandleDomain()`: domains come from HandleDomain.default, create() or attach(). */
export class IllegalConstructorError extends HandleRegistryError {
  declare readonly code: 'ERR_ILLEGAL_CONSTRUCTOR'
  constructor(what: string, instead: string) {
    super('ERR_ILLEGAL_CONSTRUCTOR', `${what} has no public constructor: use ${instead}`)
  }
}

/** A call handler (registry.onCall) answered with something that is neither a number nor a Uint8Array. */
export class InvalidReplyError extends HandleRegistryError {
  declare readonly code: 'ERR_CALL_REPLY_INVALID'
  constructor(got: unknown) {
    super('ERR_CALL_REPLY_INVALID', `a call handler must return a number or a Uint8Array (or a Promise of one), got ${describeValue(got)}`)
  }
}
