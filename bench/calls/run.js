'use strict'
// Calls benchmark: native threads making blocking calls with a reply to JS,
// this library's api->call (registry.onCall) against a blocking
// thread-safe-function round trip (the koffi / Deno UnsafeCallback pattern:
// napi_call_threadsafe_function + a wait on a condition variable), side by
// side in one process and one run.
//
//   node bench/calls/run.js          # ~30 s; builds bench/calls/build if missing
//   options: --calls=20000 (per thread)  --rounds=5  --threads=1,2,4  --out=FILE  --rebuild
//   BENCH_DIST=path/to/index.js      # another build of the package
//
// Each run: `threads` std::threads (bench.cc) each make --calls calls; the JS
// side resolves the handle (registry.get for the TSFN, as onCall's delivery
// does) and answers payload + 1; every reply is checked. Timed natively from
// the start of the threads to the end of the last one. Each path runs
// `rounds` times per thread count, interleaved (order reversed every other
// round), after an untimed warm-up; the figure is the median calls/s, and the
// median CPU time of the whole process per call (all threads, user + system:
// what a call costs the machine, less sensitive than calls/s to other load).
//
// Results: a table on stdout, bench/results/calls.json.
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
const CALLS = Number(opt('calls', 20000))
const ROUNDS = Number(opt('rounds', 5))
const THREADS = String(opt('threads', '1,2,4')).split(',').map(Number)
const OUT = opt('out') ? path.resolve(String(opt('out'))) : path.join(__dirname, '..', 'results', 'calls.json')

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
const ADDON = path.join(__dirname, 'build', 'Release', 'calls_bench.node')
if (!fs.existsSync(ADDON) || opt('rebuild', false) === true) {
  const gyp = path.join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  const nodedir = process.env.npm_config_nodedir || (fs.existsSync('/usr/include/node/node_api.h') ? '/usr' : undefined)
  console.log(`building ${path.relative(process.cwd(), ADDON)} ...`)
  execFileSync(process.execPath, [gyp, 'rebuild', ...(nodedir ? [`--nodedir=${nodedir}`] : [])],
    { cwd: __dirname, stdio: 'inherit' })
}
const bench = require(ADDON)

const registry = new HandleRegistry()
bench.attach(registry.nativeApi)
const target = { calls: 0 }
const h = registry.register(target)
registry.onCall((value, kind, payload) => {
  value.calls++
  return payload + 1
})
const tsfnFn = (handle, payload) => {
  registry.get(handle).calls++
  return payload + 1
}

const PATHS = { lib: 0, tsfn: 1 }
const LABEL = { lib: 'handle-registry api->call', tsfn: 'TSFN blocking round trip' }

// One run: { perSec: calls per second, cpuUs: CPU microseconds of the whole
// process (all threads, user + system) per call }.
function once(kind, threads, calls) {
  return new Promise((resolve, reject) => {
    const cpu0 = process.cpuUsage()
    bench.start(PATHS[kind], h, threads, calls, tsfnFn)
    const poll = () => {
      if (!bench.done()) return setTimeout(poll, 2)
      const r = bench.result()
      const cpu = process.cpuUsage(cpu0)
      if (r.bad !== 0) return reject(new Error(`${kind}: ${r.bad} calls failed or got a wrong reply`))
      resolve({ perSec: (threads * calls) / (r.ms / 1000), cpuUs: (cpu.user + cpu.system) / (threads * calls) })
    }
    setTimeout(poll, 2)
  })
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]
const fmt = (n) => Math.round(n).toLocaleString('en-US')

async function main() {
  console.log(`calls benchmark: ${CALLS} calls per thread, ${ROUNDS} rounds, Node ${process.version}, ${os.cpus().length} CPUs, ` +
    `load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`)
  const rows = []
  for (const threads of THREADS) {
    await once('lib', threads, Math.min(CALLS, 2000)) // warm-up
    await once('tsfn', threads, Math.min(CALLS, 2000))
    const got = { lib: [], tsfn: [] }
    for (let round = 0; round < ROUNDS; round++) {
      const order = round % 2 === 0 ? ['lib', 'tsfn'] : ['tsfn', 'lib']
      for (const kind of order) got[kind].push(await once(kind, threads, CALLS))
    }
    const lib = median(got.lib.map((x) => x.perSec))
    const tsfn = median(got.tsfn.map((x) => x.perSec))
    rows.push({
      threads, lib, tsfn, ratio: lib / tsfn,
      libCpuUs: median(got.lib.map((x) => x.cpuUs)), tsfnCpuUs: median(got.tsfn.map((x) => x.cpuUs)),
      libRuns: got.lib.map((x) => Math.round(x.perSec)), tsfnRuns: got.tsfn.map((x) => Math.round(x.perSec)),
    })
  }
  console.log()
  console.log(`| threads | ${LABEL.lib} (calls/s) | ${LABEL.tsfn} (calls/s) | ratio | CPU us per call (lib / TSFN) | runs, calls/s (lib; TSFN) |`)
  console.log('| ---: | ---: | ---: | ---: | ---: | --- |')
  for (const r of rows) {
    console.log(`| ${r.threads} | ${fmt(r.lib)} | ${fmt(r.tsfn)} | ${r.ratio.toFixed(2)}x | ${r.libCpuUs.toFixed(1)} / ${r.tsfnCpuUs.toFixed(1)} | ` +
      `${r.libRuns.map(fmt).join(' ')}; ${r.tsfnRuns.map(fmt).join(' ')} |`)
  }
  console.log(`\n(handled ${target.calls} calls in JS; registry call stats: ${JSON.stringify(registry.stats().calls)})`)
  fs.mkdirSync(path.dirname(OUT), { recursive: true })
  fs.writeFileSync(OUT, JSON.stringify({
    benchmark: 'calls', date: new Date().toISOString(), node: process.version, cpus: os.cpus().length,
    loadavg: os.loadavg(), callsPerThread: CALLS, rounds: ROUNDS, rows,
  }, null, 2) + '\n')
  console.log(`wrote ${path.relative(process.cwd(), OUT)}`)
  registry.close()
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
