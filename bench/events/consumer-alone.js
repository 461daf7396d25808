'use strict'
// The split's "consumer alone" in one process, for pinned A/Bs: the queue is
// filled with 65,536 `api->post` events while JS is blocked in join(), then
// drained; prints the median and minimum ns per event over N rounds.
// Pin it (the VM's per-process figures are bimodal otherwise):
//   taskset -c 1 node bench/events/consumer-alone.js 100
//   BENCH_DIST=<other build>/dist/index.js taskset -c 1 node bench/events/consumer-alone.js 100
// BATCH=n sets onEvent's batch; CHUNK=n posts with post_many in chunks of n.
const path = require('node:path')
const DIST = process.env.BENCH_DIST || path.join(__dirname, '../../dist/index.js')
const { HandleRegistry } = require(DIST)
const addon = require(path.join(__dirname, 'build/Release/events_bench.node')) // built by run.js on its first run
const VALUES = 1024, CAP = 65536
const reg = new HandleRegistry()
const vals = []; const hs = new Float64Array(VALUES)
for (let i = 0; i < VALUES; i++) { vals.push({ sum: 0 }); hs[i] = reg.register(vals[i]) }
addon.attach(reg.nativeApi)
let seen = 0, target = 0, done = null, tEnd = 0n
function libHandler (v, kind, payload) { if (kind === 1) { v.sum += payload; if (++seen === target) { tEnd = process.hrtime.bigint(); done() } } }
reg.onEvent(libHandler, { capacity: CAP, batch: Number(process.env.BATCH || 4096) })
async function one () {
  seen = 0; target = CAP
  const fin = new Promise((r) => { done = r })
  const ka = setInterval(() => {}, 1000)
  addon.startLib(hs, CAP, Number(process.env.CHUNK || 0))
  const j = addon.join()
  if (j.error !== 0 || j.retries !== 0) throw new Error('producer ' + j.error + ' ' + j.retries)
  const t0 = process.hrtime.bigint()
  await fin
  clearInterval(ka)
  return Number(tEnd - t0)
}
(async () => {
  const reps = Number(process.argv[2] || 100)
  for (let i = 0; i < 10; i++) await one()
  const xs = []
  for (let i = 0; i < reps; i++) xs.push(await one() / CAP)
  xs.sort((a, b) => a - b)
  console.log('consumer alone ns/event median', xs[xs.length >> 1].toFixed(2), 'min', xs[0].toFixed(2))
})()
