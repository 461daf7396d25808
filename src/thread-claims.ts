// What the registries of this thread hold in one pure-TypeScript domain, in
// memory only this thread writes. A SharedArrayBuffer domain keeps its
// counters, pool and generation bases where every attached thread (and any
// code holding the buffer) can write; garbage there could hand a block that a
// registry of this thread still holds to another of its registries, or a
// block back with a base below generations this thread already issued in it.
// Checked against these records, neither can happen between registries of
// one thread, whatever the buffer says. (Between threads nothing but that
// buffer is shared synchronously, so there it stays a residual risk:
// docs/design.md, "Threat model".)
import { L } from './layout'

export class ThreadClaims {
  // Both indexed by block, allocated at first use (5 MiB of zeroed memory
  // that costs RSS only where written).
  #held: Uint8Array | null = null
  #floor: Int32Array | null = null

  /** Whether a registry of this thread holds `block` now. */
  holds(block: number): boolean {
    return this.#held !== null && this.#held[block] === 1
  }

  /** The lowest generation base a claim of `block` may start from: above every generation this thread issued in it. */
  floor(block: number): number {
    return this.#floor === null ? 0 : this.#floor[block]
  }

  claimed(block: number): void {
    (this.#held ??= new Uint8Array(L.MAX_BLOCKS))[block] = 1
  }

  /** `block` went back to the domain; its next owner must start at `base` or above. */
  released(block: number, base: number): void {
    if (this.#held !== null) this.#held[block] = 0
    if (base > this.floor(block)) (this.#floor ??= new Int32Array(L.MAX_BLOCKS))[block] = base
  }
}

// Keyed by the buffer object: every HandleDomain of this thread over the same
// SharedArrayBuffer object shares one record.
const byBuffer = new WeakMap<SharedArrayBuffer, ThreadClaims>()

export function threadClaimsOf(buffer: SharedArrayBuffer): ThreadClaims {
  let c = byBuffer.get(buffer)
  if (c === undefined) byBuffer.set(buffer, (c = new ThreadClaims()))
  return c
}
