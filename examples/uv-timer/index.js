'use strict'
// examples/uv-timer/index.js: libuv (the C library inside Node) calling back
// with a handle-registry handle in its `void* data`.
//
//   npm install && npm start          (in this folder)
//
// The addon (uv_timer.cc) sets `timer->data` / `req->data` to
// hr::to_user_data(handle); every libuv callback turns it back into the handle
// and posts an event to it (api->post), and registry.onEvent's handler
// receives the registered object. Cases:
//   A. uv_timer_t, handle live: every tick reaches the handler;
//   B. uv_queue_work, handle live: the work callback, on a libuv threadpool
//      thread, posts progress events; the after-work callback, back on the
//      loop thread, posts "done";
//   C. uv_timer_t whose handle JS released before it fired: the timer
//      callback's post returns "stale_handle" and the addon stops the timer;
//   D. uv_queue_work whose handle the handler releases after the first
//      progress event: the next posts from the threadpool return
//      "stale_handle", the work stops early, after-work is told "stale_handle";
//   E. a timer and a work item of a registry closed before they call back:
//      "registry_closed".
//
// Exports run() for examples/demo.js and test/examples.test.ts; `node
// index.js` prints what happened.
const path = require('node:path')

function loadHandleRegistry() {
  try {
    return require('handle-registry')
  } catch (err) {
    if (err.code !== 'MODULE_NOT_FOUND') throw err
    return require('../..') // inside the handle-registry repository, without `npm install` here
  }
}
const { HandleRegistry } = loadHandleRegistry()

const ADDON = path.join(__dirname, 'build', 'Release', 'uv_timer.node')
let addon
/** The compiled addon (build it first: npm install, or npx node-gyp rebuild). */
function load() {
  if (!addon) addon = require(ADDON)
  return addon
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function until(cond, timeoutMs, what) {
  const t0 = Date.now()
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`uv-timer example: timed out waiting for ${what}`)
    await sleep(2)
  }
}

/** Every event posted to the registry has been delivered or dropped. */
function settled(e) {
  return e.posted === e.delivered + e.droppedStale + e.droppedClosed + e.droppedFull + e.droppedAtClose + e.droppedInvalid
}

function countBy(items, key) {
  const out = {}
  for (const it of items) out[key(it)] = (out[key(it)] ?? 0) + 1
  return out
}

/** Runs cases A to E at the same time and returns, per case, the posts and the handler calls. */
async function run() {
  const lib = load()
  const { PROGRESS } = lib.kinds
  const t0 = performance.now()
  const registry = new HandleRegistry()
  registry.onEvent((value, kind, payload, handle) => {
    value.received.push({ kind, payload })
    if (value.releaseOnProgress && kind === PROGRESS) registry.release(handle) // case D
  })
  lib.attach(registry) // checks the C ABI version; the table is process-wide
  lib.takeLog()

  const make = (name, reg = registry) => {
    const value = { name, received: [] }
    value.handle = reg.register(value)
    return value
  }

  const a = make('timer A')
  lib.startTimer(a.handle, 5, 5) // every 5 ms, 5 ticks
  const b = make('work B')
  lib.queueWork(b.handle, 3, 5) // 3 steps of 5 ms on the threadpool
  const c = make('timer C')
  lib.startTimer(c.handle, 20, 5)
  registry.release(c.handle) // before it fires: its callback cannot run before this task ends
  const d = make('work D')
  d.releaseOnProgress = true
  lib.queueWork(d.handle, 3, 50) // 3 steps of 50 ms; the handler releases d after step 1

  const other = new HandleRegistry()
  let otherCalls = 0
  other.onEvent(() => { otherCalls++ })
  const e1 = make('timer E', other)
  const e2 = make('work E', other)
  lib.startTimer(e1.handle, 20, 5)
  lib.queueWork(e2.handle, 3, 20)
  other.close()

  await until(() => lib.active() === 0, 10_000, 'the timers and work items')
  await until(() => settled(registry.stats().events), 5_000, 'the last events to be delivered')
  const log = lib.takeLog()
  const stats = registry.stats().events
  registry.close()

  const SOURCES = { timer: 'timer callback (loop thread)', work: 'work callback (threadpool)', after_work: 'after-work callback (loop thread)' }
  const KIND_NAMES = Object.fromEntries(Object.entries(lib.kinds).map(([k, v]) => [v, k]))
  const describe = (value) => log.filter((p) => p.handle === value.handle).map((p) => ({
    ...p, name: value.name, where: SOURCES[p.source], kindName: KIND_NAMES[p.kind],
  }))
  const cases = [
    { id: 'A', label: 'uv_timer_t, handle live', values: [a] },
    { id: 'B', label: 'uv_queue_work, handle live', values: [b] },
    { id: 'C', label: 'uv_timer_t, handle released before it fired', values: [c] },
    { id: 'D', label: 'uv_queue_work, handle released by the handler after step 1', values: [d] },
    { id: 'E', label: 'timer + work of a registry closed before they called back', values: [e1, e2], handlerCalls: otherCalls },
  ]
  for (const k of cases) {
    k.posts = k.values.flatMap(describe)
    k.received = k.values.flatMap((v) => v.received)
    k.statuses = countBy(k.posts, (p) => p.status)
    k.where = [...new Set(k.posts.map((p) => p.where))]
  }
  return { cases, log, stats, kinds: lib.kinds, ms: performance.now() - t0 }
}

async function main() {
  const { cases, stats, ms } = await run()
  console.log('libuv: the handle is timer->data / req->data\n')
  console.table(cases.flatMap((k) => k.posts.map((p) => ({
    case: k.id, value: p.name, callback: p.where, event: `${p.kindName} ${p.payload}`, 'post() returned': p.status,
  }))))
  console.table(cases.map((k) => ({
    case: `${k.id}. ${k.label}`,
    statuses: Object.entries(k.statuses).map(([s, n]) => `${s} x${n}`).join(', '),
    'handler calls': k.received.length,
  })))
  console.log('registry.stats().events:', JSON.stringify(stats), `(${ms.toFixed(0)} ms)`)
}

module.exports = { run, load, ADDON }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
