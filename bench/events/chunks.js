'use strict'
// The split's producer chunk by chunk, with the cpu each side ran on: is the
// bimodal "producer alone" of `run.js` (chunks at 8-10 ns per event, runs at
// 15-25) about where the new producer thread lands relative to the consumer?
//
//   node bench/events/chunks.js [--chunks=48] [--capacity=65536] [--pin-js=N]
//   BENCH_PRODUCER_CPU=N node bench/events/chunks.js    # pin the producer thread
//   BENCH_DIST=path/to/index.js                          # another build of the package
//
// As the split of run.js (api->post, chunk 0): a new producer thread fills the
// queue with --capacity events while the JS thread is blocked in join(), then
// JS drains it. Per chunk it prints the producer's ns per event, the
// producer's cpu at its start and end (sched_getcpu), the JS thread's cpu
// before the chunk and after the drain, and the consumer's ns per event; then
// the medians by "same cpu as the JS thread" / "other cpu".
const fs = require('fs')
const os = require('os')
const path = require('path')

const argv = process.argv.slice(2)
const opt = (name, dflt) => {
  const a = argv.find((x) => x.startsWith(`--${name}=`))
  return a === undefined ? dflt : Number(a.slice(name.length + 3))
}
const CHUNKS = opt('chunks', 48)
const CAPACITY = opt('capacity', 65536)
const PIN_JS = opt('pin-js', -1)
const VALUES = 1024

const root = path.join(__dirname, '..', '..')
const DIST = process.env.BENCH_DIST ? path.resolve(process.env.BENCH_DIST) : path.join(root, 'dist', 'index.js')
const { HandleRegistry } = require(DIST)
const ADDON = path.join(__dirname, 'build', 'Release', 'events_bench.node')
if (!fs.existsSync(ADDON)) {
  console.error('bench/events/build is missing: run `node bench/events/run.js --rebuild --only=split` once')
  process.exit(1)
}
const addon = require(ADDON)
if (typeof addon.cpu !== 'function') {
  console.error('bench/events/build is older than chunks.js: node bench/events/run.js --rebuild --only=split')
  process.exit(1)
}

const reg = new HandleRegistry()
const hs = new Float64Array(VALUES)
for (let i = 0; i < VALUES; i++) hs[i] = reg.register({ sum: 0 })
addon.attach(reg.nativeApi)
let seen = 0
let target = 0
let done = null
reg.onEvent((v, kind, payload) => {
  v.sum += payload
  if (++seen === target) done()
}, { capacity: CAPACITY, batch: 4096 })

if (PIN_JS >= 0 && addon.pinCpu(PIN_JS) !== 0) throw new Error(`could not pin the JS thread to cpu ${PIN_JS}`)
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length === 0 ? NaN : s.length % 2 ? s[s.length >> 1] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2
}

async function chunk () {
  seen = 0
  target = CAPACITY
  const finished = new Promise((resolve) => { done = resolve })
  const keepAlive = setInterval(() => {}, 1000)
  const jsBefore = addon.cpu()
  addon.startLib(hs, CAPACITY, 0)
  const j = addon.join()
  const t0 = process.hrtime.bigint()
  await finished
  const consumerNs = Number(process.hrtime.bigint() - t0) / CAPACITY
  clearInterval(keepAlive)
  if (j.error !== 0 || j.retries !== 0) throw new Error(`producer status ${j.error}, ${j.retries} retries`)
  return { producerNs: j.producerNs / CAPACITY, consumerNs, pStart: j.cpuStart, pEnd: j.cpuEnd, jsBefore, jsAfter: addon.cpu() }
}

async function main () {
  console.log(`chunks: ${CHUNKS} x ${CAPACITY} events, load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}, ` +
    `producer cpu ${process.env.BENCH_PRODUCER_CPU ?? 'any'}, JS cpu ${PIN_JS >= 0 ? PIN_JS : 'any'}`)
  for (let i = 0; i < 4; i++) await chunk() // warm-up
  const rows = []
  for (let i = 0; i < CHUNKS; i++) rows.push(await chunk())
  console.log('chunk  producer ns/ev  producer cpu  JS cpu (before, after)  consumer ns/ev')
  rows.forEach((r, i) => console.log(`${String(i).padStart(5)}  ${r.producerNs.toFixed(1).padStart(14)}  ` +
    `${`${r.pStart}->${r.pEnd}`.padStart(12)}  ${`${r.jsBefore}, ${r.jsAfter}`.padStart(22)}  ${r.consumerNs.toFixed(1).padStart(14)}`))
  const same = rows.filter((r) => r.pStart === r.jsBefore && r.pEnd === r.pStart)
  const other = rows.filter((r) => r.pStart !== r.jsBefore && r.pEnd === r.pStart)
  const moved = rows.length - same.length - other.length
  console.log(`producer ns/event, median: all ${median(rows.map((r) => r.producerNs)).toFixed(1)}; ` +
    `on the JS thread's cpu ${median(same.map((r) => r.producerNs)).toFixed(1)} (${same.length} chunks); ` +
    `on the other cpu ${median(other.map((r) => r.producerNs)).toFixed(1)} (${other.length}); migrated ${moved}`)
  console.log(`producer ns/event min ${Math.min(...rows.map((r) => r.producerNs)).toFixed(1)} max ${Math.max(...rows.map((r) => r.producerNs)).toFixed(1)}; ` +
    `consumer median ${median(rows.map((r) => r.consumerNs)).toFixed(1)}`)
  reg.close()
}
main().catch((err) => { console.error(err); process.exit(1) })
