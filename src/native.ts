// Loads the package's addon (prebuilt or locally built) through node-gyp-build.
// The registry works without it (pure TypeScript); with it, the domain is
// process-wide and native threads can post events to JS.
import * as path from 'node:path'

/** The flat functions of native/src (see docs/native.md). */
export interface NativeBinding {
  abi_version: number
  domain_buffer(): ArrayBuffer
  /** Only in a build without external ArrayBuffers (Electron): refreshes words of this thread's domain copy. */
  domain_sync?(first: number, count: number): void
  /** A free owner index and its token (owner 0, no token: all taken). */
  claim_owner(): { owner: number; token: OwnerToken }
  /** block + base * 2^20 (base: the first generation to issue in it), or 0 when none is left. */
  claim_block(owner: OwnerToken, shard: number, page: number): number
  /** `count` blocks for shards shard.. as pages page..: out[i] = block + base * 2^20; how many it claimed. */
  claim_block(owner: OwnerToken, shard: number, page: number, count: number, out: Float64Array): number
  /** used: per page, the slots its registry ever issued (bounds the scan for generation bases). */
  release_owner(owner: OwnerToken, used?: Uint16Array): void
  alloc_state(owner: OwnerToken, slots: number): ArrayBuffer
  /** batch: [handle, kind, payload, size] records; arena: where byte events' bytes are copied (optional). */
  open_events(owner: OwnerToken, capacity: number, batch: Float64Array, callback: (count: number) => void, arena?: Uint8Array): void
  close_events(owner: OwnerToken): void
  /** onEvent's whenFull for the open path: code (0 drop, 1 block, 2 grow), timeout ms (2^32-1: none), overflow bytes. */
  set_when_full(owner: OwnerToken, code: number, timeoutMs: number, overflowBytes: number): void
  post(handle: number, kind: number, payload: number): number
  is_live(handle: number): boolean
  /** Counters of an owner (its token or index; 0: events no owner could be charged with). */
  event_stats(owner: OwnerToken | number): NativeEventStats
  /** The C ABI table as an opaque, type-tagged external (registry.nativeApi). */
  native_api(): NativeApi
  /** For api->resolve (native/src/resolve.cc): the registry's table of value chunks (published once), and weak handles' targets (-> status). */
  publish_values(owner: OwnerToken, table: unknown[][]): void
  note_weak(owner: OwnerToken, handle: number, target: object): number
  /** registry.ref() / unref() (native/src/hold.cc): whether api->hold keeps the loop alive. */
  set_ref(owner: OwnerToken, ref: boolean): void
  /** api->call (native/src/calls.cc): answers call `id` (status 0 with the reply; 14 threw, 4 closed, 2 stale). */
  call_reply(owner: OwnerToken, id: number, status: number, reply?: number | Uint8Array): boolean
  /** offCall while events keep the path open: callers of calls handed to JS get REGISTRY_CLOSED. */
  cancel_calls(owner: OwnerToken): void
}

declare const ownerTokenBrand: unique symbol
/** Proof of an owner claim: an opaque external the addon tagged; JS cannot forge one. */
export type OwnerToken = object & { readonly [ownerTokenBrand]: true }

declare const nativeApiBrand: unique symbol
/**
 * `registry.nativeApi`: an opaque object (a type-tagged napi_external) that
 * only `hr::attach` in another addon can open. It is not an address; JS can
 * neither read nor forge it.
 */
export type NativeApi = object & { readonly [nativeApiBrand]: true }

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
  /** Posts that waited for room (whenFull 'block', api->post_wait) until their timeout: status timeout. */
  droppedTimeout: number
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
    // HANDLE_REGISTRY_ADDON: an explicit .node file (the sanitizer builds
    // of scripts/build-sanitized.sh, which the test runner loads this way).
    const explicit = process.env.HANDLE_REGISTRY_ADDON
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    loaded = (explicit ? require(path.resolve(explicit)) : require('node-gyp-build')(path.join(__dirname, '..'))) as NativeBinding
  } catch (err) {
    loadError = new Error(`${(err as Error).message.split('\n')[0]}; to enable it: install a C++ toolchain, then \`npm rebuild handle-registry\``)
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
