'use strict'
// Many producers: T native threads (1, 2, 4) post at once to one registry or
// to four (each thread's events spread over all four), through this library
// and through one TSFN per thread (TypedThreadSafeFunction, BlockingCall with
// a bounded queue, and NonBlockingCall unbounded), in one process and one run.
// The total is fixed (--events, split over the threads), so events per second
// across thread counts compare directly. The library's producers, three ways:
//   lib        api->post; on QUEUE_FULL, yield and retry (the thread spins)
//   lib-wait   api->post_wait(HR_WAIT_FOREVER) per event (sleeps while full)
//   lib-block  api->post to registries with onEvent({ whenFull: 'block',
//              blockTimeoutMs: Infinity }) (post itself sleeps while full)
//   lib-block-small  the same with capacity 1024 (--small-capacity): the
//              producers sleep as soon as they are 1,024 events ahead, so
//              they leave the cores to the JS thread that consumes
// Beside each figure: the JS thread's share of a core over the run and its
// involuntary context switches, the producers' CPU per event, retries and the
// share of their time in yield (getrusage(RUSAGE_THREAD), producers.cc).
//
//   npm run compile && node bench/events/producers.js    # ~2 min; builds bench/events/build if missing
//   options: --events=1000000  --rounds=3  --capacity=65536  --out=FILE
//            --small-capacity=1024  (lib-block-small's queue)
//            --paths=lib,lib-wait,lib-block,lib-block-small,tsfn,tsfn-nb  (default: all)
//            --pin=JS,PRODUCERS  (cpus: the JS thread on one, every producer
//                     thread on the other: no producer takes the consumer's core)
//            --diag  (also counts the consumer's batches: wraps the channel's
//                     deliver(), an internal of dist/events.js)
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
const SMALL_CAPACITY = Number(opt('small-capacity', 1024))
const ONLY = opt('paths') ? String(opt('paths')).split(',') : undefined
const DIAG = opt('diag', false) === true
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

// Consumer batches (--diag): the channel's deliver(count) runs once per batch.
let batches = 0
if (DIAG) {
  const { EventChannel } = require(path.join(path.dirname(DIST), 'events.js'))
  const deliver = EventChannel.prototype.deliver
  EventChannel.prototype.deliver = function (count) { batches++; return deliver.call(this, count) }
}

// Four registries, 256 values each, per group; onEvent on every one. Group
// 'drop' (the default policy) serves lib, lib-wait and the TSFNs; group
// 'block' (whenFull 'block', no timeout) serves lib-block, 'blockSmall' (the
// same, capacity SMALL_CAPACITY) lib-block-small.
const PER = 256
let seen = 0
let target = 0
let tEnd = 0n
let done = null
function count () { if (++seen === target) { tEnd = process.hrtime.bigint(); done() } }
const owner = new Map() // handle -> registry, for the TSFN handlers (they resolve the handle themselves)
const allRegs = []
function group (full, capacity = CAPACITY) {
  const regs = []
  for (let r = 0; r < 4; r++) {
    const reg = new HandleRegistry()
    const hs = new Float64Array(PER)
    for (let i = 0; i < PER; i++) {
      hs[i] = reg.register({ sum: 0 })
      owner.set(hs[i], reg)
    }
    reg.onEvent((v, kind, payload) => { v.sum += payload; count() }, { capacity, batch: 4096, ...full })
    regs.push({ reg, hs })
    allRegs.push(reg)
  }
  return regs
}
const BLOCK = { whenFull: 'block', blockTimeoutMs: Infinity }
const groups = { drop: group({}), block: group(BLOCK), blockSmall: group(BLOCK, SMALL_CAPACITY) }
addon.attach(groups.drop[0].reg.nativeApi)
const PIN = opt('pin') ? String(opt('pin')).split(',').map(Number) : undefined
if (PIN !== undefined) addon.pin(PIN[0], PIN[1])
// Thread t's handles: registry 0's (one registry), or all four interleaved.
function handleSets (regs, threads, registries) {
  return Array.from({ length: threads }, (_, t) => {
    if (registries === 1) return regs[0].hs
    const a = new Float64Array(PER * 4)
    for (let i = 0; i < a.length; i++) a[i] = regs[(i + t) & 3].hs[i >> 2]
    return a
  })
}
const tsfnFn = (h, kind, payload) => { owner.get(h).get(h).sum += payload; count() }

const PATHS = [
  { id: 'lib', name: 'HandleRegistry api->post, yield+retry', regs: groups.drop, start: (sets, n) => addon.startLib(sets, n, 0) },
  { id: 'lib-wait', name: 'HandleRegistry api->post_wait', regs: groups.drop, start: (sets, n) => addon.startLib(sets, n, 1) },
  { id: 'lib-block', name: "HandleRegistry api->post, whenFull 'block'", regs: groups.block, start: (sets, n) => addon.startLib(sets, n, 2) },
  { id: 'lib-block-small', name: `HandleRegistry api->post, 'block', capacity ${SMALL_CAPACITY}`, regs: groups.blockSmall, start: (sets, n) => addon.startLib(sets, n, 2) },
  { id: 'tsfn', name: 'one TypedTSFN per thread, BlockingCall', regs: groups.drop, start: (sets, n) => addon.startTsfn(sets.map(() => tsfnFn), sets, n, CAPACITY) },
  { id: 'tsfn-nb', name: 'one TypedTSFN per thread, NonBlockingCall unbounded', regs: groups.drop, start: (sets, n) => addon.startTsfn(sets.map(() => tsfnFn), sets, n, 0) },
].filter((p) => ONLY === undefined || ONLY.includes(p.id))
const CASES = []
for (const p of PATHS) for (const registries of [1, 4]) for (const threads of [1, 2, 4]) CASES.push({ p, threads, registries })

async function run (c, total) {
  const per = Math.floor(total / c.threads)
  seen = 0
  target = per * c.threads
  const finished = new Promise((resolve) => { done = resolve })
  const keepAlive = setInterval(() => {}, 1000)
  const sets = handleSets(c.p.regs, c.threads, c.registries)
  batches = 0
  const u0 = addon.threadUsage()
  const t0 = process.hrtime.bigint()
  c.p.start(sets, per)
  await finished
  const u1 = addon.threadUsage()
  clearInterval(keepAlive)
  const j = addon.join()
  if (j.error !== 0) throw new Error(`${c.p.id}: producer failed with status ${j.error}`)
  const wall = Number(tEnd - t0)
  return {
    ns: wall / target,
    jsCpu: (u1.cpuNs - u0.cpuNs) / wall, // the JS thread's share of the wall time: running,
    jsQueued: (u1.queuedNs - u0.queuedNs) / wall, // runnable but kept off a core (the rest: asleep, waiting for events)
    jsInvol: u1.involuntary - u0.involuntary,
    jsVol: u1.voluntary - u0.voluntary,
    prodCpuNs: j.cpuNs / target, // the producers' CPU per event
    prodQueuedNs: j.queuedNs / target, // the producers' time runnable but off a core, per event
    retries: j.retries / target,
    yieldShare: j.yieldNs / (j.producerNs * c.threads), // of the producers' time (each thread's up to the slowest's)
    prodInvol: j.involuntary,
    prodVol: j.voluntary,
    batch: batches > 0 ? target / batches : 0,
  }
}

async function main () {
  console.log(`many producers: Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}; ` +
    `${TOTAL.toLocaleString('en-US')} events per run split over the threads, ${ROUNDS} rounds interleaved, queue capacity ${CAPACITY}${PIN ? `, JS thread on cpu ${PIN[0]}, producers on cpu ${PIN[1]}` : ''}`)
  for (const c of CASES) await run(c, Math.min(TOTAL, 100000)) // warm-up
  const res = new Map(CASES.map((c) => [c, []]))
  for (let r = 0; r < ROUNDS; r++) {
    for (const c of r % 2 ? [...CASES].reverse() : CASES) res.get(c).push(await run(c, TOTAL))
    process.stderr.write(`  round ${r + 1}/${ROUNDS}\n`)
  }
  const med = (c, k) => median(res.get(c).map((x) => x[k]))
  const rows = CASES.map((c) => {
    const v = med(c, 'ns')
    return {
      impl: c.p.id, name: c.p.name, threads: c.threads, registries: c.registries, nsPerEvent: +v.toFixed(2), eventsPerSec: Math.round(1e9 / v), nsPerEventRounds: res.get(c).map((x) => +x.ns.toFixed(1)),
      // medians over the rounds, each taken alone
      jsCpuShare: +med(c, 'jsCpu').toFixed(2), jsQueuedShare: +med(c, 'jsQueued').toFixed(2), jsInvoluntary: med(c, 'jsInvol'), jsVoluntary: med(c, 'jsVol'),
      producerCpuNsPerEvent: +med(c, 'prodCpuNs').toFixed(1), producerQueuedNsPerEvent: +med(c, 'prodQueuedNs').toFixed(1), retriesPerEvent: +med(c, 'retries').toFixed(3), yieldShare: +med(c, 'yieldShare').toFixed(2),
      producerInvoluntary: med(c, 'prodInvol'), producerVoluntary: med(c, 'prodVol'), eventsPerBatch: Math.round(med(c, 'batch')),
    }
  })
  const find = (id, t, r) => rows.find((x) => x.impl === id && x.threads === t && x.registries === r)
  for (const x of rows) {
    const one = find(x.impl, 1, x.registries)
    x.vsOneThread = +(x.eventsPerSec / one.eventsPerSec).toFixed(2)
    // The same ratio taken within each round (the cells of a round ran
    // minutes apart at most), then the median: less exposed to the machine's
    // load changing between rounds than the ratio of the medians.
    x.vsOneThreadPaired = +median(x.nsPerEventRounds.map((ns, r) => one.nsPerEventRounds[r] / ns)).toFixed(2)
    const tsfn = find('tsfn-nb', x.threads, x.registries)
    x.vsTsfnNonBlocking = tsfn ? +(x.eventsPerSec / tsfn.eventsPerSec).toFixed(2) : null
  }
  const pad = (s, n) => String(s).padEnd(n)
  const lpad = (s, n) => String(s).padStart(n)
  console.log(`\n${pad('path', 52)}${lpad('registries', 11)}${lpad('threads', 8)}${lpad('ns/event', 10)}${lpad('events/s', 10)}${lpad('vs 1 thread', 12)}${lpad('(paired)', 9)}${lpad('vs TSFN NB', 11)}  rounds`)
  for (const x of rows) {
    console.log(`${pad(x.name, 52)}${lpad(x.registries, 11)}${lpad(x.threads, 8)}${lpad(x.nsPerEvent.toFixed(1), 10)}${lpad((x.eventsPerSec / 1e6).toFixed(1) + 'M', 10)}` +
      `${lpad(x.vsOneThread.toFixed(2) + 'x', 12)}${lpad(x.vsOneThreadPaired.toFixed(2) + 'x', 9)}${lpad(Number.isFinite(x.vsTsfnNonBlocking) ? x.vsTsfnNonBlocking.toFixed(1) + 'x' : '-', 11)}  ${x.nsPerEventRounds.join(' ')}`)
  }
  // Where the time goes (medians of the rounds): the JS thread consumes; on
  // 2 cores every producer thread beyond one takes its core time from it.
  console.log('\nwhere the time goes (medians): JS thread running / runnable but off a core / asleep, as shares of the wall time;' +
    '\nproducers (all threads): CPU and time off a core per event, retries per event, share of their time in yield, context switches')
  console.log(`${pad('path', 52)}${lpad('registries', 11)}${lpad('threads', 8)}${lpad('JS run', 7)}${lpad('queued', 7)}${lpad('asleep', 7)}${lpad('invol', 6)}` +
    `${lpad('prod ns/ev', 11)}${lpad('queued', 7)}${lpad('retry/ev', 9)}${lpad('yield', 6)}${lpad('vol', 7)}${lpad('invol', 7)}${DIAG ? lpad('ev/batch', 9) : ''}`)
  const pct = (v) => Math.round(100 * v) + '%'
  for (const x of rows) {
    console.log(`${pad(x.name, 52)}${lpad(x.registries, 11)}${lpad(x.threads, 8)}${lpad(pct(x.jsCpuShare), 7)}${lpad(pct(x.jsQueuedShare), 7)}` +
      `${lpad(pct(Math.max(0, 1 - x.jsCpuShare - x.jsQueuedShare)), 7)}${lpad(x.jsInvoluntary, 6)}` +
      `${lpad(x.producerCpuNsPerEvent.toFixed(1), 11)}${lpad(x.producerQueuedNsPerEvent.toFixed(1), 7)}${lpad(x.retriesPerEvent.toFixed(3), 9)}${lpad(pct(x.yieldShare), 6)}` +
      `${lpad(x.producerVoluntary, 7)}${lpad(x.producerInvoluntary, 7)}${DIAG ? lpad(x.eventsPerBatch, 9) : ''}`)
  }
  const targets = []
  for (const id of ['lib', 'lib-wait', 'lib-block', 'lib-block-small']) {
    if (!PATHS.some((p) => p.id === id)) continue
    for (const r of [1, 4]) {
      for (const t of [2, 4]) {
        const x = find(id, t, r)
        const v = x.vsOneThread
        targets.push({ impl: id, target: `${id} events/s at ${t} threads / at 1 thread, ${r} registr${r === 1 ? 'y' : 'ies'} (>= 1: do not fall)`, value: v, paired: x.vsOneThreadPaired, pass: v >= 1 })
      }
    }
  }
  console.log('\ntargets (design brief: events per second do not fall as producer threads are added; 2 cores here):')
  for (const t of targets) console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.value}x (paired by round: ${t.paired}x)`)
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify({ benchmark: 'producers', node: process.version, date: new Date().toISOString(), cpus: os.cpus().length, loadavg: os.loadavg(), total: TOTAL, rounds: ROUNDS, capacity: CAPACITY, smallCapacity: SMALL_CAPACITY, pin: PIN ?? null, rows, targets }, null, 2) + '\n')
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`)
  for (const reg of allRegs) reg.close()
}
main().catch((err) => { console.error(err); process.exit(1) })
