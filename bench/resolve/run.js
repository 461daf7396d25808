'use strict'
// Resolve benchmark: a synchronous C callback (an SQLite scalar function with
// its pApp, a qsort_r comparator) finding its JS function from a user_data,
// three ways side by side in one process and one run (bench.cc):
//   handle + hr::resolve          this library: the handle is the user_data
//   napi_ref in user_data         the usual design (the baseline: ratio 1.00)
//   napi_call_function(get)       the handle, resolved by calling registry.get
// Each in two modes: "call" (the callback calls the resolved JS function with
// a number and reads the result, what an SQLite function does) and "lookup"
// (the lookup alone, to show its own cost). Also the extra cost api->resolve
// puts on registerWeak (the target is kept as a weak napi_ref too).
//
//   node bench/resolve/run.js          # ~20 s; builds bench/resolve/build if missing
//   options: --calls=1000000  --rounds=31  --out=FILE  --rebuild
//   BENCH_DIST=path/to/index.js        # another build of the package
//
// Every case runs `rounds` times `calls` / 10 callbacks, interleaved in short
// slices (order rotated every round) so that the load of a shared machine
// hits every design alike, after an untimed warm-up; the figure is the median
// ns per callback over the slices.
// Results: a table on stdout and bench/results/resolve.json.
const { execFileSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`))
  if (a === undefined) return dflt
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true
}
const N = Number(opt('calls', 1e6))
const ROUNDS = Number(opt('rounds', 31))
const OUT = opt('out') ? path.resolve(String(opt('out'))) : path.join(__dirname, '..', 'results', 'resolve.json')

const root = path.join(__dirname, '..', '..')
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(root, 'dist', 'index.js')
if (!fs.existsSync(DIST)) {
  console.error(`${path.relative(process.cwd(), DIST)} is missing: run \`npm run compile\` first`)
  process.exit(1)
}
const ADDON = path.join(__dirname, 'build', 'Release', 'resolve_bench.node')
if (opt('rebuild', false) || !fs.existsSync(ADDON)) {
  const args = [require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] }), 'rebuild']
  if (fs.existsSync('/usr/include/node/node_api.h')) args.push('--nodedir=/usr')
  execFileSync(process.execPath, args, { cwd: __dirname, stdio: 'inherit' })
}
const { HandleRegistry } = require(DIST)
const bench = require(ADDON)

const registry = new HandleRegistry()
bench.attach(registry)
// The JS function every design ends up calling (one number in, one out).
const fn = (x) => x + 1
const handle = registry.register(fn)
// Expected sums: call mode sums x + 1 over 0..n-1; lookup mode counts hits.
const expected = (n, call) => (call ? (n * (n - 1)) / 2 + n : n)

const cases = [
  { id: 'resolve', label: 'handle + hr::resolve', run: (n, call) => bench.run_resolve(handle, n, call) },
  { id: 'ref', label: 'napi_ref in user_data', run: (n, call) => bench.run_ref(fn, n, call) },
  { id: 'get', label: 'napi_call_function(registry.get)', run: (n, call) => bench.run_get(registry, handle, n, call) },
]

const SLICE = Math.max(1000, Math.floor(N / 10))
function time(c, call) {
  const t0 = process.hrtime.bigint()
  const sum = c.run(SLICE, call)
  const ns = Number(process.hrtime.bigint() - t0) / SLICE
  if (sum !== expected(SLICE, call)) throw new Error(`${c.id} (${call ? 'call' : 'lookup'}): sum ${sum}, expected ${expected(SLICE, call)}`)
  return ns
}
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]

const results = {}
for (const mode of ['call', 'lookup']) {
  const call = mode === 'call'
  for (const c of cases) c.run(Math.min(N, 100000), call) // warm-up
  const samples = Object.fromEntries(cases.map((c) => [c.id, []]))
  for (let r = 0; r < ROUNDS; r++) {
    const order = cases.map((_, i) => cases[(i + r) % cases.length])
    for (const c of order) samples[c.id].push(time(c, call))
  }
  results[mode] = Object.fromEntries(cases.map((c) => [c.id, { nsPerCall: median(samples[c.id]), samples: samples[c.id] }]))
}

// registerWeak + release, and what api->resolve adds to it (note_weak: one
// native call and a weak napi_ref, measured alone on a live weak handle).
function perOp(n, f) {
  const t0 = process.hrtime.bigint()
  f(n)
  return Number(process.hrtime.bigint() - t0) / n
}
const weakTarget = { weak: true }
const WEAK_N = 200000
const weak = { registerWeakRelease: [], noteWeak: [] }
// note_weak takes the owner token a registry keeps private, so it is timed on
// an owner claimed by hand the way the registry sets one up (one block, its
// state region, its values array published) holding one live weak slot.
const { nativeBinding } = require(path.join(path.dirname(DIST), 'native.js'))
const layout = require(path.join(path.dirname(DIST), 'layout.js'))
const raw = nativeBinding()
const { token } = raw.claim_owner()
const claimed = raw.claim_block(token, 0, 0) // block + base * 2^20
const block = claimed % layout.MAX_BLOCKS
const base = (claimed - block) / layout.MAX_BLOCKS
new Int32Array(raw.alloc_state(token, layout.BLOCK_SIZE))[0] = (base << 2) | 3 // live, weak
raw.publish_values(token, new Array(layout.BLOCK_SIZE).fill(undefined))
const weakHandle = base * layout.SLOT_SPAN + block * layout.BLOCK_SIZE
if (raw.note_weak(token, weakHandle, weakTarget) !== 0) throw new Error('note_weak did not accept the hand-made weak handle')
for (let r = 0; r < ROUNDS; r++) {
  weak.registerWeakRelease.push(perOp(WEAK_N, (n) => {
    for (let i = 0; i < n; i++) registry.release(registry.registerWeak(weakTarget))
  }))
  weak.noteWeak.push(perOp(WEAK_N, (n) => {
    for (let i = 0; i < n; i++) raw.note_weak(token, weakHandle, weakTarget)
  }))
}
raw.release_owner(token)

const pad = (s, n) => String(s).padEnd(n)
const num = (x) => x.toFixed(1).padStart(8)
console.log(`\nsynchronous C callback -> JS value, ${ROUNDS} interleaved slices of ${SLICE.toLocaleString('en-US')} callbacks, median (ns per callback)`)
console.log(`${pad('design', 36)}${'call'.padStart(8)}  ratio${'lookup'.padStart(10)}  ratio`)
for (const c of cases) {
  const call = results.call[c.id].nsPerCall
  const look = results.lookup[c.id].nsPerCall
  console.log(`${pad(c.label, 36)}${num(call)}  ${(call / results.call.ref.nsPerCall).toFixed(2)}x${num(look)}  ${(look / results.lookup.ref.nsPerCall).toFixed(2)}x`)
}
const ratio = results.call.resolve.nsPerCall / results.call.ref.nsPerCall
console.log(`target: handle + hr::resolve within 1.1x of napi_ref in user_data (call): ${ratio.toFixed(3)}x ${ratio <= 1.1 ? 'MET' : 'MISSED'}`)
console.log(`registerWeak + release: ${median(weak.registerWeakRelease).toFixed(1)} ns, of which note_weak (for api->resolve): ${median(weak.noteWeak).toFixed(1)} ns`)

fs.mkdirSync(path.dirname(OUT), { recursive: true })
fs.writeFileSync(OUT, JSON.stringify({
  benchmark: 'resolve', date: new Date().toISOString(), node: process.version, sliceCalls: SLICE, rounds: ROUNDS,
  results, ratioCallVsRef: ratio, ratioLookupVsRef: results.lookup.resolve.nsPerCall / results.lookup.ref.nsPerCall,
  weak: { registerWeakReleaseNs: median(weak.registerWeakRelease), noteWeakNs: median(weak.noteWeak), samples: weak },
}, null, 2) + '\n')
console.log(`wrote ${path.relative(process.cwd(), OUT)}`)
