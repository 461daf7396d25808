'use strict'
// examples/qsort-compare: glibc qsort_r sorting a Float64Array with JS
// comparators that the C callback finds through a handle (hr::resolve).
// `node index.js` prints the cases; test/examples.test.ts calls run().
const path = require('path')
const { HandleRegistry } = require('handle-registry')
const addon = require(path.join(__dirname, 'build', 'Release', 'qsort_compare.node'))

function run() {
  const registry = new HandleRegistry()
  addon.attach(registry)
  const cases = []
  const input = [5, 3.5, -1, 8, 0, 3.5, 42, -7]

  // A: a comparator object; its method runs with the object as `this`.
  const ascending = {
    calls: 0,
    compare(a, b) {
      this.calls++
      return a - b
    },
  }
  const asc = registry.register(ascending)
  let values = Float64Array.from(input)
  cases.push({ id: 'A', status: addon.sort(values, asc), values: [...values], calls: ascending.calls })

  // B: a plain function, registered weakly: still resolves while alive.
  const descending = (a, b) => b - a
  const desc = registry.registerWeak(descending)
  values = Float64Array.from(input)
  cases.push({ id: 'B', status: addon.sort(values, desc), values: [...values] })

  // C: a released handle: stale, the comparator is never called.
  const counted = { calls: 0, compare() { this.calls++; return 0 } }
  const released = registry.register(counted)
  registry.release(released)
  cases.push({ id: 'C', status: addon.sort(Float64Array.from(input), released), calls: counted.calls })

  // D: a comparator that throws: the sort stops calling it and sort() throws.
  const throwing = registry.register(() => { throw new Error('comparator failed') })
  let error = null
  try {
    addon.sort(Float64Array.from(input), throwing)
  } catch (err) {
    error = err.message
  }
  cases.push({ id: 'D', error })

  // E: a closed registry: registry_closed.
  const other = new HandleRegistry()
  const closed = other.register(ascending)
  other.close()
  cases.push({ id: 'E', status: addon.sort(Float64Array.from(input), closed) })

  registry.close()
  return { cases, input }
}

module.exports = { run }

if (require.main === module) {
  const { cases } = run()
  for (const c of cases) console.log(c.id, JSON.stringify(c))
}
