// Loads the package's addon (prebuilt or locally built) through node-gyp-build.
// The registry works without it (pure TypeScript); with it, the domain is
// process-wide and native threads can post events to JS.
import * as path from 'node:path'

/** The flat functions of native/src (see docs/native.md). */
export interface NativeBinding {
  abi_version: number
  domain_buffer(): ArrayBuffer
  claim_owner(): number
  claim_block(owner: number, shard: number, page: number): number
  release_owner(owner: number, blocks: Int32Array): void
  alloc_state(owner: number, slots: number): ArrayBuffer
  /** batch: [handle, kind, payload, size] records; arena: where byte events' bytes are copied (optional). */
  open_events(owner: number, capacity: number, batch: Float64Array, callback: (count: number) => void, arena?: Uint8Array): void
  close_events(owner: number): void
  post(handle: number, kind: number, payload: number): number
  is_live(handle: number): boolean
  event_stats(owner: number): NativeEventStats
  api_pointer(): bigint
  /** For api->resolve (native/src/resolve.cc): the registry's values array, and weak handles' targets. */
  publish_values(owner: number, vals: unknown[]): void
  note_weak(handle: number, target: object): number
  /** registry.ref() / unref() (native/src/hold.cc): whether api->hold keeps the loop alive. */
  set_ref(owner: number, ref: boolean): void
}

export interface NativeEventStats {
  posted: number
  delivered: number
  droppedStale: number
  droppedClosed: number
  droppedFull: number
  droppedAtClose: number
  droppedInvalid: number
  /** Byte events (api->post_bytes) larger than HR_MAX_BYTES (64 KiB): status payload_too_large. */
  droppedTooLarge: number
  /** Events queued and not yet delivered. */
  pending: number
}

let loaded: NativeBinding | null | undefined
let loadError: Error | undefined

/** The addon, or null when it is absent or HANDLE_REGISTRY_NO_NATIVE=1. */
export function nativeBinding(): NativeBinding | null {
  if (loaded !== undefined) return loaded
  loaded = null
  if (process.env.HANDLE_REGISTRY_NO_NATIVE === '1') return loaded
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = require('node-gyp-build')(path.join(__dirname, '..')) as NativeBinding
  } catch (err) {
    loadError = err as Error
  }
  return loaded
}

/** Why the addon is not loaded, with the fix, for ERR_NATIVE_UNAVAILABLE messages. */
export function whyNoNative(): string {
  if (nativeBinding() !== null) return 'the native addon is loaded'
  if (loadError === undefined) return 'the native addon is disabled by HANDLE_REGISTRY_NO_NATIVE=1'
  return `the native addon did not load (${loadError.message.split('\n')[0]}); ` +
    'install a C++ toolchain, then run `npm rebuild handle-registry`'
}

/** Why the addon did not load, if it did not. */
export function nativeLoadError(): Error | undefined {
  nativeBinding()
  return loadError
}
