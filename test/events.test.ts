// registry.onEvent end to end: real native producer threads (the test-only
// addon of test/producers, attached through registry.nativeApi) post to registered handles; the registry resolves each
// handle and calls the handler in batches.
import { describe, expect, test } from 'vitest'
import { once } from 'node:events'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { HandleDomain, HandleRegistry } from '../src/index'
import { until } from './fixtures/helpers'
import { producersBinding, type Totals } from './fixtures/producers-binding'

// Throws (the file fails) if the addon did not load, unless HANDLE_REGISTRY_NO_NATIVE=1.
const binding = producersBinding()

async function finish(id: number): Promise<Totals> {
  // Producers that retry on a full queue need this thread to drain: never block it.
  await until(() => binding!.producers_done(id), 'the producer threads to finish', 120_000)
  return binding!.join_producers(id)
}

/** Waits until `accepted` events (posts that returned OK) reached JS: handled or dropped as released. */
async function drained<T>(reg: HandleRegistry<T>, accepted: number): Promise<void> {
  await until(() => {
    const ev = reg.stats().events!
    return ev.handled + ev.droppedReleased >= accepted
  }, `${accepted} accepted events to reach JS`)
}

describe.runIf(binding !== null)('events from native threads (registry.onEvent)', () => {
  test('2 producer threads: values resolved, per-producer order kept, every accepted event handled', async () => {
    const reg = new HandleRegistry<{ id: number }>()
    const values = Array.from({ length: 64 }, (_, id) => ({ id }))
    const handles = Float64Array.from(values, (v) => reg.register(v))
    const lastSeq = [-1, -1]
    let outOfOrder = 0
    let wrongValue = 0
    let handled = 0
    reg.onEvent((value, kind, payload, h) => {
      handled++
      if (value !== reg.get(h)) wrongValue++
      if (typeof payload !== 'number' || payload <= lastSeq[kind]) outOfOrder++
      lastSeq[kind] = payload as number
    })
    const t = await finish(binding!.start_producers(handles, 2, 50_000, 0, true))
    await drained(reg, t.ok)
    expect(t.posted).toBe(100_000) // retries of a full queue are not extra posts
    expect(t.ok).toBe(100_000)
    expect(handled).toBe(100_000)
    expect(outOfOrder).toBe(0)
    expect(wrongValue).toBe(0)
    expect(lastSeq).toEqual([49_999, 49_999])
    expect(reg.stats().events).toMatchObject({ handled: 100_000, droppedReleased: 0, delivered: 100_000 })
    reg.close()
  })

  test('handles released while events are in flight: dropped and counted, never delivered', async () => {
    const reg = new HandleRegistry<number>()
    const handles = Float64Array.from({ length: 1000 }, (_, i) => reg.register(i))
    const released = new Set<number>()
    let deliveredReleased = 0
    let handled = 0
    reg.onEvent((_v, _k, _p, h) => {
      handled++
      if (released.has(h)) deliveredReleased++
    })
    const id = binding!.start_producers(handles, 2, 100_000, 0, true)
    for (let i = 0; i < handles.length; i += 2) {
      reg.release(handles[i] as never)
      released.add(handles[i])
    }
    const t = await finish(id)
    await drained(reg, t.ok)
    const ev = reg.stats().events!
    expect(deliveredReleased).toBe(0)
    expect(t.ok + t.stale).toBe(200_000)
    expect(ev.droppedStale).toBe(t.stale) // refused at the source by is_live
    expect(handled + ev.droppedReleased).toBe(t.ok) // accepted: handled, or released before delivery
    expect(ev.handled).toBe(handled)
    reg.close()
  })

  test('a full queue refuses events with QUEUE_FULL and counts them; memory stays bounded', async () => {
    const reg = new HandleRegistry<number>()
    const handles = Float64Array.from({ length: 8 }, (_, i) => reg.register(i))
    let handled = 0
    reg.onEvent(() => { handled++ }, { capacity: 64, batch: 16 })
    const t = await finish(binding!.start_producers(handles, 2, 100_000, 0, false))
    await drained(reg, t.ok)
    const ev = reg.stats().events!
    expect(t.ok + t.full).toBe(200_000)
    expect(t.full).toBeGreaterThan(0)
    expect(ev.droppedFull).toBe(t.full)
    expect(handled).toBe(t.ok)
    reg.close()
  })

  test('close() while 2 threads post at full speed: producers get REGISTRY_CLOSED, accounting adds up', async () => {
    for (let round = 0; round < 10; round++) {
      const reg = new HandleRegistry<number>()
      const handles = Float64Array.from({ length: 16 }, (_, i) => reg.register(i))
      let handled = 0
      reg.onEvent(() => { handled++ }, { capacity: 1024 })
      const id = binding!.start_producers(handles, 2, 2_000_000, 0, false)
      // Close once events are flowing: the producers are mid-flight.
      while (handled === 0) await new Promise((r) => setImmediate(r))
      const before = reg.stats().events!
      reg.close()
      const t = await finish(id)
      expect(t.ok + t.full + t.closed + t.stale).toBe(4_000_000)
      expect(t.invalid).toBe(0)
      expect(t.closed).toBeGreaterThan(0)
      // Accepted before close: handled, or dropped when the queue was torn down.
      expect(handled).toBeLessThanOrEqual(t.ok)
      expect(before.handled).toBeLessThanOrEqual(handled)
    }
  })

  test('close() of a registry without onEvent while 2 threads post to it: only REGISTRY_CLOSED, no freed memory read', async () => {
    // The producers read the closing registry's slot states (liveness) until
    // close() retires its blocks. A registry with no event path has no second
    // wait in close(), so an owner admitted while closing would read its freed
    // state words: the sanitizer suite (ASan, TSan) reports that. A marker
    // registry with events tells when the producers are under way.
    const marker = new HandleRegistry<string>()
    const m = marker.register('marker')
    let markers = 0
    marker.onEvent(() => { markers++ })
    for (let round = 0; round < 40; round++) {
      const reg = new HandleRegistry<number>()
      const handles = Float64Array.from({ length: 64 }, (_, i) => (i === 63 ? m : reg.register(i)))
      const seen = markers
      const id = binding!.start_producers(handles, 2, 400_000, 0, false)
      await until(() => markers > seen, 'the producers to be under way')
      reg.close()
      const t = await finish(id)
      expect(t.invalid + t.stale + t.other).toBe(0)
      expect(t.ok + t.full).toBe(2 * Math.ceil(400_000 / 64)) // the marker's events only
      expect(t.closed).toBe(t.posted - t.ok - t.full)
    }
    await until(() => marker.stats().events!.handled === marker.stats().events!.delivered && marker.stats().events!.pending === 0,
      'the marker events')
    marker.close()
  })

  test('byte events: the handler gets a Uint8Array view valid during the call, numbers stay numbers', async () => {
    const reg = new HandleRegistry<string>()
    const a = reg.register('a')
    const gone = reg.register('gone')
    const seen: [string, number, number | Uint8Array][] = []
    const views: Uint8Array[] = []
    reg.onEvent((v, kind, payload) => {
      if (payload instanceof Uint8Array) {
        views.push(payload)
        seen.push([v, kind, payload.slice()]) // a copy outlives the call
      } else {
        seen.push([v, kind, payload])
      }
    })
    const bin = binding!
    expect(bin.post_bytes(a, 1, Uint8Array.of(1, 2, 3))).toBe(0)
    expect(bin.post_bytes(gone, 1, Uint8Array.of(9))).toBe(0)
    reg.release(gone as never) // released before delivery: dropped, its bytes freed
    expect(bin.post_bytes(a, 2, new Uint8Array(65537))).toBe(8) // payload_too_large
    await new Promise((r) => setImmediate(r))
    expect(seen).toEqual([['a', 1, Uint8Array.of(1, 2, 3)]])
    // the next batch reuses the arena: a view kept from an earlier call now shows other bytes
    expect(bin.post_bytes(a, 3, Uint8Array.of(7, 7, 7))).toBe(0)
    await new Promise((r) => setImmediate(r))
    expect(seen[1]).toEqual(['a', 3, Uint8Array.of(7, 7, 7)])
    expect(views[0]).toEqual(Uint8Array.of(7, 7, 7))
    expect(seen[0]![2]).toEqual(Uint8Array.of(1, 2, 3))
    const t = await finish(bin.start_producers(Float64Array.of(a), 1, 3000, 0, true, 1, 16))
    expect(t.ok).toBe(3000)
    await drained(reg, 3 + 3000) // 3 earlier events (2 handled, 1 released), then these 3000
    const kinds = seen.slice(2)
    expect(kinds.filter(([, , p]) => typeof p === 'number').length).toBe(1000)
    expect(kinds.filter(([, , p]) => p instanceof Uint8Array && p.length === 16).length).toBe(2000)
    expect(reg.stats().events).toMatchObject({ droppedTooLarge: 1, droppedReleased: 1, handled: 3002, delivered: 3003 })
    reg.close()
  })

  test('a lone event reaches the handler within one event-loop turn', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('lone')
    const seen: string[] = []
    reg.onEvent((v) => { seen.push(v) })
    const t = await finish(binding!.start_producers(Float64Array.of(h), 1, 1, 7, false))
    expect(t.ok).toBe(1)
    await new Promise((r) => setImmediate(r))
    await new Promise((r) => setImmediate(r))
    expect(seen).toEqual(['lone'])
    reg.close()
  })

  test('a lone event after a flood is not held back by the batch-fill wait (it ends when events stop arriving)', async () => {
    const reg = new HandleRegistry<string>()
    const flood = reg.register('flood')
    const lone = reg.register('lone')
    let floods = 0
    let lones = 0
    reg.onEvent((v) => { if (v === 'flood') floods++; else lones++ })
    const t = await finish(binding!.start_producers(Float64Array.of(flood), 1, 100_000, 0, true))
    expect(t.ok).toBe(100_000)
    await drained(reg, 100_000)
    expect(floods).toBe(100_000)
    const one = await finish(binding!.start_producers(Float64Array.of(lone), 1, 1, 7, false))
    expect(one.ok).toBe(1)
    // delivered by the wake-up its post triggered: a generous bound for a loaded machine, not a timing claim
    await until(() => lones === 1, 'the lone event to reach the handler', 10_000)
    expect(reg.stats().events).toMatchObject({ handled: 100_001, delivered: 100_001 })
    reg.close()
  })

  test('a worker that opened and closed event paths (spare uv handles kept) ends cleanly, then its owners are free', async () => {
    const dist = path.join(__dirname, '..', 'dist', 'index.js')
    for (const exit of ['natural', 'process.exit']) {
      const w = new Worker(`
        const { parentPort } = require('node:worker_threads')
        const { HandleRegistry } = require(${JSON.stringify(dist)})
        for (let i = 0; i < 100; i++) { const r = new HandleRegistry(); r.onEvent(() => {}); r.close() }
        const open = new HandleRegistry()
        const h = open.register('x')
        open.onEvent(() => {})
        parentPort.postMessage(h)
        ${exit === 'natural' ? '' : 'process.exit(0)'}
      `, { eval: true })
      const exited = once(w, 'exit')
      const [h] = await once(w, 'message') as [number]
      expect(await exited).toEqual([0])
      expect(binding!.post_bytes(h, 0, Uint8Array.of(1))).toBe(4) // registry_closed: the worker's registry closed at exit
    }
  })

  test('nativeApi is an opaque object, no address; options and closed registries are checked', () => {
    const reg = new HandleRegistry()
    expect(typeof reg.nativeApi).toBe('object')
    expect(reg.nativeApi).toBe(new HandleRegistry().nativeApi) // one per thread, static table
    expect(() => reg.onEvent(42 as never)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => reg.onEvent(() => {}, { capacity: 100 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    expect(() => reg.onEvent(() => {}, { batch: 0 })).toThrow(expect.objectContaining({ code: 'ERR_INVALID_OPTION' }))
    reg.close()
    expect(() => reg.nativeApi).toThrow(expect.objectContaining({ code: 'ERR_REGISTRY_CLOSED' }))
    expect(() => reg.onEvent(() => {})).toThrow(expect.objectContaining({ code: 'ERR_REGISTRY_CLOSED' }))
  })

  test('a registry on a pure-TypeScript domain has no native events: ERR_NATIVE_UNAVAILABLE', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    expect(() => reg.onEvent(() => {})).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_UNAVAILABLE' }))
    expect(() => reg.nativeApi).toThrow(expect.objectContaining({ code: 'ERR_NATIVE_UNAVAILABLE' }))
    reg.close()
  })
})
