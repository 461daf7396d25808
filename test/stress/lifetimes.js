'use strict'
// Registry lifetimes in one process (issue 10, item 4): create a registry,
// register 16 values (--regs=R: R values), close it (or drop it: --drop, reclaimed by the
// FinalizationRegistry), `count` times. Blocks and owner indexes are reused, so the
// domain never runs out; a closed registry's handles must be rejected by
// every later registry that reuses their blocks.
//
//   node --expose-gc test/stress/lifetimes.js [count=10000000] [native|shared] [--drop] [--regs=16]
//
// Prints progress (RSS) every 10% to stderr and a JSON summary on stdout,
// with the RSS after warm-up (the first 10%, which touches the domain's block
// table and fills the block pool) and at the end, each after a full GC
// (--expose-gc), so that "memory flat" compares like with like.
// The loop turns the event loop every 1,000 lifetimes; a fully synchronous
// loop holds about 200 bytes per native state buffer until the loop turns
// (Node defers that cleanup), so its RSS grows meanwhile.
// test/lifetimes.test.ts runs it with 1,000,000; this script with the default
// count (10 million) is not part of `npm test`: about 15 us a lifetime here,
// checks included (docs/benchmark.md, "Registry lifetimes").
const path = require('node:path')
const { HandleRegistry, HandleDomain, hasNative } = require(path.join(__dirname, '..', '..', 'dist'))

const args = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const COUNT = Number(args[0] ?? 10_000_000)
const MODE = args[1] ?? (hasNative() ? 'native' : 'shared')
const DROP = process.argv.includes('--drop')
const REGS = Number(process.argv.find((a) => a.startsWith('--regs='))?.slice(7) ?? 16)
const domain = MODE === 'shared' ? HandleDomain.create() : HandleDomain.default
if (MODE === 'native' && !domain.isNative) throw new Error('the native addon is not loaded')
const opts = MODE === 'shared' ? { domain } : {}
// Native mode: posts of old handles must get REGISTRY_CLOSED (4), not reach the block's new owner.
// The addon the library loaded (HANDLE_REGISTRY_ADDON: an explicit build, as in src/native.ts).
const explicitAddon = process.env.HANDLE_REGISTRY_ADDON
const addon = MODE !== 'native' ? null
  : explicitAddon ? require(path.resolve(explicitAddon)) : require('node-gyp-build')(path.join(__dirname, '..', '..'))
const HR_STATUS_REGISTRY_CLOSED = 4
let nativeClosed = 0

const SLOT_SPAN = 2 ** 28
const blockOf = (h) => Math.floor((h % SLOT_SPAN) / 256)
const genOf = (h) => Math.floor(h / SLOT_SPAN)
// Handles of earlier lifetimes, by block: one per lifetime, kept until a later
// registry holding their block has been checked against them (bounded memory).
const SAMPLE_EVERY = Math.max(1, Math.floor(COUNT / 200_000))
const samples = new Map()
let sampled = 0
let checks = 0
let aliases = 0
let maxGen = 0
const errors = {}
const mb = (n) => Math.round(n / 2 ** 20)
/** RSS after a full GC when --expose-gc is given (else as it is). */
const settledRss = () => {
  globalThis.gc?.()
  return process.memoryUsage().rss
}
const rss0 = settledRss()
let rssWarm
let heapWarm // JS heap in use after warm-up (after a full GC): what a leak of JS objects would grow
let rssMax = rss0
const t0 = Date.now()

async function main() {
  for (let i = 0; i < COUNT; i++) {
    const r = new HandleRegistry(opts)
    const hs = []
    for (let k = 0; k < REGS; k++) hs.push(r.register(k))
    // Earlier registries' handles on the blocks this one now holds: rejected with a typed error.
    for (const h of hs) {
      const g = genOf(h)
      if (g > maxGen) maxGen = g
      const old = samples.get(blockOf(h))
      if (old === undefined) continue
      samples.delete(blockOf(h))
      for (const o of old) {
        checks++
        try {
          r.get(o)
          aliases++
        } catch (e) {
          errors[e.code] = (errors[e.code] ?? 0) + 1
        }
        if (addon !== null && addon.post(o, 1, 0) === HR_STATUS_REGISTRY_CLOSED && !addon.is_live(o)) nativeClosed++
      }
    }
    if (i % SAMPLE_EVERY === 0) {
      const h = hs[i % REGS]
      const list = samples.get(blockOf(h))
      if (list === undefined) samples.set(blockOf(h), [h])
      else list.push(h)
      sampled++
    }
    if (!DROP) r.close()
    if (i % 1000 === 999) {
      // Turn the event loop now and then, as a server does: Node frees some
      // memory of external ArrayBuffers (the native state views) only then,
      // and runs FinalizationRegistry callbacks (--drop) only then.
      if (DROP) globalThis.gc?.()
      await new Promise((resolve) => setImmediate(resolve))
    }
    if (i % Math.max(1, Math.floor(COUNT / 10)) === 0 && i > 0) {
      const rss = settledRss()
      if (rss > rssMax) rssMax = rss
      rssWarm ??= rss
      const m = process.memoryUsage()
      heapWarm ??= m.heapUsed + m.external
      process.stderr.write(`${i} lifetimes, ${Math.round((Date.now() - t0) / 1000)} s, rss ${mb(rss)} MB ` +
        `(JS heap ${mb(m.heapUsed)}/${mb(m.heapTotal)} MB, external ${mb(m.external)} MB), ` +
        `max generation ${maxGen}, ${checks} old handles checked\n`)
    }
  }
  const ms = Date.now() - t0
  const rss = settledRss()
  const m = process.memoryUsage()
  console.log(JSON.stringify({
    mode: MODE, drop: DROP, regs: REGS, lifetimes: COUNT, ms, usPerLifetime: (ms * 1000) / COUNT,
    rssStartMB: mb(rss0), rssWarmMB: mb(rssWarm ?? rss), rssMaxMB: mb(Math.max(rssMax, rss)), rssEndMB: mb(rss),
    heapWarmMB: mb(heapWarm ?? m.heapUsed + m.external), heapEndMB: mb(m.heapUsed + m.external),
    sampled, checks, aliases, errors, maxGen, nativeClosed,
    domain: domain.stats(),
  }))
}
main()
