'use strict'
// Capacity: 100,000,000 live handles in ONE registry (the brief's target; a
// single JS Map stops at 16,777,216 entries). Not part of `npm test` or
// `npm run bench`: it needs about 2.3 GB of memory and 15-20 s.
//
//   node --expose-gc --max-old-space-size=8192 bench/capacity/run.js [--count=100000000] [--value=object|int]
//
// Registers `count` values (one shared small object, or small integers),
// printing progress every 10M, then checks that a sample of handles resolves
// to the right values and that released handles are reported stale. Writes
// bench/results/capacity.json.
const fs = require('fs')
const path = require('path')
const { loadRegistry, DIST } = require('../registry/impls')

const argv = process.argv.slice(2)
const opt = (name, d) => { const a = argv.find((x) => x.startsWith(`--${name}=`)); return a ? a.slice(name.length + 3) : d }
const COUNT = Number(opt('count', 1e8))
const VALUE = opt('value', 'object')
const OUT = path.join(__dirname, '..', 'results', 'capacity.json')

if (!fs.existsSync(DIST)) {
  console.error(`${path.relative(process.cwd(), DIST)} is missing: run \`npm run compile\` first`)
  process.exit(1)
}
const heapLimit = require('v8').getHeapStatistics().heap_size_limit
if (heapLimit < 4 * 2 ** 30) {
  console.error(`heap limit is ${(heapLimit / 2 ** 30).toFixed(1)} GB; run with node --max-old-space-size=8192`)
  process.exit(1)
}

const { HandleRegistry, HandleDomain } = loadRegistry()
const gc = typeof global.gc === 'function' ? () => { global.gc(); global.gc() } : () => {}
const mb = (b) => (b / 2 ** 20).toFixed(0) + ' MB'
const mem = () => { const m = process.memoryUsage(); return { heap: m.heapUsed, ab: m.arrayBuffers, rss: m.rss } }

const domain = HandleDomain.create()
gc()
const m0 = mem()
const obj = { k: 1 }
const reg = new HandleRegistry({ domain })
const STEP = 10_000_000
const sampleEvery = Math.max(1, Math.floor(COUNT / 10_000))
const samples = [] // [handle, i]
const t0 = process.hrtime.bigint()
let tStep = t0
let error = null
let registered = 0
try {
  for (let i = 0; i < COUNT; i++) {
    const h = reg.register(VALUE === 'int' ? i & 0x3fffffff : obj)
    if (i % sampleEvery === 0) samples.push([h, i])
    registered = i + 1
    if (registered % STEP === 0) {
      const now = process.hrtime.bigint()
      const m = mem()
      console.log(`${(registered / 1e6).toFixed(0).padStart(4)}M registered  ${(Number(now - tStep) / STEP).toFixed(0)} ns/register over the last 10M  ` +
        `heap ${mb(m.heap)}  arrayBuffers ${mb(m.ab)}  rss ${mb(m.rss)}`)
      tStep = now
    }
  }
} catch (err) {
  error = `${err.name}: ${err.message}`
  console.log(`stopped after ${registered} registrations: ${error}`)
}
const seconds = Number(process.hrtime.bigint() - t0) / 1e9
gc()
const m1 = mem()
const bytes = (m1.heap - m0.heap) + (m1.ab - m0.ab)

// Check a sample resolves, and that releasing works at this size.
let resolved = 0
for (const [h, i] of samples) {
  const v = reg.get(h)
  if (VALUE === 'int' ? v !== (i & 0x3fffffff) : v !== obj) throw new Error(`handle ${h} (#${i}) resolved to the wrong value`)
  resolved++
}
const [h0] = samples[0]
reg.release(h0)
let staleOk = false
try { reg.get(h0) } catch (err) { staleOk = err.code === 'ERR_HANDLE_STALE' }
const maxHandle = samples.length ? Math.max(...samples.map(([h]) => h)) : 0

const result = {
  benchmark: 'capacity',
  date: new Date().toISOString(),
  node: process.version,
  requested: COUNT,
  registered,
  value: VALUE,
  ok: error === null && registered === COUNT && resolved === samples.length && staleOk,
  error,
  seconds: +seconds.toFixed(1),
  nsPerRegister: +((seconds * 1e9) / registered).toFixed(1),
  bytesPerHandle: +(bytes / registered).toFixed(2),
  heapMB: +((m1.heap - m0.heap) / 2 ** 20).toFixed(0),
  arrayBuffersMB: +((m1.ab - m0.ab) / 2 ** 20).toFixed(0),
  rssMB: +(m1.rss / 2 ** 20).toFixed(0),
  size: reg.size,
  samplesResolved: resolved,
  releasedHandleIsStale: staleOk,
  largestSampledHandle: maxHandle,
}
console.log(`\n${result.ok ? 'OK' : 'FAILED'}: ${registered.toLocaleString('en-US')} live handles in one registry in ${result.seconds} s ` +
  `(${result.nsPerRegister} ns/register); ${result.bytesPerHandle} bytes/handle (heap ${result.heapMB} MB + arrayBuffers ${result.arrayBuffersMB} MB), ` +
  `rss ${result.rssMB} MB; ${resolved} sampled handles resolve; released handle -> ${staleOk ? 'ERR_HANDLE_STALE' : 'NOT stale'}`)
fs.mkdirSync(path.dirname(OUT), { recursive: true })
fs.writeFileSync(OUT, JSON.stringify(result, null, 2) + '\n')
process.exitCode = result.ok ? 0 : 1
