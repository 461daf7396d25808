'use strict'
// What the JS side of any per-event delivery costs at least, measured with
// the handler and values of bench/events/run.js: a batch of records
// [handle, kind, payload, size] in a Float64Array (the layout the library's
// drain writes), 1,024 values visited in order, 4,096 events per batch.
//
//   node bench/events/consumer-floor.js [--rounds=5] [--batches=400]
//
// Rows (each in its own child process, so no row's JIT feedback reaches
// another; rounds interleaved, median of the rounds, ns per event):
//   call             handler(value, kind, payload, h), the value taken by index:
//                    the per-event call and the handler's own work, no lookup
//   genslab + call   the gen-check slab's get (bench/registry/impls.js), then the call
//   registry + call  registry.get, then the call
//   registry inline  registry.get and the handler's work written inline in the
//                    loop: the JS side of hand-batched TSFN in bench/events/run.js
//   library deliver  the library's own JS side: records written here (as the
//                    native drain would), handed to the registry's onEvent
//                    callback (deliverInScope -> deliver: lookup, checks,
//                    counters, the handler). No native drain: the split of
//                    bench/events/run.js ("consumer alone") times drain + deliver
// The issue 11 target "consumer side at most 4 ns per event" is below the
// "genslab + call" row on this machine: no design that calls a JS function
// per event with a looked-up value reaches it.

const { fork } = require('child_process')
const path = require('path')
const { GenSlab, loadRegistry, DIST } = require('../registry/impls.js') // BENCH_DIST works here too

const VALUES = 1024
const BATCH = 4096

function opt (name, dflt) {
  const a = process.argv.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? dflt : Number(a.slice(name.length + 3))
}

const ROWS = ['call', 'genslab + call', 'registry + call', 'registry inline', 'library deliver']

// --- one row, in a child -------------------------------------------------------
function runRow (row, batches) {
  const values = []
  for (let i = 0; i < VALUES; i++) values.push({ sum: 0 })
  const store = row.startsWith('genslab') ? new GenSlab() : new (loadRegistry().HandleRegistry)() // the default (native) domain, as in run.js
  const handles = values.map((v) => store.register(v))
  let records = new Float64Array(4 * BATCH)
  let deliver = null
  if (row === 'library deliver') [records, deliver] = captureDelivery(store, handler)
  for (let i = 0; i < BATCH; i++) {
    records[4 * i] = handles[i % VALUES]
    records[4 * i + 1] = 1
    records[4 * i + 2] = i & 7
  }
  let seen = 0
  let target = -1
  // bench/events/run.js's libHandler
  function handler (v, kind, payload) {
    if (kind === 1) {
      v.sum += payload
      if (++seen === target) throw new Error('unreachable')
    }
  }
  const loops = {
    call (n) {
      for (let i = 0; i < n; i++) {
        const r = 4 * i
        handler(values[i & (VALUES - 1)], records[r + 1], records[r + 2], records[r])
      }
    },
    'genslab + call' (n) {
      for (let i = 0; i < n; i++) {
        const r = 4 * i
        const h = records[r]
        handler(store.get(h), records[r + 1], records[r + 2], h)
      }
    },
    'registry + call' (n) {
      for (let i = 0; i < n; i++) {
        const r = 4 * i
        const h = records[r]
        handler(store.get(h), records[r + 1], records[r + 2], h)
      }
    },
    'library deliver' (n) {
      deliver(n)
    },
    'registry inline' (n) {
      for (let i = 0; i < n; i++) {
        const r = 4 * i
        const v = store.get(records[r])
        if (records[r + 1] === 1) v.sum += records[r + 2]
      }
      seen += n
      if (seen === target) throw new Error('unreachable')
    }
  }
  const loop = loops[row]
  for (let j = 0; j < 200; j++) loop(BATCH) // warm-up: optimised before timing
  const t0 = process.hrtime.bigint()
  for (let j = 0; j < batches; j++) loop(BATCH)
  const ns = Number(process.hrtime.bigint() - t0) / (batches * BATCH)
  // Every event reached its value: sum of (i & 7) over all batches.
  const expected = (200 + batches) * (BATCH / 8) * 28
  const sum = values.reduce((s, v) => s + v.sum, 0)
  if (sum !== expected) throw new Error(`${row}: payload sum ${sum}, expected ${expected}`)
  return ns
}

// The registry's own delivery buffers and callback: onEvent() with the
// addon's open_events wrapped to catch what the channel hands it. The same
// records layout must be written here as the drain writes (events.ts).
function captureDelivery (registry, handler) {
  const binding = require(path.join(path.dirname(DIST), 'native.js')).nativeBinding()
  const open = binding.open_events
  let records = null
  let callback = null
  binding.open_events = function (owner, capacity, recs, cb, ...rest) {
    records = recs
    callback = cb
    return open.call(this, owner, capacity, recs, cb, ...rest)
  }
  try {
    registry.onEvent(handler, { batch: BATCH })
  } finally {
    binding.open_events = open
  }
  if (!(records instanceof Float64Array) || records.length < 4 * BATCH) throw new Error('library deliver: no records captured')
  return [records, callback]
}

function child (row, batches) {
  return new Promise((resolve, reject) => {
    const c = fork(__filename, ['--child', row, String(batches)])
    c.on('message', resolve)
    c.on('exit', (code) => { if (code !== 0) reject(new Error(`${row}: child exited ${code}`)) })
  })
}

async function main () {
  const rounds = opt('rounds', 5)
  const batches = opt('batches', 400)
  const all = Object.fromEntries(ROWS.map((r) => [r, []]))
  for (let k = 0; k < rounds; k++) {
    const order = k % 2 === 0 ? ROWS : [...ROWS].reverse()
    for (const row of order) all[row].push(await child(row, batches))
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1]
  console.log(`JS side of per-event delivery, ns per event (median of ${rounds} rounds; rounds listed)`)
  for (const row of ROWS) {
    console.log(`  ${row.padEnd(18)}${median(all[row]).toFixed(2).padStart(8)}   ${all[row].map((x) => x.toFixed(2)).join(' ')}`)
  }
}

if (process.argv[2] === '--child') {
  process.send(runRow(process.argv[3], Number(process.argv[4])))
} else {
  main().catch((err) => { console.error(err); process.exit(1) })
}
