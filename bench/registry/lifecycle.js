'use strict'
// The lifecycle regime, one measurement in its own process (forked by run.js
// through runner.js): a new, empty instance per round; fill it with N values
// (register into a growing instance), get each, release each, then register
// N again (into reused slots) and release those. Phases are timed apart, so
// the table splits `register` into a growing instance from `register` into a
// reused slot. At 1K a sample runs many instances back to back (>= 2^18
// handles) so the clock's overhead stays below 0.1 ns a handle.
//
//   impl: registry (a HandleDomain.create() domain, the SharedArrayBuffer
//   backend), native (the default domain: the addon's native state memory),
//   genslab, bareslab, map.
const { BareSlab, GenSlab, MapHandles, loadRegistry } = require('./impls')

const POOL_MASK = 1023
const pool = Array.from({ length: POOL_MASK + 1 }, (_, k) => ({ k }))

function lifecycle (cfg) {
  const N = cfg.size
  const gc = typeof global.gc === 'function' ? global.gc : () => {}
  const HR = cfg.impl === 'registry' || cfg.impl === 'native' ? loadRegistry() : null
  let domain = cfg.impl === 'native' ? HR.HandleDomain.default : null
  if (cfg.impl === 'native' && !domain.isNative) throw new Error('the native addon is not loaded')
  const blocksPerInstance = Math.ceil(N / 256) + 256
  // Blocks are never reused within a domain: stop before the default one runs out.
  const blocksLeft = () => 2 ** 20 - 2 - domain.stats().blocksClaimed
  function newInstance () {
    switch (cfg.impl) {
      case 'registry':
        if (!domain || blocksLeft() < blocksPerInstance) domain = HR.HandleDomain.create()
        return new HR.HandleRegistry({ domain })
      case 'native':
        if (blocksLeft() < blocksPerInstance) return null
        return new HR.HandleRegistry()
      case 'genslab': return new GenSlab()
      case 'bareslab': return new BareSlab()
      case 'map': return new MapHandles()
      default: throw new Error('unknown impl ' + cfg.impl)
    }
  }

  const hs = new Array(N).fill(0)
  let sink = 0
  function fill (r) { for (let i = 0; i < N; i++) hs[i] = r.register(pool[i & POOL_MASK]) }
  function getEach (r) { let acc = 0; for (let i = 0; i < N; i++) acc += r.get(hs[i]).k; sink += acc }
  function releaseEach (r) { for (let i = 0; i < N; i++) r.release(hs[i]) }
  const now = process.hrtime.bigint
  const PHASES = ['grow', 'get', 'release', 'reuse', 'release2']
  const instancesPerSample = Math.max(1, Math.ceil(2 ** 18 / N))
  function sample () {
    const t = [0n, 0n, 0n, 0n, 0n]
    for (let k = 0; k < instancesPerSample; k++) {
      const r = newInstance()
      if (r === null) return null
      const t0 = now(); fill(r)
      const t1 = now(); getEach(r)
      const t2 = now(); releaseEach(r)
      const t3 = now(); fill(r)
      const t4 = now(); releaseEach(r)
      const t5 = now()
      t[0] += t1 - t0; t[1] += t2 - t1; t[2] += t3 - t2; t[3] += t4 - t3; t[4] += t5 - t4
      if (typeof r.close === 'function') r.close()
    }
    return t.map((x) => Number(x) / (N * instancesPerSample))
  }

  const big = N >= 5e6
  const timeMs = cfg.timeMs ?? 400
  const minSamples = cfg.minSamples ?? 5
  const warmup = big ? 1 : 3
  const samples = []
  const t0 = Date.now()
  for (let i = 0; samples.length < minSamples || Date.now() - t0 < timeMs; i++) {
    if (N >= 2 ** 16) gc() // between instances, never inside a timed phase
    const s = sample()
    if (s === null) break
    if (i >= warmup) samples.push(s)
    if (samples.length >= 200) break
  }
  if (samples.length === 0) throw new Error('no sample: domain exhausted')
  const col = (j) => samples.map((s) => s[j]).sort((a, b) => a - b)
  const q = (xs, f) => xs[Math.floor(f * (xs.length - 1))]
  const out = { impl: cfg.impl, size: N, regime: 'lifecycle', op: 'life', samples: samples.length, sink: sink % 7 }
  // life = fill from empty + get each + release each: what a user pays at start-up.
  const life = samples.map((s) => s[0] + s[1] + s[2]).sort((a, b) => a - b)
  out.nsPerOp = q(life, 0.1)
  out.nsP50 = q(life, 0.5)
  out.nsMin = life[0]
  out.phases = {}
  PHASES.forEach((p, j) => {
    const xs = col(j)
    out.phases[p] = { p10: q(xs, 0.1), p50: q(xs, 0.5), min: xs[0] }
  })
  out.heapHandleFraction = 0
  out.node = process.version
  return out
}

module.exports = { lifecycle }
