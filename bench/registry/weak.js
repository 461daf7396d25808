'use strict'
// The weak regime, one measurement in its own process (forked by run.js
// through runner.js): N objects, kept alive by the harness, are registered
// weakly, got back through each handle, then released; phases timed apart,
// on a new instance each sample.
//
//   impl: registry   HandleRegistry.registerWeak / get / release
//         weakmap    the naive design: a Map from a counter to a WeakRef, a
//                    FinalizationRegistry deleting collected entries,
//                    unregistered on release
//         deref      floor for get: WeakRef.deref() over the same objects
//                    (register = new WeakRef, release = drop it)
//         strong     HandleRegistry.register / get / release of the same
//                    objects (strong): weak get's target is deref + strong get
const { loadRegistry } = require('./impls')

class NaiveWeakMap {
  constructor () {
    this.m = new Map()
    this.id = 0
    this.fr = new FinalizationRegistry((h) => { this.m.delete(h) })
  }

  register (v) {
    const h = ++this.id
    const ref = new WeakRef(v)
    this.m.set(h, ref)
    this.fr.register(v, h, ref)
    return h
  }

  get (h) {
    const ref = this.m.get(h)
    if (ref === undefined) throw new Error(`invalid handle ${h}`)
    const v = ref.deref()
    if (v === undefined) throw new Error(`collected handle ${h}`)
    return v
  }

  release (h) {
    const ref = this.m.get(h)
    if (ref === undefined) throw new Error(`invalid handle ${h}`)
    this.m.delete(h)
    this.fr.unregister(ref)
    return ref.deref()
  }
}

// Handle = index + 1 into an array of WeakRefs: the cost of deref alone.
class DerefOnly {
  constructor () { this.refs = [] }
  register (v) { return this.refs.push(new WeakRef(v)) }
  get (h) { return this.refs[h - 1].deref() }
  release (h) { const v = this.refs[h - 1].deref(); this.refs[h - 1] = undefined; return v }
}

function weak (cfg) {
  const N = cfg.size
  const gc = typeof global.gc === 'function' ? global.gc : () => {}
  const HR = cfg.impl === 'registry' || cfg.impl === 'strong' ? loadRegistry() : null
  let domain = null
  function newInstance () {
    switch (cfg.impl) {
      case 'registry':
      case 'strong':
        if (!domain || 2 ** 20 - 2 - domain.stats().blocksClaimed < Math.ceil(N / 256) + 256) domain = HR.HandleDomain.create()
        return new HR.HandleRegistry({ domain })
      case 'weakmap': return new NaiveWeakMap()
      case 'deref': return new DerefOnly()
      default: throw new Error('unknown impl ' + cfg.impl)
    }
  }
  const objs = Array.from({ length: N }, (_, k) => ({ k }))
  const hs = new Array(N).fill(0)
  let sink = 0
  const reg = cfg.impl === 'registry'
    ? (r) => { for (let i = 0; i < N; i++) hs[i] = r.registerWeak(objs[i]) }
    : (r) => { for (let i = 0; i < N; i++) hs[i] = r.register(objs[i]) }
  function getEach (r) { let acc = 0; for (let i = 0; i < N; i++) acc += r.get(hs[i]).k; sink += acc }
  function releaseEach (r) { for (let i = 0; i < N; i++) r.release(hs[i]) }
  const now = process.hrtime.bigint
  const instancesPerSample = Math.max(1, Math.ceil(2 ** 16 / N))
  // One instance: a warm-up fill (slots exist, so register is measured into
  // reused slots, not growth), then register / get / release timed.
  function sample () {
    const t = [0n, 0n, 0n]
    for (let k = 0; k < instancesPerSample; k++) {
      const r = newInstance()
      reg(r); releaseEach(r)
      const t0 = now(); reg(r)
      const t1 = now(); getEach(r)
      const t2 = now(); releaseEach(r)
      const t3 = now()
      t[0] += t1 - t0; t[1] += t2 - t1; t[2] += t3 - t2
      if (typeof r.close === 'function') r.close()
    }
    return t.map((x) => Number(x) / (N * instancesPerSample))
  }
  const timeMs = cfg.timeMs ?? 400
  const minSamples = cfg.minSamples ?? 5
  const samples = []
  const t0 = Date.now()
  for (let i = 0; samples.length < minSamples || Date.now() - t0 < timeMs; i++) {
    gc() // FinalizationRegistry cells and released WeakRefs from the last sample: never inside a timed phase
    const s = sample()
    if (i >= 2) samples.push(s)
    if (samples.length >= 100) break
  }
  const q = (xs, f) => [...xs].sort((a, b) => a - b)[Math.floor(f * (xs.length - 1))]
  const phases = {}
  ;['register', 'get', 'release'].forEach((p, j) => {
    const xs = samples.map((s) => s[j])
    phases[p] = { p10: q(xs, 0.1), p50: q(xs, 0.5), min: q(xs, 0) }
  })
  const total = samples.map((s) => s[0] + s[1] + s[2])
  return {
    impl: cfg.impl, size: N, regime: 'weak', op: 'weak', samples: samples.length, sink: sink % 7,
    nsPerOp: q(total, 0.1), nsP50: q(total, 0.5), nsMin: q(total, 0), phases, heapHandleFraction: 0, node: process.version,
  }
}

module.exports = { weak }
