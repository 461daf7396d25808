// handle-registry: stable integer handles for JS values (see README.md).
export { HandleRegistry } from './registry'
export type { Handle, RegistryOptions, RegistryStats, ScopedHandle } from './registry'
export { HandleDomain } from './domain'
export type { HandleOwner } from './domain'
export { decodeHandle, HANDLE_LAYOUT } from './layout'
export type { DecodedHandle } from './layout'
export {
  HandleRegistryError, InvalidHandleError, StaleHandleError, ForeignHandleError, CollectedHandleError,
  RegistryClosedError, DomainExhaustedError, InvalidOptionError,
} from './errors'
