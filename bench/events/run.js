'use strict'
// Events benchmark: native producer thread -> JS handler, this library against
// Node-API thread-safe functions, side by side, in one process and one run.
//
//   node bench/events/run.js                  # ~15 s; builds bench/events/build if missing
//   options: --events=1000000  --rounds=3  --lone=2000  --spacing-us=1000
//            --capacity=65536  --no-latency  --no-split  --out=FILE  --rebuild
//            --only=lib-post,lib-many,lib-block,lib-grow,lib-wait,lib-ctx,tsfn,tsfn-typed,tsfn-nb,tsfn-256,tsfn-4096,split  (a subset)
//   BENCH_DIST=path/to/index.js               # another build of the package
//
// Throughput: 1M events from one native std::thread (bench.cc) to a JS handler
// that adds the payload to the resolved value ({ sum }) and counts. Timed from
// just before the producer starts until the handler has seen the last event
// (timestamp taken in the handler). Every path is run `rounds` times,
// interleaved (order reversed every other round), after an untimed warm-up;
// the figure is the median.
//
// Full-queue policies (issue 9, part 4), same producer and handler: whenFull
// 'block' (the producer waits for room instead of retrying), 'grow' (the queue
// spills past its capacity, up to 64 MiB), and api->post_wait per event (the
// default policy; the call waits for room). Each path sets the registry's
// whenFull (onEvent again, untimed) before it starts.
//
// Async context (issue 9, part 5): 'lib-ctx' posts to a second registry made
// with { asyncContext: true }, holding the same values, each registered inside
// its own AsyncLocalStorage store: the same handler then runs inside the
// context of each event's handle. Its difference to lib-post is the cost per event.
//
// Lone-event latency: events spaced --spacing-us apart, each stamped in C++
// with steady_clock (CLOCK_MONOTONIC, the clock of process.hrtime.bigint();
// checked at start), latency = hrtime in the handler - stamp; p50/p99. The
// library and TSFN per event run in alternating slices of 200 events.
//
// Split (diagnostic, on a second registry so the figures above are untouched):
// where the library's time goes. The producer fills the queue (--capacity
// events) while the JS thread is blocked, then JS drains it; repeated up to
// --events, so the producer's cost alone and the consumer's cost alone
// (wake-up, drain, handle resolution, handler) are timed separately. The live
// run beside it counts the batches (about one per wake-up when below 4096) by
// wrapping the internal EventChannel.prototype.deliverInScope (dist/events.js).
//
// Results: a table on stdout, bench/results/events.json (scripts/render-charts.js
// draws docs/bench-events.svg from it).
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
const N = Number(opt('events', 1e6))
const ROUNDS = Number(opt('rounds', 3))
const LONE = Number(opt('lone', 2000))
const SPACING_US = Number(opt('spacing-us', 1000))
const CAPACITY = Number(opt('capacity', 65536))
const LATENCY = opt('no-latency', false) !== true
const SPLIT = opt('no-split', false) !== true
const ONLY = opt('only') ? String(opt('only')).split(',') : null
const OUT = opt('out') ? path.resolve(String(opt('out'))) : path.join(__dirname, '..', 'results', 'events.json')
const VALUES = 1024 // distinct registered values the producer cycles through

const root = path.join(__dirname, '..', '..')
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(root, 'dist', 'index.js')
if (!fs.existsSync(DIST)) {
  console.error(`${path.relative(process.cwd(), DIST)} is missing: run \`npm run compile\` first`)
  process.exit(1)
}
const { HandleRegistry, hasNative } = require(DIST)
if (!hasNative()) {
  console.error('handle-registry: the native addon is not loaded (build it: npx node-gyp rebuild --nodedir=/usr)')
  process.exit(1)
}

// --- the bench addon ----------------------------------------------------------
const ADDON = path.join(__dirname, 'build', 'Release', 'events_bench.node')
if (!fs.existsSync(ADDON) || opt('rebuild', false) === true) {
  const nodedir = process.env.npm_config_nodedir ?? (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  const gyp = require.resolve('node-gyp/bin/node-gyp.js', { paths: [root] })
  console.log(`building ${path.relative(process.cwd(), ADDON)} ...`)
  execFileSync(process.execPath, [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])],
    { cwd: __dirname, stdio: ['ignore', 'ignore', 'inherit'] })
}
const addon = require(ADDON)

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  const m = s.length >> 1
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2
}
const quantile = (sorted, q) => sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))]

// --- clock check: C++ steady_clock vs process.hrtime.bigint() ------------------
function clockCheck () {
  let ok = 0
  let worst = 0n
  const n = 2000
  for (let i = 0; i < n; i++) {
    const a = process.hrtime.bigint()
    const c = addon.now()
    const b = process.hrtime.bigint()
    if (a <= c && c <= b) ok++
    const off = c < a ? a - c : c > b ? c - b : 0n
    if (off > worst) worst = off
  }
  return { samples: n, bracketed: ok, worstOutsideNs: Number(worst), agree: ok === n }
}

// --- registry, values, handlers ----------------------------------------------
const registry = new HandleRegistry()
const values = []
const handles = new Float64Array(VALUES)
for (let i = 0; i < VALUES; i++) {
  values.push({ sum: 0 })
  handles[i] = registry.register(values[i])
}
addon.attach(registry.nativeApi)
const totalSum = () => values.reduce((s, v) => s + v.sum, 0)

// Shared run state. Handlers count events of kind 1 and record lone events (kind 2).
let seen = 0
let target = 0
let tEnd = 0n
let done = null
let lat = null
let latN = 0
let latBase = 0n

function lone (payload) {
  lat[latN++] = Number(process.hrtime.bigint() - latBase) - payload
  if (latN === target) done()
}

// 1. this library: the registry resolves the handle and calls this.
// (The split below installs the same function on its registry, so the
// registry's delivery loop only ever sees this one handler.)
function libHandler (v, kind, payload) {
  if (kind === 1) {
    v.sum += payload
    if (++seen === target) { tEnd = process.hrtime.bigint(); done() }
  } else lone(payload)
}
registry.onEvent(libHandler, { capacity: CAPACITY, batch: 4096 })

// 2. one TSFN call per event: the JS callback resolves the handle itself.
function makeTsfnHandler () {
  return (h, kind, payload) => {
    const v = registry.get(h)
    if (kind === 1) {
      v.sum += payload
      if (++seen === target) { tEnd = process.hrtime.bigint(); done() }
    } else lone(payload)
  }
}
const tsfnHandler = makeTsfnHandler()
const tsfnTypedHandler = makeTsfnHandler()
const tsfnNbHandler = makeTsfnHandler()

// 3. hand-batched TSFN: K zero-copy buffers of [handle, kind, payload] triples.
function makeBatched (batch) {
  const k = Math.max(4, CAPACITY / batch) // as many events in flight as the library's queue
  const bufs = Array.from({ length: k }, () => new Float64Array(3 * batch))
  const fn = (index, n) => {
    const a = bufs[index]
    for (let i = 0; i < n; i++) {
      const v = registry.get(a[3 * i])
      if (a[3 * i + 1] === 1) v.sum += a[3 * i + 2]
    }
    seen += n
    if (seen === target) { tEnd = process.hrtime.bigint(); done() }
  }
  return { bufs, fn }
}
const batched256 = makeBatched(256)
const batched4096 = makeBatched(4096)

// onEvent again with another whenFull: the handler stays, the queue too.
const whenFull = (policy) => () => registry.onEvent(libHandler, { capacity: CAPACITY, batch: 4096, whenFull: policy })
// asyncContext: the same values, registered in a registry that captures contexts.
const { AsyncLocalStorage } = require('async_hooks')
const als = new AsyncLocalStorage()
const ctxRegistry = new HandleRegistry({ asyncContext: true })
const ctxHandles = new Float64Array(VALUES)
for (let i = 0; i < VALUES; i++) ctxHandles[i] = als.run({ request: i }, () => ctxRegistry.register(values[i]))
ctxRegistry.onEvent(libHandler, { capacity: CAPACITY, batch: 4096 })

const PATHS = [
  { id: 'lib-post', name: 'HandleRegistry: api->post per event', lib: true, setup: whenFull('drop'), start: (n) => addon.startLib(handles, n, 0) },
  { id: 'lib-many', name: 'HandleRegistry: api->post_many x256', lib: true, setup: whenFull('drop'), start: (n) => addon.startLib(handles, n, 256) },
  { id: 'lib-block', name: "HandleRegistry: api->post, whenFull 'block'", lib: true, setup: whenFull('block'), start: (n) => addon.startLib(handles, n, 0) },
  { id: 'lib-grow', name: "HandleRegistry: api->post, whenFull 'grow'", lib: true, setup: whenFull('grow'), start: (n) => addon.startLib(handles, n, 0) },
  { id: 'lib-wait', name: 'HandleRegistry: api->post_wait per event', lib: true, setup: whenFull('drop'), start: (n) => addon.startLib(handles, n, 0, 0, undefined, true) },
  { id: 'lib-ctx', name: 'HandleRegistry: api->post, asyncContext', lib: true, start: (n) => addon.startLib(ctxHandles, n, 0) },
  { id: 'tsfn', name: 'TSFN BlockingCall per event', start: (n) => addon.startTsfn(tsfnHandler, handles, n, false, CAPACITY) },
  { id: 'tsfn-typed', name: 'TypedTSFN BlockingCall per event', start: (n) => addon.startTsfn(tsfnTypedHandler, handles, n, true, CAPACITY) },
  { id: 'tsfn-nb', name: 'TypedTSFN NonBlockingCall, unbounded queue', start: (n) => addon.startTsfn(tsfnNbHandler, handles, n, true, 0) },
  { id: 'tsfn-256', name: 'hand-batched TSFN, 256 per call', start: (n) => addon.startTsfnBatched(batched256.fn, batched256.bufs, handles, n, 256) },
  { id: 'tsfn-4096', name: 'hand-batched TSFN, 4096 per call', start: (n) => addon.startTsfnBatched(batched4096.fn, batched4096.bufs, handles, n, 4096) },
].filter((p) => ONLY === null || ONLY.includes(p.id))

async function throughput (p, n) {
  const before = totalSum()
  const ev0 = registry.stats().events
  seen = 0
  target = n
  const finished = new Promise((resolve) => { done = resolve })
  const keepAlive = setInterval(() => {}, 1000) // onEvent does not keep the process alive
  p.setup?.()
  const t0 = process.hrtime.bigint()
  p.start(n)
  await finished
  clearInterval(keepAlive)
  const { retries, error, producerNs } = addon.join()
  if (error !== 0) throw new Error(`${p.id}: producer failed with status ${error}`)
  const expect = (n * (n - 1)) / 2
  if (totalSum() - before !== expect) throw new Error(`${p.id}: payload sum ${totalSum() - before}, expected ${expect}`)
  const ev1 = registry.stats().events
  if (ev1.droppedReleased !== ev0.droppedReleased) throw new Error(`${p.id}: events dropped as released`)
  return { ns: Number(tEnd - t0) / n, producerNs: producerNs / n, retries, droppedFull: ev1.droppedFull - ev0.droppedFull }
}

// One slice of `count` lone events on path p ('lib' or 'tsfn'); latencies (ns)
// are appended to out.
async function latencySlice (p, count, out) {
  lat = new Float64Array(count)
  latN = 0
  target = count
  latBase = process.hrtime.bigint()
  const finished = new Promise((resolve) => { done = resolve })
  const keepAlive = setInterval(() => {}, 1000)
  if (p === 'lib') addon.startLib(handles, count, 0, SPACING_US, latBase)
  else addon.startTsfn(tsfnHandler, handles, count, false, CAPACITY, SPACING_US, latBase)
  await finished
  clearInterval(keepAlive)
  const { error } = addon.join()
  if (error !== 0) throw new Error(`latency ${p}: producer failed with status ${error}`)
  for (const x of lat) out.push(x)
}

// Both paths in alternating slices of 200 events, so load changes hit both.
async function latency (count) {
  const res = { lib: [], tsfn: [] }
  const slice = Math.min(200, count)
  for (let n = 0; n < count; n += slice) {
    const m = Math.min(slice, count - n)
    const order = (n / slice) % 2 ? ['tsfn', 'lib'] : ['lib', 'tsfn']
    for (const p of order) await latencySlice(p, m, res[p])
  }
  const us = (x) => Math.round(x / 10) / 100
  const summary = (xs) => {
    const s = xs.sort((a, b) => a - b)
    return { p50Us: us(quantile(s, 0.5)), p99Us: us(quantile(s, 0.99)), maxUs: us(s[s.length - 1]), minUs: us(s[0]), samples: s.length }
  }
  return { library: summary(res.lib), tsfn: summary(res.tsfn) }
}

// --- split: producer alone / consumer alone (second registry, same queue) ------
// [key in the JSON, chunk (0: one event per call), api->post_wait, label]
const SPLIT_ROWS = [
  ['post', 0, false, 'api->post'],
  ['postWait', 0, true, 'api->post_wait'],
  ['postMany256', 256, false, 'api->post_many x256'],
]
async function split (rounds) {
  const reg = new HandleRegistry()
  const vals = []
  const hs = new Float64Array(VALUES)
  for (let i = 0; i < VALUES; i++) { vals.push({ sum: 0 }); hs[i] = reg.register(vals[i]) }
  let batches = 0
  // Internal: EventChannel.deliverInScope runs once per batch (events.js of the
  // same build). Counted only while the split runs (only its registry gets
  // events then), never in the main table.
  let counting = false
  let channelProto = null
  try { channelProto = require(path.join(path.dirname(DIST), 'events.js')).EventChannel?.prototype ?? null } catch { }
  const deliverInScope = channelProto?.deliverInScope
  if (typeof deliverInScope === 'function') {
    channelProto.deliverInScope = function (count) { if (counting) batches++; return deliverInScope.call(this, count) }
  }
  reg.onEvent(libHandler, { capacity: CAPACITY, batch: 4096 })
  // n events; prefill: in pieces of CAPACITY, each queued entirely while JS is
  // blocked in join(), then drained by JS (timed from after the join). wait:
  // api->post_wait per event (chunk 0); a piece fits in the producer's lanes,
  // so it never waits (it would wait for ever while JS is in join()).
  const one = async (chunk, prefill, wait = false) => {
    batches = 0
    let consumer = 0n
    let producer = 0
    let total = 0n
    for (let done0 = 0; done0 < N;) {
      const n = prefill ? Math.min(CAPACITY, N - done0) : N
      seen = 0
      target = n
      const finished = new Promise((resolve) => { done = resolve })
      const keepAlive = setInterval(() => {}, 1000)
      let t0 = process.hrtime.bigint()
      addon.startLib(hs, n, chunk, 0, undefined, wait)
      let j = null
      if (prefill) { j = addon.join(); t0 = process.hrtime.bigint() }
      await finished
      clearInterval(keepAlive)
      if (!prefill) j = addon.join()
      if (j.error !== 0 || (prefill && j.retries !== 0)) throw new Error(`split: producer status ${j.error}, ${j.retries} retries`)
      consumer += tEnd - t0
      total += tEnd - t0
      producer += j.producerNs
      done0 += n
    }
    return { ns: Number(total) / N, consumerNs: Number(consumer) / N, producerNs: producer / N, batches }
  }
  counting = true
  const acc = {}
  const push = (k, v) => { (acc[k] ??= []).push(v) }
  await one(0, true) // warm-up
  await one(0, true, true)
  await one(256, true)
  for (let r = 0; r < rounds; r++) {
    for (const [name, chunk, wait] of SPLIT_ROWS) {
      const live = await one(chunk, false, wait)
      const pre = await one(chunk, true, wait)
      push(`${name}.live`, live.ns)
      push(`${name}.liveProducer`, live.producerNs)
      push(`${name}.liveBatches`, live.batches)
      push(`${name}.producerAlone`, pre.producerNs)
      push(`${name}.consumerAlone`, pre.consumerNs)
    }
  }
  counting = false
  if (typeof deliverInScope === 'function') channelProto.deliverInScope = deliverInScope
  reg.close()
  const out = { capacity: CAPACITY, rounds }
  for (const [k, v] of Object.entries(acc)) {
    const [name, field] = k.split('.')
    out[name] ??= {}
    out[name][field] = +median(v).toFixed(2)
  }
  for (const [name] of SPLIT_ROWS) out[name].liveAvgBatch = Math.round(N / out[name].liveBatches)
  return out
}

async function main () {
  console.log(`events benchmark: Node ${process.version}, ${os.cpus().length} CPUs, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  console.log(`${N.toLocaleString('en-US')} events per run, ${ROUNDS} rounds interleaved, queue capacity ${CAPACITY}, ${VALUES} registered values`)
  const clock = clockCheck()
  console.log(`clock check: C++ steady_clock inside [hrtime before, hrtime after] in ${clock.bracketed}/${clock.samples} samples` +
    (clock.agree ? ' (same clock)' : ` (worst ${clock.worstOutsideNs} ns outside: latency figures are off by up to that)`))

  // Warm-up: JIT every handler and the registry's delivery loop, untimed.
  for (const p of PATHS) await throughput(p, Math.min(N, 200000))

  const ns = new Map(PATHS.map((p) => [p.id, []]))
  const retries = new Map(PATHS.map((p) => [p.id, []]))
  const producer = new Map(PATHS.map((p) => [p.id, []]))
  const t0 = Date.now()
  for (let r = 0; r < ROUNDS; r++) {
    const order = r % 2 ? [...PATHS].reverse() : PATHS
    for (const p of order) {
      const res = await throughput(p, N)
      ns.get(p.id).push(res.ns)
      retries.get(p.id).push(res.retries)
      producer.get(p.id).push(res.producerNs)
      if (p.id === 'lib-post' && res.droppedFull !== res.retries) throw new Error(`${p.id}: droppedFull ${res.droppedFull} != retries ${res.retries}`)
    }
    console.log(`round ${r + 1}/${ROUNDS}: ` + PATHS.map((p) => `${p.id} ${ns.get(p.id)[r].toFixed(1)}`).join(', ') + ' ns/event')
  }
  const throughputSec = (Date.now() - t0) / 1000

  let lat = null
  if (LATENCY && LONE > 0) {
    console.log(`lone-event latency: ${LONE} events ${SPACING_US} us apart per path, in alternating slices (~${Math.round(2 * LONE * SPACING_US * 1.1 / 1e6)} s)`)
    whenFull('drop')() // the library's lone events under the default policy
    lat = await latency(LONE)
  }

  let splitRes = null
  if (SPLIT && (ONLY === null || ONLY.includes('split'))) splitRes = await split(ROUNDS)

  const nsOf = (id) => (ns.has(id) ? median(ns.get(id)) : NaN)
  const tsfn = nsOf('tsfn')
  const b4096 = nsOf('tsfn-4096')
  const nb = nsOf('tsfn-nb') // the fastest per-event TSFN use: NonBlockingCall, unbounded queue
  const rows = PATHS.map((p) => {
    const v = nsOf(p.id)
    const row = {
      name: p.name,
      impl: p.id,
      group: `${N >= 1e6 ? N / 1e6 + 'M' : N} events from one native thread; (Nx) = times faster than one TSFN call per event`,
      nsPerEvent: +v.toFixed(2),
      eventsPerSec: Math.round(1e9 / v),
      ratioVsTsfn: +(tsfn / v).toFixed(2),
      ratio: +(tsfn / v).toFixed(2),
      ratioVsBatched4096: +(v / b4096).toFixed(2),
      ratioVsTsfnNonBlocking: +(nb / v).toFixed(2),
      nsPerEventRounds: ns.get(p.id).map((x) => +x.toFixed(2)),
      producerNsPerEvent: +median(producer.get(p.id)).toFixed(2),
      queueFullRetries: median(retries.get(p.id)),
    }
    if (lat && p.id === 'lib-post') row.latency = lat.library
    if (lat && p.id === 'tsfn') row.latency = lat.tsfn
    return row
  })

  // --- table
  const pad = (s, n) => String(s).padEnd(n)
  const lpad = (s, n) => String(s).padStart(n)
  console.log('')
  console.log(`${pad('path', 44)}${lpad('ns/event', 10)}${lpad('events/s', 13)}${lpad('x faster than', 15)}${lpad('x faster than', 15)}${lpad('ns / batched', 14)}${lpad('producer', 10)}${lpad('retries', 10)}`)
  console.log(`${pad('', 44)}${lpad('(median)', 10)}${lpad('', 13)}${lpad('TSFN Blocking', 15)}${lpad('TSFN NonBlock', 15)}${lpad('4096', 14)}${lpad('ns/event', 10)}${lpad('(median)', 10)}`)
  for (const r of rows) {
    console.log(`${pad(r.name, 44)}${lpad(r.nsPerEvent.toFixed(1), 10)}${lpad((r.eventsPerSec / 1e6).toFixed(1) + 'M', 13)}` +
      `${lpad(Number.isFinite(r.ratioVsTsfn) ? r.ratioVsTsfn.toFixed(1) + 'x' : '-', 15)}${lpad(Number.isFinite(r.ratioVsTsfnNonBlocking) ? r.ratioVsTsfnNonBlocking.toFixed(1) + 'x' : '-', 15)}${lpad(Number.isFinite(r.ratioVsBatched4096) ? r.ratioVsBatched4096.toFixed(2) : '-', 14)}${lpad(r.producerNsPerEvent.toFixed(1), 10)}${lpad(r.queueFullRetries, 10)}`)
  }
  console.log('("producer": time the producer thread spent posting, per event; "retries": QUEUE_FULL retries of the')
  console.log(' library producer (post_many: per call), for hand-batched TSFN the yields waiting for a free buffer)')
  if (lat) {
    console.log('')
    console.log(`lone-event latency (post in C++ -> handler call), ${LONE} events ${SPACING_US} us apart:`)
    for (const [k, v] of Object.entries(lat)) {
      console.log(`  ${pad(k === 'library' ? 'HandleRegistry (api->post)' : 'TSFN BlockingCall', 28)} p50 ${lpad(v.p50Us.toFixed(1), 7)} us   p99 ${lpad(v.p99Us.toFixed(1), 7)} us   max ${lpad(v.maxUs.toFixed(1), 8)} us`)
    }
  }

  if (splitRes) {
    console.log('')
    console.log(`where the library's time goes (second registry, same options, ns per event, medians of ${splitRes.rounds}):`)
    console.log(`  ${pad('', 20)}${lpad('live total', 12)}${lpad('producer', 10)}${lpad('batches', 10)}${lpad('avg batch', 11)}${lpad('producer', 11)}${lpad('consumer', 11)}`)
    console.log(`  ${pad('', 20)}${lpad('', 12)}${lpad('(live)', 10)}${lpad('(live)', 10)}${lpad('(live)', 11)}${lpad('alone', 11)}${lpad('alone', 11)}`)
    for (const [name, , , label] of SPLIT_ROWS) {
      const x = splitRes[name]
      console.log(`  ${pad(label, 20)}${lpad(x.live.toFixed(1), 12)}${lpad(x.liveProducer.toFixed(1), 10)}${lpad(x.liveBatches, 10)}${lpad(x.liveAvgBatch, 11)}${lpad(x.producerAlone.toFixed(1), 11)}${lpad(x.consumerAlone.toFixed(1), 11)}`)
    }
    console.log('  (alone: the producer fills the queue while JS is blocked, then JS drains it: each side timed by itself)')
  }

  // --- targets
  const targets = []
  const lib = nsOf('lib-post')
  const many = nsOf('lib-many')
  if (Number.isFinite(lib) && Number.isFinite(tsfn)) {
    targets.push({ target: 'library >= 50x faster than one TSFN BlockingCall per event', post: +(tsfn / lib).toFixed(1), postMany: +(tsfn / many).toFixed(1), pass: tsfn / lib >= 50 })
  }
  if (Number.isFinite(lib) && Number.isFinite(nb)) {
    targets.push({ target: 'library faster than the fastest per-event TSFN (NonBlockingCall, unbounded queue): x faster', post: +(nb / lib).toFixed(1), postMany: +(nb / many).toFixed(1), pass: nb / lib > 1 })
  }
  if (Number.isFinite(lib) && Number.isFinite(b4096)) {
    targets.push({ target: 'library no slower than hand-batched TSFN at 4096 (ns ratio <= 1.0)', post: +(lib / b4096).toFixed(2), postMany: +(many / b4096).toFixed(2), pass: lib / b4096 <= 1.0 })
  }
  if (lat) targets.push({ target: 'lone-event latency p99 < 1 ms', post: lat.library.p99Us, pass: lat.library.p99Us < 1000 })
  console.log('')
  console.log('targets (design brief), api->post per event [api->post_many x256]:')
  for (const t of targets) {
    console.log(`  ${t.pass ? 'PASS' : 'FAIL'}  ${t.target}: ${t.post}${t.postMany !== undefined ? ` [${t.postMany}]` : ''}${/latency/.test(t.target) ? ' us' : /faster/.test(t.target) ? 'x' : ''}`)
  }
  console.log(`(throughput rounds took ${throughputSec.toFixed(1)} s)`)

  const out = {
    node: process.version,
    date: new Date().toISOString(),
    cpus: os.cpus().length,
    loadavg: os.loadavg(),
    events: N,
    rounds: ROUNDS,
    capacity: CAPACITY,
    batch: 4096,
    values: VALUES,
    clock,
    ratioDefinitions: {
      ratioVsTsfn: 'ns per event of "TSFN BlockingCall per event" / ns of this row (how many times faster; >= 50 is the library target)',
      ratio: 'same as ratioVsTsfn (the chart label)',
      ratioVsTsfnNonBlocking: 'ns per event of "TypedTSFN NonBlockingCall, unbounded queue" / ns of this row (times faster than the fastest per-event TSFN use)',
      ratioVsBatched4096: 'ns of this row / ns of "hand-batched TSFN, 4096 per call" (<= 1.0 is the library target)',
    },
    rows,
    latency: lat ? { spacingUs: SPACING_US, ...lat } : null,
    split: splitRes,
    targets,
  }
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify(out, null, 2) + '\n')
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`)
  registry.close()
  ctxRegistry.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
