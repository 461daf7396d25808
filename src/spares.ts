// Storage that closed registries leave behind, kept for the next registry of
// this thread: a server that creates and closes small registries all day
// would otherwise allocate (and the GC reclaim) a value array and a state
// array per lifetime. Only arrays of a first growth's size are kept (at most
// 16 pages: 32 KiB of values, a registry's value chunk 0, and 16 KiB of
// states), a few of each, so what is
// kept stays small. Whoever gives an array back has cleared it and holds no
// other reference to it; a thread's registries never share one.
export const SPARE_MAX_CELLS = 16 * 256
const KEEP = 4

export class SparePool<A extends { length: number }> {
  readonly #kept: A[] = []

  /** A kept array of exactly `cells` cells, or undefined. */
  take(cells: number): A | undefined {
    const kept = this.#kept
    for (let i = kept.length - 1; i >= 0; i--) {
      const a = kept[i]
      if (a.length === cells) {
        kept[i] = kept[kept.length - 1]
        kept.pop()
        return a
      }
    }
    return undefined
  }

  /** Keeps a cleared array (in its pristine state) if it is small and there is room. */
  give(a: A): void {
    if (a.length > 0 && a.length <= SPARE_MAX_CELLS && this.#kept.length < KEEP) this.#kept.push(a)
  }
}

/** Value chunks 0 (holey, every cell undefined or a hole) of closed registries that never grew past them. */
export const spareValues = new SparePool<unknown[]>()
/** State arrays (all zero) of closed registries of pure-TypeScript domains (native ones live in native memory). */
export const spareStates = new SparePool<Int32Array>()
/** The state of a registry before its first page and after close (length 0: nothing can be written to it). */
export const EMPTY_STATE = new Int32Array(0)
