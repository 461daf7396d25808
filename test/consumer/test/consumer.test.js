'use strict'
// Two addons compiled against handle-registry's public header (consumer_a:
// node-addon-api, consumer_b: plain N-API), loaded in one process with the
// installed handle-registry. Run with `node --test` after `node-gyp rebuild`.
const { test } = require('node:test')
const assert = require('node:assert/strict')
const { spawnSync } = require('node:child_process')
const path = require('node:path')
const { Worker } = require('node:worker_threads')
const { HandleRegistry, hasNative } = require('handle-registry')

const build = path.join(__dirname, '..', 'build', 'Release')
const load = (name) => require(path.join(build, `${name}.node`))
const a = load('consumer_a')
const b = load('consumer_b')

// HR_STATUS_* (handle_registry_abi.h)
const OK = 0
const INVALID = 1
const STALE = 2
const CLOSED = 4
const FULL = 5

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms))

async function waitFor(what, predicate, timeoutMs = 30_000) {
  const start = Date.now()
  while (!predicate()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}`)
    await sleep(2)
  }
}

async function finish(addon, run) {
  let totals = null
  await waitFor('the producer threads', () => (totals = addon.poll(run)) !== null)
  return totals
}

const mismatch =
  'handle-registry: this addon was built against C ABI version 2 but the loaded handle-registry ' +
  'provides version 1; rebuild it against the installed handle-registry'

test('the installed handle-registry has its native addon', () => {
  assert.equal(hasNative(), true)
})

test('both addons attach, from a registry or from registry.nativeApi', () => {
  const registry = new HandleRegistry()
  assert.equal(typeof registry.nativeApi, 'object')
  for (const [addon, flavor] of [[a, 'node-addon-api'], [b, 'napi']]) {
    assert.equal(addon.flavor, flavor)
    assert.equal(addon.expectedAbiVersion, 1)
    const viaObject = addon.attach(registry)
    assert.equal(viaObject.abiVersion, 1)
    assert.ok(viaObject.size >= 48, `table size ${viaObject.size}`)
    assert.deepEqual(addon.attach(registry.nativeApi), viaObject)
    assert.equal(addon.attached(), true)
  }
  registry.close()
})

test('attach rejects what is not a registry with a clear error', () => {
  const registry = new HandleRegistry()
  for (const addon of [a, b]) {
    // Forged values (addresses, look-alike objects) get one TypeError; nothing is dereferenced.
    for (const bad of [42, 'x', undefined, null, true, Symbol('s'), 0n, 1n, -1n, 0xdeadbeefn, 2n ** 64n - 1n, 2n ** 64n,
      {}, { nativeApi: 5 }, { nativeApi: 1n }, { nativeApi: {} }, new ArrayBuffer(64), () => {}]) {
      assert.throws(() => addon.attach(bad), (err) => {
        assert.ok(err instanceof TypeError)
        assert.equal(err.code, 'ERR_INVALID_NATIVE_API')
        assert.match(err.message, /^handle-registry: expected a HandleRegistry or registry\.nativeApi, got /)
        return true
      }, `attach(${typeof bad === 'symbol' ? 'symbol' : String(bad)})`)
    }
    // The registry's own error passes through unchanged.
    const closed = new HandleRegistry()
    closed.close()
    assert.throws(() => addon.attach(closed), { code: 'ERR_REGISTRY_CLOSED' })
    // A failed attach leaves an earlier one in place.
    addon.attach(registry)
    assert.throws(() => addon.attach(0n))
    assert.equal(addon.attached(), true)
  }
  registry.close()
})

test('an addon built for another C ABI version gets ERR_HANDLE_REGISTRY_ABI at attach, no crash', () => {
  const registry = new HandleRegistry()
  const h = registry.register('x')
  for (const name of ['consumer_a_abi2', 'consumer_b_abi2']) {
    const addon = load(name)
    assert.equal(addon.expectedAbiVersion, 2)
    assert.throws(() => addon.attach(registry), (err) => {
      assert.ok(err instanceof Error)
      assert.equal(err.code, 'ERR_HANDLE_REGISTRY_ABI')
      assert.equal(err.message, mismatch)
      return true
    }, name)
    assert.throws(() => addon.attach(registry.nativeApi), { code: 'ERR_HANDLE_REGISTRY_ABI', message: mismatch })
    assert.equal(addon.attached(), false)
    assert.throws(() => addon.post(h, 1, 1), { code: 'ERR_CONSUMER_NOT_ATTACHED' })
    assert.throws(() => addon.isLive(h), { code: 'ERR_CONSUMER_NOT_ATTACHED' })
  }
  // The correctly built addons are unaffected.
  a.attach(registry)
  assert.equal(a.isLive(h), true)
  registry.close()
})

test('without the native addon attach says ERR_NATIVE_UNAVAILABLE', () => {
  const script = `
    const { HandleRegistry, hasNative } = require('handle-registry')
    const addon = require(${JSON.stringify(path.join(build, 'consumer_b.node'))})
    const registry = new HandleRegistry()
    try { addon.attach(registry); console.log('attached') } catch (err) { console.log(hasNative(), err.code) }
  `
  const r = spawnSync(process.execPath, ['-e', script], {
    cwd: path.join(__dirname, '..'),
    env: { ...process.env, HANDLE_REGISTRY_NO_NATIVE: '1' },
    encoding: 'utf8',
  })
  assert.equal(r.status, 0, r.stderr)
  assert.equal(r.stdout.trim(), 'false ERR_NATIVE_UNAVAILABLE')
})

test('handles round-trip through void* user_data; status names match', () => {
  for (const addon of [a, b]) {
    for (const h of [1, 256, 257, 2 ** 28 + 256, 2 ** 31 + 5, 2 ** 53 - 1]) {
      assert.equal(addon.userDataRoundTrip(h), h)
    }
    assert.equal(addon.userDataRoundTrip(0), 0)
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 7, 99].map(addon.statusName), [
      'ok', 'invalid_handle', 'stale_handle', 'foreign_handle', 'registry_closed',
      'queue_full', 'version_mismatch', 'not_attached', 'unknown',
    ])
  }
})

test('is_live before and after release; a post after release is stale', () => {
  const registry = new HandleRegistry()
  const seen = []
  registry.onEvent((value, kind, payload) => seen.push([value, kind, payload]))
  const h = registry.register({ name: 'conn' })
  a.attach(registry)
  b.attach(registry)
  assert.equal(a.isLive(h), true)
  assert.equal(b.isLive(h), true)
  assert.equal(a.post(h, 7, 1.5), OK)
  registry.release(h)
  assert.equal(a.isLive(h), false)
  assert.equal(b.isLive(h), false)
  assert.equal(a.post(h, 7, 2), STALE)
  assert.equal(b.post(h, 7, 3), STALE)
  assert.equal(a.statusName(a.post(h, 7, 4)), 'stale_handle')
  assert.equal(a.post(0, 7, 0), INVALID)
  assert.equal(b.isLive(0), false)
  const ev = registry.stats().events
  assert.equal(ev.droppedStale, 3)
  registry.close()
})

test('posts without a handler, to a closed registry, or after a worker ended: registry_closed', async () => {
  const registry = new HandleRegistry()
  const h = registry.register('x')
  a.attach(registry)
  assert.equal(a.isLive(h), true)
  assert.equal(a.post(h, 1, 1), CLOSED) // no onEvent handler installed
  registry.onEvent(() => {})
  registry.close()
  assert.equal(a.isLive(h), false)
  assert.equal(a.post(h, 1, 1), CLOSED)
  assert.equal(b.post(h, 1, 1), CLOSED)

  const worker = new Worker(path.join(__dirname, 'worker.js'))
  const [wh] = await new Promise((resolve, reject) => {
    worker.once('message', (m) => resolve([m]))
    worker.once('error', reject)
  })
  assert.equal(b.isLive(wh), true)
  worker.postMessage('exit')
  await new Promise((resolve) => worker.once('exit', resolve))
  assert.equal(b.isLive(wh), false)
  assert.equal(b.post(wh, 1, 1), CLOSED)
  const run = b.start([wh], 100, 1)
  const totals = await finish(b, run)
  assert.equal(totals.closed, 100)
  assert.equal(totals.ok, 0)
})

test('two addons post from their own threads at once: every event arrives, in order per thread', async () => {
  const registry = new HandleRegistry()
  const PER = 5000
  const objects = new Map()
  const received = new Map()
  let wrong = 0
  registry.onEvent((value, kind, payload, handle) => {
    if (objects.get(handle) !== value) wrong++
    let list = received.get(handle)
    if (!list) received.set(handle, (list = []))
    list.push([kind, payload])
  })
  const make = (tag, n) => Array.from({ length: n }, (_, i) => {
    const obj = { tag, i }
    const h = registry.register(obj)
    objects.set(h, obj)
    return h
  })
  const ha = make('a', 6)
  const hb = make('b', 6)
  a.attach(registry)
  b.attach(registry.nativeApi)
  const sizeBefore = a.stateSize()
  const runA = a.start(ha, PER, 100)
  const runB = b.start(hb, PER, 200)
  const [ta, tb] = await Promise.all([finish(a, runA), finish(b, runB)])
  for (const t of [ta, tb]) {
    assert.equal(t.posted, 6 * PER)
    assert.equal(t.ok, 6 * PER, JSON.stringify(t))
    assert.equal(t.inOrder, true)
  }
  await waitFor('delivery', () => registry.stats().events.handled === 12 * PER)
  assert.equal(wrong, 0)
  for (const [hs, kind] of [[ha, 100], [hb, 200]]) {
    for (const h of hs) {
      const list = received.get(h)
      assert.equal(list.length, PER)
      // One thread per handle: its events arrive in the order it posted them.
      for (let i = 0; i < PER; i++) {
        if (list[i][0] !== kind || list[i][1] !== i) {
          assert.fail(`handle ${h}: event ${i} is ${JSON.stringify(list[i])}, expected [${kind}, ${i}]`)
        }
      }
    }
  }
  const ev = registry.stats().events
  assert.equal(ev.delivered, 12 * PER)
  assert.equal(ev.droppedFull, 0)

  // Native state kept per handle in hr::ShardedMap, by each addon separately.
  assert.equal(a.stateSize(), sizeBefore + 6)
  assert.deepEqual(a.state(ha[0]), {
    inOrder: true, posted: PER, ok: PER, invalid: 0, stale: 0, foreign: 0, closed: 0,
    full: 0, mismatch: 0, other: 0, kind: 100,
  })
  assert.equal(a.state(hb[0]), undefined) // b's handles live in b's map
  assert.equal(b.state(hb[0]).kind, 200)
  assert.equal(a.forget(ha[0]), true)
  assert.equal(a.forget(ha[0]), false)
  assert.equal(a.state(ha[0]), undefined)
  assert.equal(a.stateSize(), sizeBefore + 5)
  registry.close()
})

test('releasing handles while threads post: no event reaches the handler after release', async () => {
  const registry = new HandleRegistry()
  const PER = 12000 // 4 * PER stays below the queue capacity (65536): no queue_full
  const released = new Set()
  let afterRelease = 0
  let handled = 0
  registry.onEvent((value, kind, payload, handle) => {
    handled++
    if (released.has(handle)) afterRelease++
  })
  const hs = Array.from({ length: 4 }, (_, i) => registry.register({ i }))
  b.attach(registry)
  const run = b.start(hs, PER, 9)
  await waitFor('first event', () => handled > 0)
  for (const h of hs.slice(0, 2)) {
    registry.release(h)
    released.add(h)
  }
  const t = await finish(b, run)
  assert.equal(t.posted, 4 * PER)
  assert.equal(t.ok + t.stale, 4 * PER)
  assert.equal(t.inOrder, true)
  for (const h of hs.slice(2)) assert.equal(b.state(h).ok, PER)
  await waitFor('delivery', () => {
    const ev = registry.stats().events
    return ev.delivered + ev.pending === t.ok && ev.pending === 0
  })
  assert.equal(afterRelease, 0)
  const ev = registry.stats().events
  assert.equal(ev.delivered, ev.handled + ev.droppedReleased)
  assert.equal(ev.droppedStale, t.stale)
  registry.close()
})

test('a full queue refuses posts with queue_full and counts them; memory stays bounded', async () => {
  const registry = new HandleRegistry()
  const got = []
  registry.onEvent((value, kind, payload) => got.push(payload), { capacity: 4 })
  const h = registry.register('q')
  for (const addon of [a, b]) {
    addon.attach(registry)
    got.length = 0
    const before = registry.stats().events.droppedFull
    // The JS thread cannot drain while it runs this: the 5th post finds the queue full.
    const r = addon.postMany(Array(10).fill(h), 3, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    assert.equal(r.ok, 4)
    assert.deepEqual(r.statuses, [OK, OK, OK, OK, FULL, FULL, FULL, FULL, FULL, FULL])
    assert.equal(addon.post(h, 3, 10), FULL)
    assert.equal(registry.stats().events.droppedFull - before, 7)
    await waitFor('delivery', () => got.length === 4)
    assert.deepEqual(got, [0, 1, 2, 3])
    assert.equal(addon.post(h, 3, 11), OK) // drained: room again
    await waitFor('delivery', () => got.length === 5)
  }
  registry.close()
})

test('hr::DomainView reads the owner of a handle from the shared domain table', () => {
  const registry = new HandleRegistry({ shards: 4 })
  const h = registry.register('x')
  a.attach(registry)
  assert.equal(a.ownerOf(h), registry.ownerId)
  assert.equal(b.ownerOf(h), registry.ownerId)
  registry.close()
})
