'use strict'
// What a fresh page of memory costs on this machine: touches one word per 4 KB
// page of a new 64 MB Float64Array (calloc'd, so every page is faulted in on
// first touch), 5 times. Filling a registry, a slab or an array from empty is
// bound by this where it is high (docs/benchmark.md, "Lifecycle").
//   node bench/registry/pagefault.js
const PAGES = 16384
for (let r = 0; r < 5; r++) {
  const t = process.hrtime.bigint()
  const a = new Float64Array(PAGES * 512)
  for (let i = 0; i < a.length; i += 512) a[i] = 1
  const ns = Number(process.hrtime.bigint() - t) / PAGES
  console.log(`${(ns / 1000).toFixed(2)} us per fresh 4 KB page = ${(ns / 512).toFixed(1)} ns per 8-byte slot`)
}
