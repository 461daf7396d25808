'use strict'
// Memory per live handle, beyond the value itself.
//
//   node --expose-gc bench/memory/run.js            # 1M and 10M live handles
//   options: --sizes=1000000  --impls=registry,map
//
// Each (implementation, N) runs in a fresh child process: full GC, read
// process.memoryUsage() heapUsed + arrayBuffers, register N copies of ONE
// small object (so the values themselves cost nothing extra), full GC, read
// again; bytes/handle = delta / N. The handles are not kept in an array (that
// would be the caller's memory, 8 bytes each), only a sample to check they
// resolve. The registry's domain (a fixed per-process table, created once,
// whatever the number of handles) is created before the first reading and
// reported on its own line. Results: table + bench/results/memory.json.
const { execFileSync } = require('child_process')
const fs = require('fs')
const path = require('path')
const { BareSlab, GenSlab, MapHandles, loadRegistry, NAMES, DIST } = require('../registry/impls')

const OUT = path.join(__dirname, '..', 'results', 'memory.json')
const TARGET = 16

function child (impl, N) {
  const gc = global.gc
  if (typeof gc !== 'function') throw new Error('run with node --expose-gc')
  const mem = () => {
    gc(); gc()
    const m = process.memoryUsage()
    return { heap: m.heapUsed, ab: m.arrayBuffers, rss: m.rss }
  }
  let domainBytes = 0
  let make
  if (impl === 'registry') {
    const { HandleRegistry, HandleDomain } = loadRegistry()
    const domain = HandleDomain.create()
    domainBytes = domain.buffer.byteLength
    make = () => new HandleRegistry({ domain })
  } else {
    make = { bareslab: () => new BareSlab(), genslab: () => new GenSlab(), map: () => new MapHandles() }[impl]
  }
  const value = { k: 1 }
  const samples = []
  const before = mem()
  const reg = make()
  const every = Math.max(1, Math.floor(N / 1000))
  for (let i = 0; i < N; i++) {
    const h = reg.register(value)
    if (i % every === 0) samples.push(h)
  }
  const after = mem()
  for (const h of samples) if (reg.get(h) !== value) throw new Error(`handle ${h} does not resolve`)
  const delta = (after.heap - before.heap) + (after.ab - before.ab)
  return {
    impl,
    name: NAMES[impl],
    size: N,
    bytesPerHandle: delta / N,
    heapBytesPerHandle: (after.heap - before.heap) / N,
    arrayBufferBytesPerHandle: (after.ab - before.ab) / N,
    rssBytesPerHandle: (after.rss - before.rss) / N,
    domainBytes,
    samplesResolved: samples.length,
  }
}

if (process.argv[2] === '--child') {
  const { impl, size } = JSON.parse(process.argv[3])
  process.stdout.write(JSON.stringify(child(impl, size)) + '\n')
  return
}

const argv = process.argv.slice(2)
const opt = (name) => { const a = argv.find((x) => x.startsWith(`--${name}=`)); return a && a.slice(name.length + 3) }
const SIZES = opt('sizes') ? opt('sizes').split(',').map(Number) : [1e6, 1e7]
const IMPLS = opt('impls') ? opt('impls').split(',') : ['registry', 'genslab', 'bareslab', 'map']
if (!fs.existsSync(DIST)) {
  console.error(`${path.relative(process.cwd(), DIST)} is missing: run \`npm run compile\` first`)
  process.exit(1)
}

const fmtSize = (n) => (n >= 1e6 ? `${n / 1e6}M` : `${n / 1e3}K`)
console.log(`memory per live handle (same value registered N times), Node ${process.version}`)
console.log(`${'live'.padEnd(6)}${'implementation'.padEnd(36)}${'bytes/handle'.padStart(13)}${'heap'.padStart(8)}${'arraybuf'.padStart(10)}${'rss'.padStart(8)}`)
const rows = []
for (const size of SIZES) {
  for (const impl of IMPLS) {
    const out = execFileSync(process.execPath, ['--expose-gc', '--max-old-space-size=8192', __filename, '--child', JSON.stringify({ impl, size })],
      { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    const r = JSON.parse(out.trim().split('\n').pop())
    rows.push(r)
    console.log(`${fmtSize(size).padEnd(6)}${r.name.padEnd(36)}${r.bytesPerHandle.toFixed(1).padStart(13)}` +
      `${r.heapBytesPerHandle.toFixed(1).padStart(8)}${r.arrayBufferBytesPerHandle.toFixed(1).padStart(10)}${r.rssBytesPerHandle.toFixed(1).padStart(8)}`)
  }
}
const dom = rows.find((r) => r.domainBytes)
if (dom) {
  console.log(`\nplus, once per process: the domain table, ${(dom.domainBytes / 1e6).toFixed(1)} MB of SharedArrayBuffer ` +
    `(virtual; pages are touched only as blocks are claimed), not counted above`)
}
const targets = []
console.log('\ntargets')
for (const r of rows.filter((x) => x.impl === 'registry')) {
  const pass = r.bytesPerHandle <= TARGET
  targets.push({ label: `registry bytes per live handle at ${fmtSize(r.size)}`, value: +r.bytesPerHandle.toFixed(2), target: `<= ${TARGET}`, pass })
  console.log(`registry bytes per live handle at ${fmtSize(r.size)}: ${r.bytesPerHandle.toFixed(2)} (target <= ${TARGET}) ${pass ? 'PASS' : 'FAIL'}`)
}
fs.mkdirSync(path.dirname(OUT), { recursive: true })
fs.writeFileSync(OUT, JSON.stringify({ benchmark: 'memory', date: new Date().toISOString(), node: process.version, rows, targets }, null, 2) + '\n')
console.log(`\nwrote ${path.relative(process.cwd(), OUT)}`)
