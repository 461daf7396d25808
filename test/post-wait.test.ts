// api->post_wait (native/src/post.cc, post_wait.cc), driven by the test
// addon (test/producers/pressure_calls.cc): from a native "pacer" thread that
// never retries, and from the registry's own JS thread. With room in the
// thread's ring it takes api->post's fast path (issue 11); these tests pin
// what that path must keep: per-thread order with plain posts while the ring
// fills and empties, the statuses (would_deadlock only when full, stale,
// closed), and the counters (a post_wait that waited and then queued is no
// drop; one that timed out is droppedTimeout). Teardown while it waits:
// back-pressure-teardown.test.ts.
import { describe, expect, test } from 'vitest'
import { HandleRegistry } from '../src/index'
import { closedAfterEach, until } from './fixtures/helpers'
import { finishPacer, inOrder, spinUntil } from './fixtures/pacers'
import { producersBinding } from './fixtures/producers-binding'

const addon = producersBinding()
const registry = closedAfterEach()
const finish = (id: number, ms?: number) => finishPacer(addon!, id, ms)

/** A thread posts this many events through the shared queue before it claims a ring there (producer_rings.h). */
const SHARED_POSTS_PER_CLAIM = 64

describe.runIf(addon !== null)('api->post_wait', () => {
  // 'wait': every event by post_wait. 'mixed': odd events by post_wait, even
  // ones by post, and a post refused (queue_full) again by post_wait, so
  // that post_wait meets the ring with room (the fast path) and full (waits)
  // right after the thread's own posts.
  test.each(['wait', 'mixed'] as const)("'%s' from one C thread, default policy, the ring filling: in order, only refused posts counted", async (mode) => {
    const events = 200_000
    const { seen, handler } = inOrder()
    const reg = registry()
    reg.onEvent(handler, { capacity: 16 })
    const r = await finish(addon!.start_pacer(reg.register({}), events, mode, -1))
    expect(r).toMatchObject({ ok: events, queue_full: 0, timeout: 0, other: 0 })
    if (mode === 'mixed') expect(r.refused).toBeGreaterThan(0) // the ring did fill between the thread's posts
    await until(() => seen.count === events, `${events} events`)
    expect(seen.outOfOrder).toBe(0)
    expect(reg.stats().events).toMatchObject({ delivered: events, droppedFull: r.refused, droppedTimeout: 0 })
  })

  test('timeout when JS does not drain in time (counted as droppedTimeout)', () => {
    const reg = registry()
    const h = reg.register({})
    reg.onEvent(() => {}, { capacity: 16 })
    const id = addon!.start_pacer(h, 20, 'wait', 20)
    spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish')
    expect(addon!.join_pacer(id)).toMatchObject({ ok: 16, timeout: 4 })
    expect(reg.stats().events!.droppedTimeout).toBe(4)
  })

  test('timeout from a C thread that has its ring: counted as droppedTimeout, the rest delivered in order', async () => {
    const reg = registry()
    const h = reg.register({})
    const N = 400
    const STOP = 2 * SHARED_POSTS_PER_CLAIM // the pacer has its ring by then
    let id = 0
    let count = 0
    let last = -1
    let outOfOrder = 0
    reg.onEvent((_v, _k, payload) => {
      if ((payload as number) <= last) outOfOrder++
      last = payload as number
      if (++count === STOP) spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish') // JS stops draining
    }, { capacity: 16, batch: 16 }) // batch: no batch that takes in every event before the handler stops
    id = addon!.start_pacer(h, N, 'wait', 3)
    const r = await finish(id)
    expect(r.ok + r.timeout).toBe(N)
    expect(r.timeout).toBeGreaterThan(0)
    expect(r).toMatchObject({ queue_full: 0, other: 0 })
    await until(() => count === r.ok, `${r.ok} events`)
    expect(outOfOrder).toBe(0)
    expect(reg.stats().events).toMatchObject({ delivered: r.ok, droppedTimeout: r.timeout, droppedFull: 0 })
  })

  test('on the JS thread: ok while there is room, would_deadlock at once when full', () => {
    const reg = registry()
    const h = reg.register({})
    reg.onEvent(() => {}, { capacity: 2 })
    expect(addon!.post_wait(h, 0, 1, -1)).toBe('ok')
    expect(addon!.post_wait(h, 0, 2, -1)).toBe('ok')
    expect(addon!.post_wait(h, 0, 3, -1)).toBe('would_deadlock')
  })

  test('on the JS thread once it has its ring: ok up to capacity, then would_deadlock; ok again once drained', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const CAPACITY = 4 * SHARED_POSTS_PER_CLAIM
    reg.onEvent(handler, { capacity: CAPACITY })
    let next = 0
    // Nothing drains while this loop runs: the thread's events in the shared
    // queue and in its ring together never exceed the capacity.
    const fill = () => {
      const first = next
      let st: string
      while ((st = addon!.post_wait(h, 0, next, -1)) === 'ok' && next - first <= CAPACITY) next++
      return { st, ok: next - first }
    }
    expect(fill()).toEqual({ st: 'would_deadlock', ok: CAPACITY }) // past SHARED_POSTS_PER_CLAIM: a ring
    expect(reg.stats().events!.droppedFull).toBe(1)
    await until(() => seen.count === next, `${next} events`)
    expect(fill()).toEqual({ st: 'would_deadlock', ok: CAPACITY }) // the ring's whole capacity, after a drain
    await until(() => seen.count === next, `${next} events`)
    expect(seen.outOfOrder).toBe(0)
    expect(reg.stats().events).toMatchObject({ delivered: 2 * CAPACITY, droppedFull: 2, droppedTimeout: 0 })
  })

  test('the usual statuses: stale, invalid, registry closed', () => {
    const reg = registry()
    const h = reg.register({})
    reg.onEvent(() => {})
    reg.release(h)
    expect(addon!.post_wait(h, 0, 1, 10)).toBe('stale_handle')
    expect(addon!.post_wait(0, 0, 1, 10)).toBe('invalid_handle')
    const other = new HandleRegistry()
    const g = other.register({})
    other.close()
    expect(addon!.post_wait(g, 0, 1, 10)).toBe('registry_closed')
  })

  test('from a thread that has its ring in the path: stale handle, no handler, closed registry', async () => {
    const reg = registry()
    const a = reg.register({})
    const b = reg.register({})
    const { seen, handler } = inOrder()
    reg.onEvent(handler)
    const N = 2 * SHARED_POSTS_PER_CLAIM
    for (let i = 0; i < N; i++) expect(addon!.post_wait(a, 0, i, -1)).toBe('ok')
    await until(() => seen.count === N, `${N} events`)
    reg.release(b)
    expect(addon!.post_wait(b, 0, N, 10)).toBe('stale_handle')
    expect(addon!.post_wait(a, 0, N, 10)).toBe('ok') // the ring still takes the live handle's events
    await until(() => seen.count === N + 1, `${N + 1} events`)
    reg.offEvent()
    expect(addon!.post_wait(a, 0, N + 1, 10)).toBe('registry_closed')
    expect(reg.stats().events).toMatchObject({ delivered: N + 1, droppedStale: 1, droppedClosed: 1 })
    reg.onEvent(handler) // a new path: the thread routes anew
    expect(addon!.post_wait(a, 0, N + 1, 10)).toBe('ok')
    await until(() => seen.count === N + 2, `${N + 2} events`)
    reg.close()
    expect(addon!.post_wait(a, 0, N + 2, 10)).toBe('registry_closed')
    expect(seen.outOfOrder).toBe(0)
  })
})
