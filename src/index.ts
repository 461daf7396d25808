// handle-registry: stable integer handles for JS values (see README.md).
export { HandleRegistry } from './registry'
export type { CallHandler, CallOptions, CallReply, EventErrorHandler, EventHandler, EventOptions, EventStats, WhenFull, Handle, RegistryOptions, RegistryStats, ScopedHandle } from './registry'
import { HandleDomain } from './domain'
export { HandleDomain }
export type { HandleOwner } from './domain'
export { decodeHandle, HANDLE_LAYOUT } from './layout'
export type { DecodedHandle } from './layout'
export type { NativeApi } from './native'
export {
  HandleRegistryError, InvalidHandleError, StaleHandleError, ForeignHandleError, CollectedHandleError,
  RegistryClosedError, DomainExhaustedError, InvalidOptionError, NativeUnavailableError, IllegalConstructorError,
  InvalidReplyError,
} from './errors'
export type { HandleRegistryErrorCode } from './errors'

/** Whether the native addon is loaded (events from native threads, process-wide domain). */
export function hasNative(): boolean {
  return HandleDomain.default.isNative
}

import * as nodePath from 'node:path'
/** Folder of the public C++ header, for other addons' binding.gyp `include_dirs`. */
export const include_dir: string = nodePath.join(__dirname, '..', 'native', 'include')
/** The gyp file whose `handle_registry_headers` target exports `include_dirs`. */
export const targets: string = nodePath.join(__dirname, '..', 'native', 'handle_registry.gyp')
/** `targets` plus the target name, for a binding.gyp `dependencies` entry. */
export const gyp: string = `${targets}:handle_registry_headers`
