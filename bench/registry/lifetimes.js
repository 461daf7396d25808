'use strict'
// What one registry lifetime costs: create a default registry (16 shards),
// register 16 values, close it; 100,000 times a round, 4 rounds, each domain
// mode in its own child process (the addon's default domain, and a
// HandleDomain.create() domain). Prints the best round per mode in wall and
// CPU time (CPU time: what the process used, GC threads included; less
// sensitive to other load on the machine). The loop turns the event loop
// every 1,000 lifetimes, as a server does. No checks here: the stress test
// (test/stress/lifetimes.js) checks every reuse, and costs more per lifetime.
//
//   node bench/registry/lifetimes.js [count=100000] [rounds=4]
const { execFileSync } = require('child_process')
const path = require('path')
const { DIST } = require('./impls')

const COUNT = Number(process.argv[2] ?? 100000)
const ROUNDS = Number(process.argv[3] ?? 4)

async function child (mode) {
  const { HandleRegistry, HandleDomain } = require(DIST)
  const opts = mode === 'shared' ? { domain: HandleDomain.create() } : {}
  if (mode === 'native' && !HandleDomain.default.isNative) throw new Error('the native addon is not loaded')
  let wall = Infinity
  let cpu = Infinity
  for (let round = 0; round < ROUNDS; round++) {
    const t0 = process.hrtime.bigint()
    const c0 = process.cpuUsage()
    for (let i = 0; i < COUNT; i++) {
      const r = new HandleRegistry(opts)
      for (let k = 0; k < 16; k++) r.register(k)
      r.close()
      if (i % 1000 === 999) await new Promise((resolve) => setImmediate(resolve))
    }
    const c = process.cpuUsage(c0)
    wall = Math.min(wall, Number(process.hrtime.bigint() - t0) / 1000 / COUNT)
    cpu = Math.min(cpu, (c.user + c.system) / COUNT)
  }
  console.log(JSON.stringify({ mode, wallUs: wall, cpuUs: cpu }))
}

if (process.argv[4] === '--child') {
  child(process.argv[5])
} else {
  const hasNative = (() => { try { return require(DIST).HandleDomain.default.isNative } catch { return false } })()
  console.log(`registry lifetimes (create, register 16, close), best of ${ROUNDS} rounds of ${COUNT}, ${process.version}`)
  for (const mode of hasNative ? ['native', 'shared'] : ['shared']) {
    const out = execFileSync(process.execPath, [__filename, String(COUNT), String(ROUNDS), '--child', mode], { encoding: 'utf8' })
    const r = JSON.parse(out.trim().split('\n').pop())
    console.log(`${mode === 'native' ? 'native domain (addon)' : 'HandleDomain.create()'}: ` +
      `${r.wallUs.toFixed(2)} us wall, ${r.cpuUs.toFixed(2)} us CPU per lifetime`)
  }
}
module.exports = { child }
