// examples/scope.mjs: scoped handles from ES modules, without `using`.
//
//   npm run build && node examples/scope.mjs
//
// This file imports the local build. In your own code write:
//   import { HandleRegistry } from 'handle-registry'
//
// In TypeScript 5.2+ (or any runtime with explicit resource management) a
// scoped handle is one line and is released when the block ends, even when
// it throws:
//
//   using entry = registry.scope(callback)
//   nativeLib.start(entry.handle)
//
// Node 20 has Symbol.dispose but no `using` syntax in plain JavaScript, so
// here the same thing is written out: call entry[Symbol.dispose]() in a
// `finally` block. That is exactly what `using` compiles to.
import { HandleRegistry } from '../dist/index.mjs'

const registry = new HandleRegistry()

// A stand-in for a native library that takes a handle as its user_data and
// calls back later (here: on a timer) with the same handle.
const nativeLib = {
  start(handle, onDone) {
    setTimeout(() => onDone(handle, 42), 10)
  },
}

// 1. The manual pattern: scope() registers, [Symbol.dispose]() releases.
{
  const entry = registry.scope({ name: 'request 1' })
  try {
    console.log('1. in scope: handle', entry.handle, '->', registry.get(entry.handle))
  } finally {
    entry[Symbol.dispose]()
  }
  console.log('   after the block: has(handle) =', registry.has(entry.handle))
}

// 2. A throwing block still releases the handle.
let leaked
try {
  const entry = registry.scope({ name: 'request 2' })
  leaked = entry.handle
  try {
    throw new Error('the native call failed')
  } finally {
    entry[Symbol.dispose]()
  }
} catch (err) {
  console.log(`2. caught "${err.message}"; handle ${leaked} released: ${!registry.has(leaked)}`)
}

// 3. Across an await: keep the handle alive until the callback has run.
async function callNative(value) {
  const entry = registry.scope(value)
  try {
    return await new Promise((resolve) => {
      nativeLib.start(entry.handle, (handle, result) => {
        // The callback finds its object again by handle, as native code would.
        resolve(`${registry.get(handle).name} -> ${result}`)
      })
    })
  } finally {
    entry[Symbol.dispose]()
  }
}
console.log('3.', await callNative({ name: 'request 3' }), '| live handles now:', registry.size)

// 4. A small helper that gives the `using` guarantee to a callback.
function withHandle(reg, value, fn) {
  const entry = reg.scope(value)
  try {
    return fn(entry.handle)
  } finally {
    entry[Symbol.dispose]()
  }
}
console.log('4.', withHandle(registry, 'hello', (h) => `handle ${h} holds ${registry.get(h)}`))

// 5. Disposing twice is a no-op, and so is disposing after the registry
//    closed. But do not release a scoped handle by hand as well: dispose
//    would then release a stale handle and throw ERR_HANDLE_STALE.
const twice = registry.scope('x')
twice[Symbol.dispose]()
twice[Symbol.dispose]()
const manual = registry.scope('y')
registry.release(manual.handle)
try {
  manual[Symbol.dispose]()
} catch (err) {
  console.log('5. dispose after a manual release ->', err.code)
}

// 6. The registry itself is disposable: [Symbol.dispose]() is close().
//    (TypeScript: `using registry = new HandleRegistry()`.)
const temp = new HandleRegistry()
const kept = temp.scope('still registered')
try {
  console.log('6. temp registry size', temp.size)
} finally {
  temp[Symbol.dispose]()
}
kept[Symbol.dispose]() // no-op: its registry is closed
console.log('   temp.closed =', temp.closed, '| main registry size =', registry.size)
registry[Symbol.dispose]()
