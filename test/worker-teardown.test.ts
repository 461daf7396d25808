// A terminated worker's registry stops taking events at once. Between
// worker.terminate() and the env cleanup hook that closes the worker's
// registries, Node keeps turning the worker's event loop (it waits for
// requests in flight: an fs read, a crypto job, an addon's async work)
// while JS can no longer run. The first delivery that finds the JS callback
// uncallable closes the path for producers, as close() does: posts and calls
// get REGISTRY_CLOSED (counted droppedClosed), producers waiting for room
// and callers waiting for a reply are woken with REGISTRY_CLOSED, the events
// still queued and the batch that could not be handed over are counted
// droppedAtClose, not delivered. Real native threads of the test addon post
// or call; the worker holds its teardown open with an async work item of the
// test addon (latch_calls.cc) until the test has seen the producers learn.
import { describe, expect, test } from 'vitest'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { nativeBinding } from '../src/native'
import { until } from './fixtures/helpers'
import { producersBinding } from './fixtures/producers-binding'

const addon = producersBinding()
const FIXTURE = path.join(__dirname, 'fixtures', 'teardown-worker.js')
const CAPACITY = 1024
const BATCH = 4096 // onEvent's default batch: the most one delivery hands to JS
const STREAM = 0xffffffff // events a pacer would post: it runs until stopped
const CALLS = 1_000_000 // per caller thread: more than the stream takes before terminate()
const FLOWING = 10_000 // events (calls) the worker's handlers ran before terminate()
const WAIT_MS = 20_000 // failure bound only

/** A worker owning a registry fed by native threads, terminated and held in teardown by a latch. */
async function terminated(mode: 'post' | 'wait' | 'call', start: (h: number) => number, learned: (id: number) => boolean,
  done: (id: number) => boolean, stop: (id: number) => void) {
  const seen = new Int32Array(new SharedArrayBuffer(4))
  const latch = addon!.new_latch()
  const w = new Worker(FIXTURE, { workerData: { mode, capacity: CAPACITY, latch, seen: seen.buffer } })
  let exited = false
  const errors: unknown[] = []
  w.on('error', (e) => errors.push(e))
  const exit = new Promise<void>((resolve) => w.once('exit', () => { exited = true; resolve() }))
  let id = 0
  let owner = 0
  let heldWhenLearned = false
  try {
    const ready = await new Promise<{ h: number; owner: number }>((resolve, reject) => {
      w.once('message', resolve)
      w.once('exit', () => reject(new Error('the worker exited before it sent its handle')))
    })
    owner = ready.owner
    id = start(ready.h)
    await until(() => Atomics.load(seen, 0) >= FLOWING, `the worker's handler to run ${FLOWING} times`, WAIT_MS)
    void w.terminate()
    // While the latch holds the worker's teardown open (its registry not
    // closed by the cleanup hook yet), the producers learn the registry is
    // gone, and stop.
    await until(() => learned(id), 'a producer to get REGISTRY_CLOSED while the worker is still tearing down', WAIT_MS)
    stop(id)
    await until(() => done(id), 'the producer threads to finish', WAIT_MS)
    heldWhenLearned = !exited
  } finally {
    if (id !== 0) stop(id)
    addon!.open_latch(latch)
    await exit
  }
  expect(errors).toEqual([])
  expect(heldWhenLearned).toBe(true)
  // The closed registry's final counters (the owner index is not claimed
  // again meanwhile: claims rotate through all 4095).
  return { id, seen: Atomics.load(seen, 0), stats: nativeBinding()!.event_stats(owner) }
}

describe.runIf(addon !== null)('a terminated worker: producers learn at once, nothing counts as delivered that JS never got', () => {
  test.each(['post', 'wait'] as const)('events (%s): REGISTRY_CLOSED before the env cleanup, counted droppedClosed; delivered = what the handler saw', async (mode) => {
    const { id, seen, stats } = await terminated(mode, (h) => addon!.start_pacer(h, STREAM, mode),
      (i) => addon!.pacer_state(i).registry_closed > 0, (i) => addon!.pacer_state(i).done, (i) => addon!.stop_pacer(i))
    const st = addon!.join_pacer(id)
    expect(st).toMatchObject({ queue_full: 0, timeout: 0, would_deadlock: 0, other: 0 })
    expect(st.ok + st.registry_closed).toBe(st.attempted)
    // Every OK post was handed to JS or dropped where close() drops: the
    // batch JS could not take and what was still queued (the shared queue
    // and the pacer's ring) when delivery stopped.
    expect(stats.pending).toBe(0)
    expect(stats.delivered + stats.droppedAtClose).toBe(st.ok)
    expect(stats.droppedAtClose).toBeLessThanOrEqual(BATCH + 2 * CAPACITY)
    // Delivered: what the handler saw, but for the batch JS was running when
    // terminate() interrupted it (if it did).
    expect(stats.delivered).toBeGreaterThanOrEqual(seen)
    expect(stats.delivered - seen).toBeLessThanOrEqual(BATCH)
    // Every REGISTRY_CLOSED came while the registry still existed (the
    // pacer finished before the latch opened): counted as close() counts them.
    expect(stats.droppedClosed).toBe(st.registry_closed)
  })

  test('calls: callers waiting and calling get REGISTRY_CLOSED before the env cleanup', async () => {
    const { id, seen, stats } = await terminated('call',
      (h) => addon!.start_callers(new Float64Array([h]), 2, CALLS, 0),
      (i) => addon!.callers_done(i), (i) => addon!.callers_done(i), () => {})
    const t = addon!.join_callers(id)
    expect(t).toMatchObject({ mismatched: 0, threw: 0, timeout: 0, stale: 0, full: 0, deadlock: 0, other: 0 })
    expect(t.ok + t.closed).toBe(2 * CALLS)
    expect(t.ok).toBeLessThanOrEqual(seen) // a reply only from a handler that ran
    expect(stats.pending).toBe(0)
    expect(stats.delivered).toBeGreaterThanOrEqual(seen)
    expect(stats.delivered - seen).toBeLessThanOrEqual(BATCH)
    // Refused before queueing (droppedClosed), dropped from the queue
    // (droppedAtClose) or handed to JS and cancelled: each caller got REGISTRY_CLOSED.
    expect(stats.droppedClosed).toBeGreaterThan(0)
    expect(t.closed).toBeGreaterThanOrEqual(stats.droppedClosed + stats.droppedAtClose)
  })
})
