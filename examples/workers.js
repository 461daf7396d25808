'use strict'
// examples/workers.js: one HandleDomain shared by the main thread and two
// worker_threads. Every registry mints handles that are unique across all
// threads; a handle can travel anywhere as a plain number, the domain says which
// registry (thread) owns it, and every other registry rejects it as foreign.
//
//   npm run compile && node examples/workers.js
//
// This file loads the local build. In your own code write:
//   const { HandleDomain, HandleRegistry } = require('handle-registry')
//
// This is the pure-TypeScript set-up: create the domain on the main thread and
// hand its SharedArrayBuffer to each worker through workerData. (With the
// native addon loaded, registries created without a `domain` option share the
// process-wide domain already; this example works the same either way.)
const { Worker, isMainThread, parentPort, workerData } = require('node:worker_threads')
const { HandleDomain, HandleRegistry } = require('../dist/index.js')

function codeOf(fn) {
  try {
    fn()
    return 'ok'
  } catch (err) {
    return err.code
  }
}

if (isMainThread) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
} else {
  worker()
}

// --- worker ------------------------------------------------------------------
function worker() {
  const { domainBuffer, name } = workerData
  const registry = new HandleRegistry({ domain: HandleDomain.attach(domainBuffer) })
  const handles = ['a', 'b', 'c'].map((x) => registry.register({ owner: name, item: x }))
  parentPort.postMessage({ type: 'hello', name, ownerId: registry.ownerId, handles })

  parentPort.on('message', (msg) => {
    if (msg.type === 'lookup') {
      // Resolve each handle here; report the value, or the error code.
      const results = msg.handles.map((h) => {
        const value = registry.tryGet(h)
        return value !== undefined ? `${value.owner}/${value.item}` : codeOf(() => registry.get(h))
      })
      parentPort.postMessage({ type: 'lookup', name, results })
    } else if (msg.type === 'stop') {
      registry.close() // frees this thread's place in the domain; its handles become foreign for good
      parentPort.close()
    }
  })
}

// --- main thread -------------------------------------------------------------
async function main() {
  const domain = HandleDomain.create()
  const registry = new HandleRegistry({ domain })
  const mainHandle = registry.register({ owner: 'main', item: 'config' })

  const workers = ['w1', 'w2'].map((name) =>
    new Worker(__filename, { workerData: { domainBuffer: domain.buffer, name } }))
  const next = (w) => new Promise((resolve, reject) => {
    w.once('message', resolve)
    w.once('error', reject)
  })

  const hello = await Promise.all(workers.map(next))
  console.log(`main  owner #${registry.ownerId}  handles [${mainHandle}]`)
  for (const m of hello) console.log(`${m.name.padEnd(5)} owner #${m.ownerId}  handles [${m.handles.join(', ')}]`)
  const all = [mainHandle, ...hello.flatMap((m) => m.handles)]
  console.log(`${all.length} handles, ${new Set(all).size} distinct; domain:`, domain.stats())

  // The domain tells which registry minted a handle: route a request there.
  const byOwner = new Map([[registry.ownerId, 'main'], ...hello.map((m) => [m.ownerId, m.name])])
  const h = hello[1].handles[2]
  console.log(`\nhandle ${h}: domain.describe ->`, domain.describe(h), `-> route to ${byOwner.get(domain.ownerOf(h))}`)

  // Main resolves only its own handle; the workers' are foreign here.
  console.log('\nlookups in main:')
  for (const x of all) console.log(`  ${String(x).padStart(5)} -> ${registry.has(x) ? registry.get(x).item : codeOf(() => registry.get(x))}`)

  // Each worker resolves every handle: its own resolve, all others are foreign.
  workers.forEach((w) => w.postMessage({ type: 'lookup', handles: all }))
  const lookups = await Promise.all(workers.map(next))
  console.log('\nlookups in the workers:')
  console.log('  handle  ' + lookups.map((l) => l.name.padEnd(20)).join(''))
  all.forEach((x, i) => console.log(`  ${String(x).padStart(6)}  ` + lookups.map((l) => l.results[i].padEnd(20)).join('')))

  // Workers close their registries and exit; their handles stay foreign.
  const exited = workers.map((w) => new Promise((resolve) => w.once('exit', resolve)))
  workers.forEach((w) => w.postMessage({ type: 'stop' }))
  await Promise.all(exited)
  const old = hello[0].handles[0]
  console.log('\nafter the workers closed their registries:', domain.stats())
  console.log(`  describe(${old}) ->`, domain.describe(old))
  try {
    registry.get(old)
  } catch (err) {
    console.log(`  main.get(${old}) -> ${err.code}: ${err.message}`)
  }
  registry.close()
}
