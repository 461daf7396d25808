'use strict'
// The ring loop after `register` was optimised on its own, as in an
// application that registers from many call sites: V8 then counts register
// against the caller's inlining budget (920 bytes of bytecode) with its own
// optimised code, bump included (346 bytes), and whether register still fits
// depended on the order V8 takes the loop's calls in (their call counts).
// runner.js, whose fill loop inlines register, mostly never shows this.
// Two loops, 1,000 live handles, a fresh registry per sample:
//   ring  - register, get, release every step (runner.js's churn)
//   reads - a get every step, a register + release every other step
// Prints the minimum ns per step over 200 samples of 6,000 steps.
//
//   node bench/registry/inlining.js              (BENCH_DIST works here too)
//   node --allow-natives-syntax --trace-turbo-inlining bench/registry/inlining.js child ring
const { execFileSync } = require('child_process')
const { DIST } = require('./impls')

const N = 1000
const STEPS = 6000
const SAMPLES = 200

function child (loop) {
  const { HandleRegistry, HandleDomain } = require(DIST)
  const pool = Array.from({ length: 1024 }, (_, k) => ({ k }))
  const domain = HandleDomain.create()
  const ring = new Array(N).fill(0)
  let reg = new HandleRegistry({ domain })
  for (let i = 0; i < N; i++) ring[i] = reg.register(pool[i & 1023])
  // register optimised alone, after a fill gave bump its feedback.
  const prepare = new Function('f', '%PrepareFunctionForOptimization(f)')
  const optimize = new Function('f', '%OptimizeFunctionOnNextCall(f)')
  prepare(reg.register)
  reg.release(reg.register(pool[0]))
  optimize(reg.register)
  reg.release(reg.register(pool[0]))

  const steps = loop === 'ring'
    ? (reg) => {
        let pos = 0
        let acc = 0
        for (let j = 0; j < STEPS; j++) {
          const h = reg.register(pool[j & 1023])
          acc += reg.get(h).k
          const old = ring[pos]
          ring[pos] = h
          reg.release(old)
          if (++pos === N) pos = 0
        }
        return acc
      }
    : (reg) => {
        let pos = 0
        let acc = 0
        for (let j = 0; j < STEPS; j++) {
          acc += reg.get(ring[pos]).k
          if ((j & 1) === 0) {
            const old = ring[pos]
            ring[pos] = reg.register(pool[j & 1023])
            acc += reg.release(old).k
          }
          if (++pos === N) pos = 0
        }
        return acc
      }

  let best = Infinity
  let sink = 0
  for (let s = 0; s < SAMPLES; s++) {
    reg.close()
    reg = new HandleRegistry({ domain })
    for (let i = 0; i < N; i++) ring[i] = reg.register(pool[i & 1023])
    const t0 = process.hrtime.bigint()
    sink += steps(reg)
    const ns = Number(process.hrtime.bigint() - t0) / STEPS
    if (s >= 5 && ns < best) best = ns
  }
  if (!(sink > 0)) throw new Error('no values read')
  console.log(JSON.stringify({ loop, nsPerStep: +best.toFixed(2) }))
}

if (process.argv[2] === 'child') {
  child(process.argv[3])
} else {
  for (const loop of ['ring', 'reads']) {
    process.stdout.write(execFileSync(process.execPath, ['--allow-natives-syntax', __filename, 'child', loop], { encoding: 'utf8' }))
  }
}
