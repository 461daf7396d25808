'use strict'
// One measurement in its own process: node --expose-gc runner.js '<json>'
//   { impl: registry|genslab|bareslab|map, size: N, regime: fresh|sustained,
//     op: rgr|get, timeMs, minSamples }
// or { impl: registry|native|genslab|bareslab|map, size, regime: 'lifecycle' }
// (lifecycle.js: fill from empty, get each, release each), or
// { impl: registry|weakmap|deref|strong, size, regime: 'weak' } (weak.js).
// Prints one JSON line. bench/registry/run.js forks one of these per
// (implementation, size, regime, op) so that no implementation's JIT feedback
// (inline caches, elements kinds, optimised kernels) leaks into another's.
//
// Timing: tinybench, with each task call running a BATCH of operations.
// tinybench timestamps every call of the task function (performance.now()
// plus its own bookkeeping: a few hundred ns), which is as much as 10-100 of
// the operations measured here; calling it once per operation would measure
// tinybench. A batch is >= 6,000 operations, so its overhead is < 0.1 ns/op,
// and beforeEach gives the untimed per-sample setup the "fresh" regime needs.
//
// Access pattern ("ring"), identical for every implementation: N live handles
// sit in a ring; one operation registers a value, gets it back through the
// new handle, stores the handle in the ring and releases the oldest one. So N
// handles stay live throughout and every slot is reused once per N operations.
//
// Regimes (docs/design.md: a registry handle is a Smi while its slot's
// generation is < 8, a heap number after that):
//   fresh     - each slot is reused at most 6 times while measured (at most
//               6N operations per registry; a new one is built after that),
//               so every registry handle is a Smi.
//   sustained - the state after the same slots were reused many times: the
//               registry is churned (public API, 12N operations) until
//               generation > 8, so its handles are heap numbers; the gen-check
//               slab starts at generation 2^20 (its handles are Smis up to
//               gen 127 and a literal churn to 128 takes minutes at 10M; a
//               generation is only a counter, so setting it is the same
//               state); the Map's counter starts at 2^32 (a long-lived
//               cgo.Handle table has issued that many ids). The bare slab has
//               no per-slot state: same as fresh.
// The runner reports the fraction of live handles >= 2^31 at the end so the
// regime is verified, not assumed.
const { Bench } = require('tinybench')
const { BareSlab, GenSlab, MapHandles, loadRegistry } = require('./impls')

const cfg = JSON.parse(process.argv[2])
if (cfg.regime === 'lifecycle') {
  process.stdout.write(JSON.stringify(require('./lifecycle').lifecycle(cfg)) + '\n')
  process.exit(0)
}
if (cfg.regime === 'weak') {
  process.stdout.write(JSON.stringify(require('./weak').weak(cfg)) + '\n')
  process.exit(0)
}
const N = cfg.size
const FRESH = cfg.regime === 'fresh'
const SMI_LIMIT = 2 ** 31
// Full GCs around (never inside) timed batches, for large live sets only: a
// small one rebuilds every sample and a full GC would cost more than the batch.
const gc = typeof global.gc === 'function' && cfg.size >= 2 ** 16 ? global.gc : () => {}

// Values: a pool of distinct small objects, so get() returns real objects and
// `.k` forces a load, without allocating in the timed loop.
const POOL_MASK = 1023
const pool = Array.from({ length: POOL_MASK + 1 }, (_, k) => ({ k }))

let HR
let domain
function newInstance () {
  switch (cfg.impl) {
    case 'registry': {
      HR ??= loadRegistry()
      // Every registry built here claims fresh blocks (never reused in a
      // domain); switch to a new domain before this one could run out.
      const need = Math.ceil(N / 256) + 4096
      if (!domain || domain.stats().blocksClaimed + need > 2 ** 20 - 2) domain = HR.HandleDomain.create()
      return new HR.HandleRegistry({ domain, ...(cfg.shards ? { shards: cfg.shards } : {}) })
    }
    case 'genslab': return new GenSlab()
    case 'bareslab': return new BareSlab()
    case 'map': return new MapHandles(FRESH ? 0 : 2 ** 32)
    default: throw new Error('unknown impl ' + cfg.impl)
  }
}

// The measured kernel: `ops` register+get+release operations on the ring.
const st = { reg: null, ring: null, pos: 0, opsSinceBuild: 0, sink: 0 }
function churn (reg, ring, ops) {
  let pos = st.pos
  let acc = 0
  for (let j = 0; j < ops; j++) {
    const h = reg.register(pool[j & POOL_MASK])
    acc += reg.get(h).k
    const old = ring[pos]
    ring[pos] = h
    reg.release(old)
    if (++pos === N) pos = 0
  }
  st.pos = pos
  st.sink += acc
}

// The measured kernel for op=get: `L` lookups of live handles in random order.
function lookups (reg, ring, idx) {
  let acc = 0
  for (let i = 0; i < idx.length; i++) acc += reg.get(ring[idx[i]]).k
  st.sink += acc
}

function build () {
  if (st.reg && typeof st.reg.close === 'function') st.reg.close()
  st.reg = null
  st.ring = null
  gc()
  const reg = newInstance()
  const ring = new Array(N).fill(0)
  for (let i = 0; i < N; i++) ring[i] = reg.register(pool[i & POOL_MASK])
  st.reg = reg
  st.ring = ring
  st.pos = 0
  st.opsSinceBuild = 0
  if (!FRESH) {
    if (cfg.impl === 'genslab') {
      for (let i = 0; i < N; i++) reg.release(ring[i])
      reg.age(2 ** 20)
      for (let i = 0; i < N; i++) ring[i] = reg.register(pool[i & POOL_MASK])
    } else if (cfg.impl === 'registry') {
      // Churn until (nearly) every live handle is past generation 8.
      for (let round = 0; round < 4 && heapFraction() < 0.999; round++) churn(reg, ring, 12 * N)
    }
  }
  gc()
}

function heapFraction () {
  let big = 0
  for (let i = 0; i < N; i++) if (st.ring[i] >= SMI_LIMIT) big++
  return big / N
}

// Batch sizes. fresh: at most 6N operations per built instance (so a slot is
// reused <= 6 times: generation <= 6), in samples of <= 2^18 operations.
const BATCH = 2 ** 18
const opsPerSample = cfg.op === 'get' ? 2 ** 18 : (FRESH ? Math.min(6 * N, BATCH) : BATCH)
const maxOpsPerBuild = FRESH ? 6 * N : Infinity

let idx
if (cfg.op === 'get') {
  // Same pseudo-random index sequence for every implementation (xorshift32).
  idx = new Int32Array(opsPerSample)
  let x = 0x9e3779b9 | 0
  for (let i = 0; i < idx.length; i++) {
    x ^= x << 13; x ^= x >>> 17; x ^= x << 5
    idx[i] = (x >>> 0) % N
  }
}

const bench = new Bench({
  time: cfg.timeMs ?? 400,
  iterations: cfg.minSamples ?? 5,
  warmupTime: Math.min(200, cfg.timeMs ?? 400),
  warmupIterations: 2,
  retainSamples: true,
})

const t0 = Date.now()
build()
const buildMs = Date.now() - t0

if (cfg.op === 'get') {
  bench.add(cfg.impl, () => lookups(st.reg, st.ring, idx), { async: false })
} else {
  // async: false. Without it tinybench calls the task once inside add() to
  // see whether it returns a Promise, outside beforeEach: at 1K that call's
  // 6000 operations went uncounted, the first instance served 12N, its
  // generations passed 7 and its handles became heap numbers (2^31 and up),
  // so the "fresh" kernel was compiled for heap-number handles (an overflow
  // deopt in handleAt) and every later instance ran that code.
  bench.add(cfg.impl, () => churn(st.reg, st.ring, opsPerSample), {
    async: false,
    beforeEach () {
      if (st.opsSinceBuild + opsPerSample > maxOpsPerBuild) build()
      st.opsSinceBuild += opsPerSample
    },
  })
}
bench.runSync()
const r = bench.tasks[0].result
if (r.state !== 'completed') {
  console.error(r.error)
  process.exit(1)
}
const ns = (ms) => (ms * 1e6) / opsPerSample
// The machine is shared: a batch that loses its core to another process gets
// slower, never faster. The headline figure is the 10th percentile of the
// batch times (robust to that, less optimistic than the minimum); p50 and the
// minimum are reported too.
const sorted = [...r.latency.samples].sort((a, b) => a - b)
const p10 = sorted[Math.floor(0.1 * (sorted.length - 1))]
const out = {
  impl: cfg.impl,
  size: N,
  regime: cfg.regime,
  op: cfg.op,
  nsPerOp: ns(p10),
  nsP50: ns(r.latency.p50),
  nsMean: ns(r.latency.mean),
  nsMin: ns(r.latency.min),
  rme: r.latency.rme,
  samples: r.latency.samplesCount,
  opsPerSample,
  heapHandleFraction: heapFraction(),
  buildMs,
  node: process.version,
}
process.stdout.write(JSON.stringify(out) + '\n')
