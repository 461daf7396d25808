// Back-pressure (issue 9, part 4): onEvent's whenFull ('drop', 'block',
// 'grow'), driven by native threads of the test addon
// (test/producers/pressure_calls.cc: a "pacer" thread that posts and never
// retries, as a C library's void callback cannot). api->post_wait:
// post-wait.test.ts. Teardown while producers wait (close, offEvent, worker
// exit): back-pressure-teardown.test.ts.
import { describe, expect, test } from 'vitest'
import { HandleRegistry } from '../src/index'
import { closedAfterEach, codeOf, until } from './fixtures/helpers'
import { finishPacer, inOrder, spinUntil } from './fixtures/pacers'
import { producersBinding } from './fixtures/producers-binding'

const addon = producersBinding()

const HR_STATUS_WOULD_DEADLOCK = 13
const RING_CELL_BYTES = 32
const OVERFLOW_CHUNK_BYTES = 24 + 1024 * 24
const registry = closedAfterEach()
const finish = (id: number, ms?: number) => finishPacer(addon!, id, ms)

describe('onEvent options: whenFull, blockTimeoutMs, maxQueueBytes', () => {
  const noop = () => {}
  test.each([
    [{ whenFull: 'wait' }],
    [{ whenFull: 1 }],
    [{ whenFull: null }],
    [{ blockTimeoutMs: 10 }], // only with 'block'
    [{ whenFull: 'grow', blockTimeoutMs: 10 }],
    [{ whenFull: 'block', maxQueueBytes: 1 << 20 }], // only with 'grow'
    [{ whenFull: 'block', blockTimeoutMs: -1 }],
    [{ whenFull: 'block', blockTimeoutMs: 1.5 }],
    [{ whenFull: 'block', blockTimeoutMs: '10' }],
    [{ whenFull: 'block', blockTimeoutMs: 2 ** 31 }],
    [{ whenFull: 'block', blockTimeoutMs: NaN }],
    [{ whenFull: 'grow', maxQueueBytes: 1024 }], // below the ring plus one chunk
    [{ whenFull: 'grow', capacity: 1024, maxQueueBytes: 1024 * RING_CELL_BYTES + OVERFLOW_CHUNK_BYTES - 1 }],
    [{ whenFull: 'grow', maxQueueBytes: 2 ** 53 }],
  ])('%o is rejected with ERR_INVALID_OPTION', (options) => {
    const reg = new HandleRegistry()
    try {
      expect(codeOf(() => reg.onEvent(noop, options as never))).toBe('ERR_INVALID_OPTION')
    } finally {
      reg.close()
    }
  })

  test.runIf(addon !== null).each([
    [{}],
    [{ whenFull: 'drop' }],
    [{ whenFull: 'block' }],
    [{ whenFull: 'block', blockTimeoutMs: 0 }],
    [{ whenFull: 'block', blockTimeoutMs: Infinity }],
    [{ whenFull: 'grow' }],
    [{ whenFull: 'grow', capacity: 1024, maxQueueBytes: 1024 * RING_CELL_BYTES + OVERFLOW_CHUNK_BYTES }],
  ])('%o is accepted', (options) => {
    const reg = registry()
    expect(reg.onEvent(noop, options as never)).toBe(reg)
  })
})

describe.runIf(addon !== null)("whenFull: 'block'", () => {
  test('10M callbacks from one C thread, never retried: every one delivered, in order', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const N = 10_000_000
    reg.onEvent(handler, { whenFull: 'block', capacity: 1024 })
    const r = await finish(addon!.start_pacer(h, N, 'post'), 300_000)
    expect(r).toMatchObject({ attempted: N, ok: N, queue_full: 0, timeout: 0, other: 0 })
    await until(() => seen.count === N, `${N} events to reach the handler`, 120_000)
    expect(seen.outOfOrder).toBe(0)
    expect(reg.stats().events).toMatchObject({ posted: N, delivered: N, handled: N, droppedFull: 0, droppedTimeout: 0 })
  }, 600_000)

  test('the same C thread under the default policy loses events (what block is for)', async () => {
    const reg = registry()
    const h = reg.register({})
    const { handler } = inOrder()
    reg.onEvent(handler, { capacity: 16 })
    const id = addon!.start_pacer(h, 1000, 'post')
    spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish')
    const r = addon!.join_pacer(id)
    expect(r.ok).toBe(16)
    expect(r.queue_full).toBe(1000 - 16)
    expect(reg.stats().events!.droppedFull).toBe(1000 - 16)
  })

  test("onCall() after onEvent() keeps onEvent's policy; onCall() that opens the path sets its own", async () => {
    for (const order of ['event-then-call', 'call-only'] as const) {
      const reg = registry()
      const h = reg.register({})
      const { seen, handler } = inOrder()
      if (order === 'event-then-call') {
        reg.onEvent(handler, { whenFull: 'block', capacity: 16 })
        reg.onCall(() => 0) // no options: the path is open, the policy stays 'block'
      } else {
        // Opens the path with 'block'; no event handler: events are drained and dropped (droppedOff).
        reg.onCall(() => 0, { whenFull: 'block', capacity: 16 })
      }
      const N = 20_000
      const r = await finish(addon!.start_pacer(h, N, 'post'))
      expect(r, order).toMatchObject({ ok: N, queue_full: 0, timeout: 0 })
      if (order === 'event-then-call') {
        await until(() => seen.count === N, `${N} events (${order})`)
        expect(seen.outOfOrder).toBe(0)
      } else {
        await until(() => reg.stats().events!.droppedOff === N, `${N} events drained (${order})`)
      }
    }
  })

  test('a producer waits for room while JS is busy, then gets timeout after blockTimeoutMs (counted)', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    reg.onEvent(handler, { whenFull: 'block', capacity: 16, blockTimeoutMs: 30 })
    const started = Date.now()
    const id = addon!.start_pacer(h, 20, 'post')
    spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish') // JS never drains meanwhile
    const r = addon!.join_pacer(id)
    expect(Date.now() - started).toBeGreaterThanOrEqual(4 * 30) // 4 posts each waited their 30 ms
    expect(r).toMatchObject({ ok: 16, timeout: 4, queue_full: 0 })
    expect(reg.stats().events).toMatchObject({ droppedTimeout: 4, droppedFull: 0, posted: 20 })
    await until(() => seen.count === 16, 'the 16 queued events')
    expect(seen.outOfOrder).toBe(0)
  })

  test('blockTimeoutMs 0: timeout at once when full, never waits', () => {
    const reg = registry()
    const h = reg.register({})
    reg.onEvent(() => {}, { whenFull: 'block', capacity: 16, blockTimeoutMs: 0 })
    const id = addon!.start_pacer(h, 100, 'post')
    spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish')
    expect(addon!.join_pacer(id)).toMatchObject({ ok: 16, timeout: 84 })
  })

  test('post_many: runs that find the queue full wait, and keep their order', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const N = 200_000
    reg.onEvent(handler, { whenFull: 'block', capacity: 16 })
    const r = await finish(addon!.start_pacer(h, N, 'many', -1, 64))
    expect(r).toMatchObject({ ok: N, queue_full: 0, timeout: 0, other: 0 })
    await until(() => seen.count === N, `${N} events`)
    expect(seen.outOfOrder).toBe(0)
  })

  test('post_bytes: byte events wait too, and keep their order', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const N = 50_000
    reg.onEvent(handler, { whenFull: 'block', capacity: 16 })
    const r = await finish(addon!.start_pacer(h, N, 'bytes'))
    expect(r).toMatchObject({ ok: N, queue_full: 0, timeout: 0, other: 0 })
    await until(() => seen.count === N, `${N} byte events`)
    expect(seen.outOfOrder).toBe(0)
  })

  test('on the registry\'s own JS thread a post to a full queue returns would_deadlock at once', () => {
    const reg = registry()
    const h = reg.register({})
    reg.onEvent(() => {}, { whenFull: 'block', capacity: 2, blockTimeoutMs: Infinity })
    const bytes = new Uint8Array([1, 2, 3])
    expect(addon!.post_bytes(h, 0, bytes)).toBe(0)
    expect(addon!.post_bytes(h, 0, bytes)).toBe(0)
    const t0 = Date.now()
    expect(addon!.post_bytes(h, 0, bytes)).toBe(HR_STATUS_WOULD_DEADLOCK)
    expect(Date.now() - t0).toBeLessThan(1000) // did not wait for the (infinite) timeout
    expect(reg.stats().events!.droppedFull).toBe(1)
  })
})

describe.runIf(addon !== null)("whenFull: 'grow'", () => {
  test('loses nothing up to maxQueueBytes, queue_full beyond it; in order; the ring is used again once drained', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const capacity = 16
    // The ring and two overflow chunks: 16 + 2 * 1024 events.
    const maxQueueBytes = capacity * RING_CELL_BYTES + 2 * OVERFLOW_CHUNK_BYTES
    const fits = capacity + 2 * 1024
    reg.onEvent(handler, { whenFull: 'grow', capacity, maxQueueBytes })
    const id = addon!.start_pacer(h, 5000, 'post')
    spinUntil(() => addon!.pacer_state(id).done, 'the pacer to finish') // JS drains nothing meanwhile
    expect(addon!.join_pacer(id)).toMatchObject({ ok: fits, queue_full: 5000 - fits, timeout: 0 })
    expect(reg.stats().events).toMatchObject({ pending: fits, droppedFull: 5000 - fits })
    await until(() => seen.count === fits, `${fits} events`)
    expect(seen.outOfOrder).toBe(0)
    expect(reg.stats().events!.pending).toBe(0)
    // Drained: the whole allowance is back.
    const again = addon!.start_pacer(h, fits, 'post')
    spinUntil(() => addon!.pacer_state(again).done, 'the second pacer to finish')
    expect(addon!.join_pacer(again)).toMatchObject({ ok: fits, queue_full: 0 })
  })

  test('1M events from a C thread into a 1024-event ring with JS draining: none lost, in order', async () => {
    const reg = registry()
    const h = reg.register({})
    const { seen, handler } = inOrder()
    const N = 1_000_000
    reg.onEvent(handler, { whenFull: 'grow', capacity: 1024, maxQueueBytes: 256 * 2 ** 20 })
    const r = await finish(addon!.start_pacer(h, N, 'post'))
    expect(r).toMatchObject({ ok: N, queue_full: 0 })
    await until(() => seen.count === N, `${N} events`)
    expect(seen.outOfOrder).toBe(0)
  })

  test('post_many and post_bytes spill in order too', async () => {
    const reg = registry()
    const h = reg.register({})
    const options = { whenFull: 'grow', capacity: 16, maxQueueBytes: 64 * 2 ** 20 } as const
    const many = inOrder()
    reg.onEvent(many.handler, options)
    const r = await finish(addon!.start_pacer(h, 100_000, 'many', -1, 64))
    expect(r).toMatchObject({ ok: 100_000, queue_full: 0 })
    await until(() => many.seen.count === 100_000, '100,000 events')
    expect(many.seen.outOfOrder).toBe(0)
    const bytes = inOrder()
    reg.onEvent(bytes.handler, options) // the next pacer's payloads start at 0 again
    const b = await finish(addon!.start_pacer(h, 20_000, 'bytes'))
    expect(b).toMatchObject({ ok: 20_000, queue_full: 0 })
    await until(() => bytes.seen.count === 20_000, '20,000 byte events')
    expect(bytes.seen.outOfOrder).toBe(0)
  })
})
