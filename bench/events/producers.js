'use strict'
// Many producers: T native threads (1, 2, 4) post at once to one registry or
// to four (each thread's events spread over all four), through this library
// (api->post) and through one TSFN per thread (TypedThreadSafeFunction,
// BlockingCall with a bounded queue, and NonBlockingCall unbounded), in one
// process and one run. The total is fixed (--events, split over the threads),
// so events per second across thread counts compare directly.
//
//   npm run compile && node bench/events/producers.js    # ~1 min; builds bench/events/build if missing
//   options: --events=1000000  --rounds=3  --capacity=65536  --out=FILE
//
// Caveat: the reference machine has 2 cores, shared with the JS thread that
// consumes: at 4 producer threads (and often at 2) the threads time-share
// cores, so "events per second do not fall as producers are added" is the
// most this box can show, not a scaling figure.
const { execFileSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const a = argv.find((x) => x === `--${name}` || x.startsWith(`--${name}=`))
  if (a === undefined) return dflt
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : true
}
const TOTAL = Number(opt('events', 1e6))
const ROUNDS = Number(opt('rounds', 3))
const CAPACITY = Number(opt('capacity', 65536))
const OUT = opt('out') ? path.resolve(String(opt('out'))) : path.join(__dirname, '..', 'results', 'producers.json')
const root = path.join(__dirname, '..', '..')
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(root, 'dist', 'index.js')
const { HandleRegistry, hasNative } = require(DIST)
if (!hasNative()) {
  console.error('handle-registry: the native addon is not loaded (build it: npx node-gyp rebuild --nodedir=/usr)')
  process.exit(1)
}
const ADDON = path.join(__dirname, 'build', 'Release', 'producers_bench.node')
if (!fs.existsSync(ADDON) || opt('rebuild', false) === true) {
  const nodedir = process.env.npm_config_nodedir ?? (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  const gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })
  console.log(`building ${path.relative(process.cwd(), ADDON)} ...`)
  execFileSync(process.execPath, [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])],
    { cwd: __dirname, stdio: ['ignore', 'ignore', 'inherit'] })
}
const addon = require(ADDON)
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2 }

// Four registries, 256 values each; onEvent on every one.
const PER = 256
let seen = 0
let target = 0
let tEnd = 0n
let done = null
function count () { if (++seen === target) { tEnd = process.hrtime.bigint(); done() } }
const regs = []
const owner = new Map() // handle -> registry, for the TSFN handlers (they resolve the handle themselves)
for (let r = 0; r < 4; r++) {
  const reg = new HandleRegistry()
  const hs = new Float64Array(PER)
  for (let i = 0; i < PER; i++) {
    hs[i] = reg.register({ sum: 0 })
    owner.set(hs[i], reg)
  }
  reg.onEvent((v, kind, payload) => { v.sum += payload; count() }, { capacity: CAPACITY, batch: 4096 })
  regs.push({ reg, hs })
}
addon.attach(regs[0].reg.nativeApi)
// Thread t's handles: registry 0's (one registry), or all four interleaved.
function handleSets (threads, registries) {
  return Array.from({ length: threads }, (_, t) => {
    if (registries === 1) return regs[0].hs
    const a = new Float64Array(PER * 4)
    for (let i = 0; i < a.length; i++) a[i] = regs[(i + t) & 3].hs[i >> 2]
    return a
  })
}
const tsfnFn = (h, kind, payload) => { owner.get(h).get(h).sum += payload; count() }

const PATHS = [
  { id: 'lib', name: 'HandleRegistry api->post', start: (sets, n) => addon.startLib(sets, n) },
  { id: 'tsfn', name: 'one TypedTSFN per thread, BlockingCall', start: (sets, n) => addon.startTsfn(sets.map(() => tsfnFn), sets, n, CAPACITY) },
  { id: 'tsfn-nb', name: 'one TypedTSFN per thread, NonBlockingCall unbounded', start: (sets, n) => addon.startTsfn(sets.map(() => tsfnFn), sets, n, 0) },
]
const CASES = []
for (const p of PATHS) for (const registries of [1, 4]) for (const threads of [1, 2, 4]) CASES.push({ p, threads, registries })

async function run (c, total) {
  const per = Math.floor(total / c.threads)
  seen = 0
  target = per * c.threads
  const finished = new Promise((resolve) => { done = resolve })
  const keepAlive = setInterval(() => {}, 1000)
  const t0 = process.hrtime.bigint()
  c.p.start(handleSets(c.threads, c.registries), per)
  await finished
  clearInterval(keepAlive)
  const j = addon.join()
  if (j.error !== 0) throw new Error(`${c.p.id}: producer failed with status ${j.error}`)
  return { ns: Number(tEnd - t0) / target, retries: j.retries }
}

async function main () {
  console.log(`many producers: Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ` +
    `${TOTAL.toLocaleString('en-US')} events per run split over the threads, ${ROUNDS} rounds interleaved, queue capacity ${CAPACITY}`)
  for (const c of CASES) await run(c, Math.min(TOTAL, 100000)) // warm-up
  const ns = new Map(CASES.map((c) => [c, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 ? [...CASES].reverse() : CASES) ns.get(c).push((await run(c, TOTAL)).ns)
    process.stderr.write(`  round ${r + 1}/${ROUNDS}\n`)
  }
  const rows = CASES.map((c) => {
    const v = median(ns.get(c))
    return { impl: c.p.id, name: c.p.name, threads: c.threads, registries: c.registries, nsPerEvent: +v.toFixed(2), eventsPerSec: Math.round(1e9 / v), nsPerEventRounds: ns.get(c).map((x) => +x.toFixed(1)) }
  })
  const find = (id, t, r) => rows.find((x) => x.impl === id && x.threads === t && x.registries === r)
  for (const x of rows) {
    x.vsOneThread = +(x.eventsPerSec / find(x.impl, 1, x.registries).eventsPerSec).toFixed(2)
    const tsfn = find('tsfn-nb', x.threads, x.registries)
    x.vsTsfnNonBlocking = +(x.eventsPerSec / tsfn.eventsPerSec).toFixed(2)
  }
  const pad = (s, n) => String(s).padEnd(n)
  const lpad = (s, n) => String(s).padStart(n)
  console.log(`\n${pad('path', 52)}${lpad('registries', 11)}${lpad('threads', 8)}${lpad('ns/event', 10)}${lpad('events/s', 10)}${lpad('vs 1 thread', 12)}${lpad('vs TSFN NB', 11)}  rounds`)
  for (const x of rows) {
    console.log(`${pad(x.name, 52)}${lpad(x.registries, 11)}${lpad(x.threads, 8)}${lpad(x.nsPerEvent.toFixed(1), 10)}${lpad((x.eventsPerSec / 1e6).toFixed(1) + 'M', 10)}` +
      `${lpad(x.vsOneThread.toFixed(2) + 'x', 12)}${lpad(x.vsTsfnNonBlocking.toFixed(1) + 'x', 11)}  ${x.nsPerEventRounds.join(' ')}`)
  }
  const targets = []
  for (const r of [1, 4]) {
    for (const t of [2, 4]) {
      const v = find('lib', t, r).vsOneThread
      targets.push({ target: `library events/s at ${t} threads / at 1 thread, ${r} registr${r === 1 ? 'y' : 'ies'} (>= 1: do not fall)`, value: v, pass: v >= 1 })
    }
  }
  console.log('\ntargets (design brief: events per second do not fall as producer threads are added; 2 cores here):')
  for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.value}x`)
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify({ benchmark: 'producers', node: process.version, date: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), total: TOTAL, rounds: ROUNDS, capacity: CAPACITY, rows, targets }, null, 2) + '\n')
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`)
  for (const { reg } of regs) reg.close()
}
main().catch((err) => { console.error(err); process.exit(1) })
