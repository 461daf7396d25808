'use strict'
// examples/basic.js: register, get, release; stale, foreign and invalid handles
// with their error classes and codes.
//
//   npm run compile && node examples/basic.js
//
// This file loads the local build. In your own code write:
//   const { HandleRegistry } = require('handle-registry')
const {
  HandleRegistry, HandleRegistryError, StaleHandleError, decodeHandle,
} = require('../dist/index.js')

const registry = new HandleRegistry()

// 1. register: any value gets a new positive integer handle (never 0).
const socket = { name: 'socket 1', bytes: 0 }
const h = registry.register(socket)
console.log('handle:', h, decodeHandle(h))

// 2. get: the very same object back.
registry.get(h).bytes += 512
console.log('get(h) === socket:', registry.get(h) === socket, '| bytes:', socket.bytes)

// Equal values get distinct handles, released independently.
const a = registry.register('same')
const b = registry.register('same')
console.log('two handles for equal values:', a, b, '| size:', registry.size)
registry.release(a)
console.log('after release(a): get(b) =', JSON.stringify(registry.get(b)))

// 3. release: returns the value; the handle is stale from now on.
console.log('release(h) returned the object:', registry.release(h) === socket)

// 4. Stale detection: a released handle never resolves again, not even after
//    its slot has been reused by another value (the new handle differs).
const reused = []
for (let i = 0; i < 100; i++) reused.push(registry.register({ i }))
const sameSlot = reused.find((x) => decodeHandle(x).slot === decodeHandle(h).slot)
console.log('slot', decodeHandle(h).slot, 'reused by handle', sameSlot, decodeHandle(sameSlot))
try {
  registry.get(h)
} catch (err) {
  console.log('get(stale) ->', err.name, err.code, '|', err.message)
  console.log('  instanceof StaleHandleError:', err instanceof StaleHandleError,
    '| instanceof HandleRegistryError:', err instanceof HandleRegistryError,
    '| err.handle:', err.handle)
}

// tryGet and has never throw: they are for "maybe" lookups.
console.log('tryGet(stale):', registry.tryGet(h), '| has(stale):', registry.has(h))

// 5. Every other misuse has its own class and stable code.
function attempt(label, fn) {
  try {
    fn()
    console.log(`${label.padEnd(32)} -> no error`)
  } catch (err) {
    console.log(`${label.padEnd(32)} -> ${err.code.padEnd(20)} ${err.message}`)
  }
}

const other = new HandleRegistry() // another registry of the same domain
const foreign = other.register('not yours')

attempt('release(stale)', () => registry.release(h))
attempt('get(foreign)', () => registry.get(foreign))
attempt('get(0)', () => registry.get(0))
attempt('get(-3)', () => registry.get(-3))
attempt('get(1.5)', () => registry.get(1.5))
attempt("get('256')", () => registry.get('256'))
attempt('get(256n)', () => registry.get(256n))
attempt('get(never issued)', () => registry.get(h + 7 * 2 ** 28))
attempt('new HandleRegistry({shards: 3})', () => new HandleRegistry({ shards: 3 }))

other.close()
attempt('get(closed registry\'s h)', () => registry.get(foreign))
attempt('other.register() after close', () => other.register(1))

// Branch on err.code (stable), not on the message (may be reworded).
function describe(handle) {
  try {
    return `value ${JSON.stringify(registry.get(handle))}`
  } catch (err) {
    switch (err.code) {
      case 'ERR_HANDLE_STALE': return 'already released'
      case 'ERR_HANDLE_FOREIGN': return 'belongs to another registry'
      case 'ERR_HANDLE_INVALID': return 'not a handle'
      default: throw err
    }
  }
}
for (const x of [reused[0], h, foreign, 42]) console.log(`describe(${x}):`, describe(x))

// 6. stats() and util.inspect (which never prints the values).
const { shards, ...counters } = registry.stats()
console.log('stats:', counters)
console.log('live handles per shard:', shards.join(' '))
console.log(registry)

// close() releases everything and frees the registry's place in the domain.
registry.close()
console.log('closed:', registry.closed, '| size:', registry.size)
