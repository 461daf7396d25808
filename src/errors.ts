// Every error the package throws: an Error subclass with a stable `code`.
// Messages start with the package name and say what was wrong.

const PREFIX = 'handle-registry: '

/** Base class of every error thrown by handle-registry. */
export class HandleRegistryError extends Error {
  readonly code: string
  constructor(code: string, message: string) {
    super(PREFIX + message)
    this.code = code
    this.name = new.target.name
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

/** A feature that needs the native addon was used while the addon is not loaded. */
export class NativeUnavailableError extends HandleRegistryError {
  declare readonly code: 'ERR_NATIVE_UNAVAILABLE'
  constructor(what: string, cause?: Error) {
    super('ERR_NATIVE_UNAVAILABLE', `${what} needs the native addon, which is not loaded` +
      (cause ? ` (${cause.message.split('\n')[0]})` : ' (HANDLE_REGISTRY_NO_NATIVE=1, or a registry on a HandleDomain.create() domain)'))
  }
}
