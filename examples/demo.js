'use strict'
// examples/demo.js: the demonstration run by `npm run demo`.
//
//   1. a registry walkthrough: register, get, release, stale/foreign/invalid;
//   2. a quick in-process comparison of register+get+release against the two
//      designs this library replaces: a Map keyed by a counter (Go's
//      cgo.Handle ported to JS) and a bare array slab (wasm-bindgen's heap);
//   3. with the native addon: native threads posting events to registered
//      handles, delivered to a JS handler in batches.
//
// This file loads the local build. In your own code write:
//   const { HandleRegistry } = require('handle-registry')
const os = require('node:os')
const {
  HandleRegistry, HandleDomain, decodeHandle, hasNative, _nativeBinding,
} = require('../dist/index.js')

// --- output helpers ----------------------------------------------------------

/** Prints rows as an aligned text table; numeric-looking cells align right. */
function table(headers, rows) {
  const cells = [headers, ...rows].map((r) => r.map((c) => String(c)))
  const widths = headers.map((_, i) => Math.max(...cells.map((r) => r[i].length)))
  const numeric = headers.map((_, i) => rows.every((r) => /^[-+]?[\d,.]+( ?[a-zµ%x/]+)?$/i.test(String(r[i]))))
  const line = (r) => '  ' + r.map((c, i) => (numeric[i] ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('   ').trimEnd()
  console.log(line(cells[0]))
  console.log('  ' + widths.map((w) => '-'.repeat(w)).join('   '))
  for (const r of cells.slice(1)) console.log(line(r))
}

function heading(text) {
  console.log(`\n${text}\n${'='.repeat(text.length)}`)
}

const fmt = (n, digits = 0) => n.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits })

function outcome(fn) {
  try {
    const v = fn()
    return v === undefined ? 'undefined' : typeof v === 'object' ? JSON.stringify(v) : String(v)
  } catch (err) {
    return `throws ${err.constructor.name} (${err.code})`
  }
}

// --- 1. walkthrough ----------------------------------------------------------

function walkthrough() {
  heading('1. Registry walkthrough')
  // A domain of its own keeps the numbers in this table the same on every run;
  // shards: 1 makes the slot reuse in step 5 immediate.
  const domain = HandleDomain.create()
  const registry = new HandleRegistry({ domain, shards: 1 })
  const other = new HandleRegistry({ domain })
  const closed = new HandleRegistry({ domain })
  const rows = []
  const step = (call, fn) => rows.push([rows.length + 1, call, outcome(fn)])

  let h
  step('h = registry.register({ name: "socket 1" })', () => (h = registry.register({ name: 'socket 1' })))
  const d = decodeHandle(h)
  step('decodeHandle(h)', () => `block ${d.block}, offset ${d.offset}, generation ${d.generation}`)
  step('registry.get(h)', () => registry.get(h))
  step('registry.release(h)', () => registry.release(h))
  let h2
  step('h2 = registry.register({ name: "socket 2" })', () => (h2 = registry.register({ name: 'socket 2' })))
  const d2 = decodeHandle(h2)
  step('decodeHandle(h2)', () => `block ${d2.block}, offset ${d2.offset}, generation ${d2.generation} (same slot)`)
  step('registry.get(h)    // released', () => registry.get(h))
  step('registry.tryGet(h) / has(h)', () => `${registry.tryGet(h)} / ${registry.has(h)}`)
  step('registry.get(h2)', () => registry.get(h2))
  const foreign = other.register('not yours')
  step(`registry.get(${foreign})  // other registry's`, () => registry.get(foreign))
  step('domain.describe(that handle)', () => domain.describe(foreign))
  step('registry.get(0)', () => registry.get(0))
  step('registry.get(h + 0.5)', () => registry.get(h + 0.5))
  closed.close()
  step('closedRegistry.register(1)', () => closed.register(1))
  table(['#', 'call', 'result'], rows)

  const { shards, ...counters } = registry.stats()
  console.log('\n  registry.stats():', JSON.stringify(counters))
  registry.close()
  other.close()
}

// --- 2. comparison -----------------------------------------------------------

// Go's runtime/cgo.Handle ported to JS: handle = ++counter, one Map.
class CounterMap {
  constructor() {
    this.map = new Map()
    this.counter = 0
  }

  register(v) {
    const h = ++this.counter
    this.map.set(h, v)
    return h
  }

  get(h) {
    const v = this.map.get(h)
    if (v === undefined && !this.map.has(h)) throw new Error(`invalid handle ${h}`)
    return v
  }

  release(h) {
    const v = this.map.get(h)
    if (!this.map.delete(h)) throw new Error(`invalid handle ${h}`)
    return v
  }
}

// wasm-bindgen's heap: an array slab with a free list, no check at all (a
// released handle silently resolves to whatever reuses its slot).
class BareSlab {
  constructor() {
    this.vals = []
    this.next = -1
  }

  register(v) {
    let i = this.next
    if (i < 0) {
      i = this.vals.length
      this.vals.push(v)
    } else {
      this.next = this.vals[i]
      this.vals[i] = v
    }
    return i + 1
  }

  get(h) {
    return this.vals[h - 1]
  }

  release(h) {
    const i = h - 1
    const v = this.vals[i]
    this.vals[i] = this.next
    this.next = i
    return v
  }
}

const N = 1_000_000 // live entries at the peak of each round, as in the design brief's baselines
const objects = Array.from({ length: N }, (_, i) => ({ i }))
const handles = new Float64Array(N)

// One round: register N objects, get each, release each. One function per
// design (not one shared generic loop), so V8 optimises each for its own
// class, as it would in an application that uses only one of them.
function roundRegistry(r) {
  let sink = 0
  for (let i = 0; i < N; i++) handles[i] = r.register(objects[i])
  for (let i = 0; i < N; i++) sink += r.get(handles[i]).i
  for (let i = 0; i < N; i++) r.release(handles[i])
  return sink
}

function roundMap(r) {
  let sink = 0
  for (let i = 0; i < N; i++) handles[i] = r.register(objects[i])
  for (let i = 0; i < N; i++) sink += r.get(handles[i]).i
  for (let i = 0; i < N; i++) r.release(handles[i])
  return sink
}

function roundSlab(r) {
  let sink = 0
  for (let i = 0; i < N; i++) handles[i] = r.register(objects[i])
  for (let i = 0; i < N; i++) sink += r.get(handles[i]).i
  for (let i = 0; i < N; i++) r.release(handles[i])
  return sink
}

/** ns per register+get+release: one warm-up round, then the best of two rounds. */
function measure(make, round) {
  const r = make()
  round(r)
  let best = Infinity
  for (let k = 0; k < 2; k++) {
    const t0 = performance.now()
    round(r)
    best = Math.min(best, ((performance.now() - t0) * 1e6) / N)
  }
  if (typeof r.close === 'function') r.close()
  return best
}

function comparison() {
  heading('2. register + get + release, per handle (this process, this machine)')
  console.log(`  each round: register ${fmt(N)} objects, get each, release each; best of 2 rounds after a warm-up`)
  console.log(`  Node ${process.version}, ${os.cpus().length} CPUs\n`)
  const results = [
    ['HandleRegistry (this library)', 'generation-checked, sharded', measure(() => new HandleRegistry(), roundRegistry)],
    ['Map keyed by a counter', "Go's cgo.Handle design", measure(() => new CounterMap(), roundMap)],
    ['bare array slab + free list', 'no stale check (wasm-bindgen heap)', measure(() => new BareSlab(), roundSlab)],
  ]
  const mine = results[0][2]
  table(['design', 'notes', 'ns/op', 'vs HandleRegistry'], results.map(([name, notes, ns]) => [
    name, notes, fmt(ns, 1),
    ns === mine ? '1.00x' : ns > mine ? `${fmt(ns / mine, 2)}x slower` : `${fmt(mine / ns, 2)}x faster`,
  ]))
  console.log('\n  A short run: expect noise of 20% or more. Every slot here is in its first 8 issues, so the')
  console.log('  handles are small integers; a slot reused more often gives handles above 2^31, which cost')
  console.log('  more (docs/design.md). The bare slab is the only design here in which a released handle')
  console.log('  resolves to whatever value reuses its slot. Full benchmark: npm run bench')
}

// --- 3. native events --------------------------------------------------------

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

/** Events posted to the registry and neither delivered nor dropped yet. */
function inFlight(e) {
  return e.posted - e.delivered - e.droppedStale - e.droppedClosed - e.droppedFull - e.droppedAtClose - e.droppedInvalid
}

/**
 * Starts `threads` native producer threads (test_start_producers: std::threads
 * of the addon). Thread t posts `perThread` events, event i to
 * targets[i % targets.length] with kind kindBase + t and payload i. Waits until
 * the threads are done and the queue is empty, then joins them.
 */
async function runProducers(binding, registry, targets, threads, perThread, kindBase, retryFull) {
  const before = registry.stats().events
  const t0 = performance.now()
  const id = binding.test_start_producers(targets, threads, perThread, kindBase, retryFull)
  const deadline = t0 + 5000
  // Joining blocks this thread, and the producers may be waiting for this
  // thread to drain the queue: wait until they are done and the queue is empty.
  while (!(binding.test_producers_done(id) && inFlight(registry.stats().events) === 0)) {
    if (performance.now() > deadline) { // should not happen: stop, let the producers end, report
      registry.offEvent() // retrying producers now get registry_closed and stop
      while (!binding.test_producers_done(id)) await sleep(1)
      throw new Error(`native producers did not finish within 5 s: ${JSON.stringify(binding.test_join_producers(id))}`)
    }
    await sleep(0)
  }
  const ms = performance.now() - t0
  const producers = binding.test_join_producers(id) // { ok, stale, closed, full, invalid, posted, retries }
  const after = registry.stats().events
  return {
    ms,
    producers,
    handled: after.handled - before.handled,
    droppedReleased: after.droppedReleased - before.droppedReleased,
  }
}

async function nativeEvents() {
  heading('3. Events from native threads')
  if (!hasNative()) {
    console.log('  The native addon is not loaded, so this section is skipped (registry.onEvent would throw')
    console.log('  ERR_NATIVE_UNAVAILABLE). Build it with a C++ toolchain: npx node-gyp rebuild')
    return
  }
  const binding = _nativeBinding()
  if (typeof binding.test_start_producers !== 'function' || typeof binding.test_join_producers !== 'function' ||
      typeof binding.test_producers_done !== 'function') {
    console.log('  This build of the addon has no test producer threads (test_start_producers): section skipped.')
    return
  }

  const registry = new HandleRegistry()
  const TARGETS = 64
  const values = Array.from({ length: TARGETS }, (_, i) => ({ id: i, events: 0, releaseAfter: Infinity }))
  const targets = new Float64Array(values.map((v) => registry.register(v)))
  const lastPayload = new Float64Array(2000).fill(-1) // by kind (= producer thread): checks per-producer order
  let outOfOrder = 0
  let wakeups = 0
  let inWakeup = false
  let lone = null // resolves the lone-event latency probe
  const handler = (value, kind, payload, handle) => {
    value.events++
    if (payload <= lastPayload[kind]) outOfOrder++
    lastPayload[kind] = payload
    if (value.events >= value.releaseAfter) registry.release(handle) // later events to it are dropped
    if (lone !== null) lone()
    if (!inWakeup) { // one event-loop wake-up delivers up to 64 batches; microtasks run after it
      inWakeup = true
      wakeups++
      queueMicrotask(() => { inWakeup = false })
    }
  }
  registry.onEvent(handler, { capacity: 65536, batch: 4096 })

  const rows = []
  const row = (label, r, extra = '') => {
    const p = r.producers
    rows.push([label, fmt(p.posted), fmt(p.ok), fmt(r.handled), fmt(p.stale), fmt(r.droppedReleased),
      fmt(p.full), fmt(p.retries), `${fmt(r.ms, 0)} ms`, fmt((r.ms * 1e6) / p.posted, 1), extra])
  }

  // a, b) every handle live; producers retry when the queue is full (nothing is lost).
  wakeups = 0
  const a = await runProducers(binding, registry, targets, 1, 1_000_000, 10, true)
  row('a. 1 thread, all live', a, `${fmt(a.handled / Math.max(wakeups, 1))}`)
  wakeups = 0
  const b = await runProducers(binding, registry, targets, 2, 1_000_000, 20, true)
  row('b. 2 threads, all live', b, `${fmt(b.handled / Math.max(wakeups, 1))}`)

  // c) the handler releases each handle after its 2,000th event: events already
  //    queued for it are dropped in JS, later posts are refused at the source.
  for (const v of values) {
    v.events = 0
    v.releaseAfter = 2000
  }
  wakeups = 0
  const c = await runProducers(binding, registry, targets, 2, 500_000, 30, true)
  row('c. handler releases handles', c, `${fmt(c.handled / Math.max(wakeups, 1))}`)

  // d) a 1,024-event queue, no retry: posts to a full queue are refused.
  const small = new HandleRegistry()
  const smallTargets = new Float64Array([small.register({ events: 0 })])
  small.onEvent((value) => { value.events++ }, { capacity: 1024, batch: 256 })
  const d = await runProducers(binding, small, smallTargets, 2, 500_000, 40, false)
  row('d. queue of 1,024, no retry', d, '')

  table(['run', 'posted', 'accepted', 'handled', 'stale at post', 'released in queue', 'queue full',
    'retries', 'time', 'ns/event', 'events/wake-up'], rows)

  // e) latency of a lone event: start a thread that posts one event, await the handler.
  const live = registry.register({ events: 0, releaseAfter: Infinity })
  const one = new Float64Array([live])
  const lat = []
  // An installed handler does not keep the process alive: a timer does, meanwhile.
  const keepAlive = setInterval(() => {}, 1000)
  for (let i = 0; i < 200; i++) {
    const got = new Promise((resolve) => { lone = resolve })
    const t0 = performance.now()
    const id = binding.test_start_producers(one, 1, 1, 1000 + i, false) // a new kind each time
    await got
    lat.push((performance.now() - t0) * 1000)
    lone = null
    while (!binding.test_producers_done(id)) await sleep(0)
    binding.test_join_producers(id)
  }
  clearInterval(keepAlive)
  lat.sort((x, y) => x - y)
  const pct = (q) => fmt(lat[Math.min(lat.length - 1, Math.floor(q * lat.length))], 0)

  console.log('\n  Producers are std::threads of the addon posting to 64 handles (run d: 1); times include starting them.')
  console.log('  accepted: posts queued; stale at post: refused because the handle was already released;')
  console.log('  released in queue: queued, then dropped in JS because the handle was released before delivery;')
  console.log('  queue full: final refusals; retries: extra posts after a refusal (each one also counts in droppedFull).')
  console.log(`  per-producer order kept: ${outOfOrder === 0 ? 'yes' : `no (${outOfOrder} inversions)`}`)
  console.log(`  e. lone event, thread start + post + delivery to the handler: p50 ${pct(0.5)} µs, p99 ${pct(0.99)} µs (200 runs)`)
  const { events } = registry.stats()
  console.log('  registry.stats().events:', JSON.stringify(events))
  registry.close()
  small.close()
}

async function main() {
  const t0 = performance.now()
  console.log(`handle-registry demo (native addon ${hasNative() ? 'loaded' : 'not loaded: pure TypeScript mode'})`)
  walkthrough()
  comparison()
  await nativeEvents()
  console.log(`\ndone in ${fmt((performance.now() - t0) / 1000, 1)} s`)
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
