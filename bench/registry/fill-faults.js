'use strict'
// The first fills of a registry in one process, with the page faults each
// took: what a user's first N registrations cost, which the lifecycle regime
// (many fills per process, first one dropped as warm-up) does not show.
// Four fills of N into a new registry, each closed before the next; per fill
// the ns per handle and the minor page faults (process.resourceUsage()).
//
//   node --expose-gc bench/registry/fill-faults.js [N]          # default domain (native with the addon)
//   SAB=1 node --expose-gc bench/registry/fill-faults.js [N]    # a HandleDomain.create() domain
//   (BENCH_DIST=<other build>/dist/index.js for an A/B; --max-old-space-size=8192 at 10M)
const { DIST } = require('./impls')
const { HandleRegistry, HandleDomain } = require(DIST)

const N = Number(process.argv[2] || 1e6)
const gc = typeof global.gc === 'function' ? global.gc : () => {}
const pool = Array.from({ length: 1024 }, (_, k) => ({ k }))
const domain = process.env.SAB === '1' ? HandleDomain.create() : HandleDomain.default
const fills = []
for (let round = 0; round < 4; round++) {
  gc()
  const r = new HandleRegistry({ domain })
  const f0 = process.resourceUsage().minorPageFault
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < N; i++) r.register(pool[i & 1023])
  const ns = Number(process.hrtime.bigint() - t0) / N
  fills.push(`${ns.toFixed(1)} ns ${process.resourceUsage().minorPageFault - f0} faults`)
  r.close()
}
console.log(`${process.env.SAB === '1' ? 'HandleDomain.create()' : 'default domain'}${domain.isNative ? ' (native)' : ''}, ` +
  `N=${N}, 4 fills: ${fills.join(' | ')}`)
