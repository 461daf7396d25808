// api->post's fast path routes by the posting thread's last ring (the ring of
// the event path it last posted to, keyed by the path's never-reused serial:
// native/src/producer_rings.h, post.cc). Real native threads (test/producers)
// post to two registries in turn while one of them turns its events off and
// on again (a new path each time) and finally closes: every event lands in
// the registry it was posted to, each registry's events in order, and the
// accounting adds up. A stale cache entry would route A's events into B's
// handler (caught below) or into a freed ring (a crash).
import { describe, expect, test } from 'vitest'
import { HandleRegistry } from '../src/index'
import { until } from './fixtures/helpers'
import { producersBinding } from './fixtures/producers-binding'

// Throws (the file fails) if the addon did not load, unless HANDLE_REGISTRY_NO_NATIVE=1.
const binding = producersBinding()
const tick = (): Promise<void> => new Promise((resolve) => setImmediate(resolve))

describe.runIf(binding !== null)('the thread\'s last ring across paths and teardowns', () => {
  test('one thread posts to A and B in turn while A goes off, on again and closes: B gets exactly its events, in order', async () => {
    const a = new HandleRegistry<{ reg: 'A' }>()
    const b = new HandleRegistry<{ reg: 'B' }>()
    // Runs of 16 posts to A, then 16 to B (a run hits the thread's last
    // ring; its first post misses it): payload i goes to A when (i >> 4) is even.
    const run = 16
    const handles = new Float64Array(8 * run)
    for (let i = 0; i < handles.length; i++) {
      handles[i] = (i >> 4) % 2 === 0 ? a.register({ reg: 'A' }) : b.register({ reg: 'B' })
    }
    const ofB = (i: number): boolean => ((i >> 4) & 1) === 1
    const nextOfB = (i: number): number => (ofB(i + 1) ? i + 1 : i + 1 + run)
    const perThread = 400_000
    let wrongInB = 0
    let bNext = run // B's payloads, in order
    let bOutOfOrder = 0
    let bGot = 0
    b.onEvent((value, _kind, payload) => {
      if (value.reg !== 'B' || typeof payload !== 'number') {
        wrongInB++
        return
      }
      if (payload !== bNext) bOutOfOrder++
      bNext = nextOfB(payload)
      bGot++
    }, { capacity: 1024 })
    let wrongInA = 0
    let aGot = 0
    let aLast = -1
    let aOutOfOrder = 0
    const onA = (value: { reg: 'A' }, _kind: number, payload: number | Uint8Array): void => {
      if (value.reg !== 'A' || typeof payload !== 'number') {
        wrongInA++
        return
      }
      if (ofB(payload) || payload <= aLast) aOutOfOrder++ // gaps allowed: posts while A was off
      aLast = payload
      aGot++
    }
    a.onEvent(onA, { capacity: 1024 })
    const id = binding!.start_producers(handles, 1, perThread, 0, true)
    // A's path is replaced while the thread posts (each onEvent: a new path,
    // a new serial); then A closes.
    let cycles = 0
    while (cycles < 30 && !binding!.producers_done(id)) {
      const before = aGot
      await until(() => aGot >= before + 100 || binding!.producers_done(id), 'events of A', 60_000)
      a.offEvent()
      await tick()
      a.onEvent(onA, { capacity: 1024 })
      cycles++
    }
    a.close()
    await until(() => binding!.producers_done(id), 'the producer thread', 120_000)
    const t = binding!.join_producers(id)
    await until(() => bGot === perThread / 2, 'every event of B', 60_000)
    b.close()
    expect(cycles).toBeGreaterThan(0)
    expect(wrongInB).toBe(0)
    expect(wrongInA).toBe(0)
    expect(bOutOfOrder).toBe(0)
    expect(aOutOfOrder).toBe(0)
    expect(t.invalid + t.other + t.stale).toBe(0)
    // Every post answered: OK (handled by A or B, or dropped by A's offEvent
    // or close after it was queued) or REGISTRY_CLOSED (A off or closed).
    expect(t.ok + t.closed).toBe(perThread)
    // A handled only posts it accepted (the rest of the OK posts were queued
    // when offEvent or close stopped its delivery).
    expect(aGot).toBeGreaterThanOrEqual(100 * cycles)
    expect(aGot).toBeLessThanOrEqual(t.ok - perThread / 2)
  }, 180_000)
})
