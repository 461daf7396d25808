'use strict'
// The addon's concurrent paths under ThreadSanitizer (scripts/run-tests.js runs
// this file with the -fsanitize=thread build of native/src loaded through
// HANDLE_REGISTRY_ADDON and libtsan in LD_PRELOAD; node itself is not
// instrumented, so V8's and libuv's own threads are suppressed in
// test/tsan/suppressions.txt). Real native threads of the test producers
// addon post, call and wait while this thread closes, turns events off and
// changes the full policy. TSan reports (exit code 66) fail the suite; each
// scenario also checks its own accounting. Prints one line per scenario and
// "N passed, N failed".
const path = require('node:path')
const { HandleRegistry } = require(path.join(__dirname, '..', '..', 'dist', 'index.js'))
const { loadProducers } = require(path.join(__dirname, '..', 'fixtures', 'producers.js'))

const FOREVER = 0xffffffff
let passed = 0
let failed = 0
const tick = () => new Promise((resolve) => setImmediate(resolve))
async function until(cond, what, ms = 120_000) {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await tick()
  }
}
function check(ok, what) {
  if (!ok) throw new Error(what)
}

const probe = new HandleRegistry()
const p = loadProducers(probe.nativeApi)
probe.close()

const scenarios = {
  async 'close() while 2 threads post at full speed'() {
    for (let round = 0; round < 3; round++) {
      const reg = new HandleRegistry()
      const handles = Float64Array.from({ length: 16 }, (_, i) => reg.register(i))
      let handled = 0
      reg.onEvent(() => { handled++ }, { capacity: 1024 })
      const id = p.start_producers(handles, 2, 200_000, 0, false)
      await until(() => handled > 0, 'events to flow')
      reg.close()
      await until(() => p.producers_done(id), 'the producers')
      const t = p.join_producers(id)
      check(t.ok + t.full + t.closed + t.stale === 400_000 && t.invalid === 0, `accounting ${JSON.stringify(t)}`)
    }
  },
  async 'offEvent() and onEvent() again while 2 threads post'() {
    const reg = new HandleRegistry()
    const handles = Float64Array.from({ length: 8 }, (_, i) => reg.register(i))
    let handled = 0
    reg.onEvent(() => { handled++ }, { capacity: 256 })
    const id = p.start_producers(handles, 2, 200_000, 0, false)
    for (let i = 0; i < 20 && !p.producers_done(id); i++) {
      await tick()
      reg.offEvent()
      reg.onEvent(() => { handled++ }, { capacity: 256 })
    }
    await until(() => p.producers_done(id), 'the producers')
    p.join_producers(id)
    reg.close()
  },
  async "whenFull 'block': producers wait, then close() wakes them"() {
    const reg = new HandleRegistry()
    const h = reg.register({})
    let handled = 0
    reg.onEvent(() => { handled++ }, { capacity: 16, whenFull: 'block', blockTimeoutMs: Infinity })
    const id = p.start_pacer(h, 200_000, 'post')
    await until(() => handled > 1000, 'events to flow')
    reg.close() // the pacer may be waiting for room: it must wake with registry_closed
    await until(() => p.pacer_state(id).done, 'the pacer')
    const r = p.join_pacer(id)
    check(r.ok + r.registry_closed === 200_000 && r.registry_closed > 0, `pacer ${JSON.stringify(r)}`)
  },
  async "whenFull 'grow' and post_wait from a C thread: none lost"() {
    const reg = new HandleRegistry()
    const h = reg.register({})
    let handled = 0
    reg.onEvent(() => { handled++ }, { capacity: 64, whenFull: 'grow' })
    const id = p.start_pacer(h, 100_000, 'post')
    await until(() => p.pacer_state(id).done, 'the pacer')
    check(p.join_pacer(id).ok === 100_000, 'grow lost events')
    const id2 = p.start_pacer(h, 100_000, 'wait', -1)
    await until(() => p.pacer_state(id2).done, 'the waiting pacer')
    check(p.join_pacer(id2).ok === 100_000, 'post_wait lost events')
    await until(() => handled === 200_000, 'every event')
    reg.close()
  },
  async 'post and post_wait mixed from a C thread (its ring filling and draining), then close()'() {
    const reg = new HandleRegistry()
    const h = reg.register({})
    let handled = 0
    reg.onEvent(() => { handled++ }, { capacity: 16 })
    const id = p.start_pacer(h, 200_000, 'mixed', -1)
    await until(() => handled > 1000, 'events to flow')
    reg.close() // the pacer's post_wait may be in its fast path or waiting for room
    await until(() => p.pacer_state(id).done, 'the pacer')
    const r = p.join_pacer(id)
    check(r.ok + r.registry_closed === 200_000 && r.registry_closed > 0, `pacer ${JSON.stringify(r)}`)
  },
  async 'api->call from 4 threads, then close() with callers waiting'() {
    const reg = new HandleRegistry()
    const handles = [reg.register({}), reg.register({})]
    reg.onCall((_v, _k, payload) => payload * 2)
    const id = p.start_callers(new Float64Array(handles), 4, 2000, 0, FOREVER)
    await until(() => p.callers_done(id), 'the callers')
    const r = p.join_callers(id)
    check(r.ok === 8000, `calls ${JSON.stringify(r)}`)
    // Callers left waiting on a handler that never answers: close() wakes them.
    reg.onCall(() => new Promise(() => {}))
    const id2 = p.start_callers(new Float64Array(handles), 4, 1, 0, FOREVER)
    await until(() => p.callers_waiting(id2) === 4 || p.callers_done(id2), 'the callers to wait')
    reg.close()
    await until(() => p.callers_done(id2), 'the woken callers')
    const r2 = p.join_callers(id2)
    check(r2.closed === 4, `woken callers ${JSON.stringify(r2)}`)
  },
  async 'a worker terminated while 2 threads post to its registry'() {
    const { Worker } = require('node:worker_threads')
    for (let round = 0; round < 3; round++) {
      const w = new Worker(`
        const { parentPort } = require('node:worker_threads')
        const { HandleRegistry } = require(${JSON.stringify(path.join(__dirname, '..', '..', 'dist', 'index.js'))})
        const reg = new HandleRegistry()
        const handles = Array.from({ length: 8 }, (_, i) => reg.register(i))
        let n = 0
        reg.onEvent(() => { if (++n === 1000) parentPort.postMessage('flowing') }, { capacity: 1024 })
        parentPort.postMessage(handles)
        setInterval(() => {}, 1000) // alive until terminated
      `, { eval: true })
      const messages = []
      let error
      w.on('message', (m) => messages.push(m))
      w.on('error', (err) => { error = err })
      await until(() => messages.length >= 1 || error !== undefined, 'the worker\'s handles')
      if (error !== undefined) throw error
      const id = p.start_producers(Float64Array.from(messages[0]), 2, 200_000, 0, false)
      await until(() => messages.length >= 2 || error !== undefined, 'events to flow in the worker')
      await w.terminate()
      await until(() => p.producers_done(id), 'the producers')
      const t = p.join_producers(id)
      check(t.ok + t.full + t.closed + t.stale === 400_000 && t.invalid === 0, `accounting ${JSON.stringify(t)}`)
    }
  },
  async 'a terminated worker held in teardown: its waiting producers and callers get registry_closed'() {
    // test/fixtures/teardown-worker.js: the worker's teardown stays open (an
    // async work item of the test addon waits on a latch) after terminate(),
    // so the delivery that finds JS gone stops the path while the threads
    // post, wait and call (stop_event_path), long before the env cleanup.
    const { Worker } = require('node:worker_threads')
    for (const mode of ['wait', 'call']) {
      const seen = new Int32Array(new SharedArrayBuffer(4))
      const latch = p.new_latch()
      const w = new Worker(path.join(__dirname, '..', 'fixtures', 'teardown-worker.js'),
        { workerData: { mode, capacity: 1024, latch, seen: seen.buffer } })
      let error
      let exited = false
      w.on('error', (err) => { error = err })
      w.once('exit', () => { exited = true })
      const ready = await new Promise((resolve) => w.once('message', resolve))
      const ids = mode === 'call'
        ? [p.start_callers(new Float64Array([ready.h]), 2, 100_000, 0, FOREVER)]
        : [p.start_pacer(ready.h, FOREVER, 'wait'), p.start_pacer(ready.h, FOREVER, 'wait')]
      await until(() => Atomics.load(seen, 0) >= 1000 || error !== undefined, 'the worker\'s handler to run 1000 times')
      if (error !== undefined) throw error
      void w.terminate()
      if (mode === 'call') {
        await until(() => p.callers_done(ids[0]), 'the callers to finish while the teardown is held')
      } else {
        await until(() => ids.every((id) => p.pacer_state(id).registry_closed > 0), 'registry_closed while the teardown is held')
        for (const id of ids) p.stop_pacer(id)
        await until(() => ids.every((id) => p.pacer_state(id).done), 'the pacers to stop')
      }
      const held = !exited
      p.open_latch(latch)
      await until(() => exited, 'the worker to exit')
      check(held, 'the producers learned only once the worker had exited')
      if (mode === 'call') {
        const t = p.join_callers(ids[0])
        check(t.ok + t.closed === 200_000 && t.ok + t.closed + t.other + t.timeout + t.mismatched === 200_000,
          `callers ${JSON.stringify(t)}`)
      } else {
        for (const id of ids) {
          const st = p.join_pacer(id)
          check(st.ok + st.registry_closed === st.attempted, `pacer ${JSON.stringify(st)}`)
        }
      }
    }
  },
}

;(async () => {
  for (const [name, run] of Object.entries(scenarios)) {
    try {
      await run()
      passed++
      console.log(`PASS ${name}`)
    } catch (err) {
      failed++
      console.log(`FAIL ${name}: ${err && err.stack}`)
    }
  }
  console.log(`${passed} passed, ${failed} failed`)
  process.exitCode = failed === 0 ? 0 : 1
})()
