'use strict'
// The registry and its baselines, behind one shape: register(v) -> handle,
// get(h) -> value, release(h) -> value. Shared by bench/registry and
// bench/memory. Each baseline is written the way a careful hand-written
// version would be, with the same Smi fast path the registry uses, so the
// comparison is against a good slab, not a strawman.

const path = require('path')

// BENCH_DIST=/path/to/index.js benchmarks another build (A/B of an optimisation).
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(__dirname, '..', '..', 'dist', 'index.js')

// --- 1. wasm-bindgen heap pattern: array slab, intrusive free list, no check.
// handle = index + 1 (0 stays "none"). A released handle silently aliases the
// next value put in its slot.
class BareSlab {
  constructor () {
    this.vals = []
    this.next = -1 // head of the free list (index), -1 = empty
  }

  register (v) {
    let i = this.next
    if (i < 0) {
      i = this.vals.length
      this.vals.push(v)
    } else {
      this.next = this.vals[i]
      this.vals[i] = v
    }
    return i + 1
  }

  get (h) {
    return this.vals[h - 1]
  }

  release (h) {
    const i = h - 1
    const v = this.vals[i]
    this.vals[i] = this.next
    this.next = i
    return v
  }
}

// --- 2. Slab with free list and a generation per slot, checked on get/release.
// handle = gen * 2^24 + index + 1, gen in a Uint32Array. The index field holds
// index + 1 in 1 .. 2^24 - 1 (so at most 16,777,215 slots), the generation
// 29 bits (gen * 2^24 stays below 2^53). NOT gen * 2^32: that leaves 21 bits
// of generation and overflows 2^53 after 2^21 reuses of a slot.
// A handle is a Smi (< 2^31) while gen < 128. The generation wraps after 2^29
// reuses (aliasing, like slotmap), which no benchmark gets near.
const G_SPAN = 2 ** 24
const G_MASK = G_SPAN - 1
const G_GEN_MASK = 2 ** 29 - 1

class GenSlab {
  constructor () {
    this.vals = []
    this.gens = new Uint32Array(1024)
    this.next = -1
  }

  register (v) {
    let i = this.next
    if (i < 0) {
      i = this.vals.length
      if (i >= G_MASK - 1) throw new RangeError('GenSlab is full')
      this.vals.push(v)
      if (i === this.gens.length) {
        const g = new Uint32Array(this.gens.length * 2)
        g.set(this.gens)
        this.gens = g
      }
    } else {
      this.next = this.vals[i]
      this.vals[i] = v
    }
    return this.gens[i] * G_SPAN + i + 1
  }

  // Index of the live handle h; throws for a stale one.
  find (h) {
    let low, gen
    if ((h | 0) === h) {
      low = h & G_MASK
      gen = h >>> 24
    } else {
      // Heap-number handle. Not h % G_SPAN: `%` on doubles is a call into C
      // in V8 (~8 ns here); dividing by a power of two and flooring is exact
      // below 2^53 and takes ~1 ns.
      gen = Math.floor(h / G_SPAN)
      low = h - gen * G_SPAN
    }
    const i = low - 1
    if (h > 0 && i < this.vals.length && this.gens[i] === gen) return i
    throw new Error(`stale or invalid handle ${h}`)
  }

  get (h) {
    return this.vals[this.find(h)]
  }

  release (h) {
    const i = this.find(h)
    const v = this.vals[i]
    this.gens[i] = (this.gens[i] + 1) & G_GEN_MASK
    this.vals[i] = this.next
    this.next = i
    return v
  }

  // Benchmark helper for the "sustained churn" regime: the state every slot is
  // in after `gen` reuses (a generation is only a counter, so setting it is
  // the same state as churning to it, minus the hours).
  age (gen) {
    this.gens.fill(gen)
  }
}

// --- 3. Go's runtime/cgo.Handle ported to JS: a Map keyed by a counter.
// Go: NewHandle = atomic.AddUintptr + sync.Map.Store; Value = Load, panics if
// missing; Delete = LoadAndDelete, panics if missing.
class MapHandles {
  constructor (start = 0) {
    this.m = new Map()
    this.id = start
  }

  register (v) {
    const h = ++this.id
    this.m.set(h, v)
    return h
  }

  get (h) {
    const v = this.m.get(h)
    if (v === undefined && !this.m.has(h)) throw new Error(`invalid handle ${h}`)
    return v
  }

  release (h) {
    const v = this.m.get(h)
    if (!this.m.delete(h)) throw new Error(`invalid handle ${h}`)
    return v
  }
}

function loadRegistry () {
  return require(DIST)
}

const NAMES = {
  registry: 'HandleRegistry',
  genslab: 'gen-check slab (gen*2^24+i+1)',
  bareslab: 'bare slab, no gen (wasm-bindgen)',
  map: 'Map + counter (cgo.Handle)',
  native: 'HandleRegistry, native domain',
  weakmap: 'Map of WeakRefs + FinalizationRegistry',
  deref: 'WeakRef.deref() alone (floor for get)',
  strong: 'HandleRegistry, strong register/get/release',
}

module.exports = { BareSlab, GenSlab, MapHandles, loadRegistry, NAMES, DIST }
