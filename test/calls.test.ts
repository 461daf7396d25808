// registry.onCall / offCall and api->call end to end: real native caller
// threads of the test-only addon (test/producers/call_calls.cc, built against
// the public header) make blocking calls; the registry runs the handler on
// its JS thread and the reply goes back to the waiting thread. Teardown at
// process and worker exit runs in children (fixtures/calls-child.js).
import { describe, expect, test } from 'vitest'
import { AsyncLocalStorage } from 'node:async_hooks'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { Worker } from 'node:worker_threads'
import { HandleDomain, HandleRegistry, InvalidOptionError, InvalidReplyError, NativeUnavailableError, RegistryClosedError } from '../src/index'
import { closedAfterEach, until } from './fixtures/helpers'
import { producersBinding, type CallerTotals } from './fixtures/producers-binding'

const addon = producersBinding()
const FOREVER = 0xffffffff
const CHILD = path.join(__dirname, 'fixtures', 'calls-child.js')

const registry = closedAfterEach()

/** Joins a group of caller threads once they finished (this thread keeps answering meanwhile). */
async function joined(id: number): Promise<CallerTotals> {
  await until(() => addon!.callers_done(id), 'the caller threads to finish', 60_000)
  return addon!.join_callers(id)
}
const none = { mismatched: 0, threw: 0, timeout: 0, closed: 0, stale: 0, full: 0, deadlock: 0, other: 0 }

function child(mode: string) {
  const r = spawnSync(process.execPath, [CHILD, mode], { encoding: 'utf8', timeout: 60_000 })
  const lines = r.stdout.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>)
  return { lines, status: r.status, signal: r.signal, stderr: r.stderr }
}

describe('registry.onCall: arguments', () => {
  test('the handler must be a function; options as onEvent; not on a closed registry', () => {
    const reg = registry()
    expect(() => reg.onCall(42 as never)).toThrow(InvalidOptionError)
    expect(() => reg.onCall(() => 1, { nope: 1 } as never)).toThrow(/Unknown option "nope"/)
    expect(() => reg.onCall(() => 1, { capacity: 3 })).toThrow(InvalidOptionError)
    expect(() => reg.onCall(() => 1, { onError: 5 as never })).toThrow(InvalidOptionError)
    if (addon !== null) expect(reg.onCall(() => 1)).toBe(reg)
    reg.close()
    expect(() => reg.onCall(() => 1)).toThrow(RegistryClosedError)
    reg.offCall() // harmless once closed
  })

  test('needs the native domain: NativeUnavailableError on a created domain (nothing installed)', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    try {
      expect(() => reg.onCall(() => 1)).toThrow(NativeUnavailableError)
      expect(reg.stats().calls).toBeUndefined()
      reg.offCall() // nothing to remove
    } finally {
      reg.close()
    }
  })
})

describe.runIf(addon !== null)('api->call from native threads', () => {
  test('4 threads x 500 numeric calls: every caller gets its own reply; stats count them', async () => {
    const reg = registry<{ seen: number }>()
    const target = { seen: 0 }
    const h = reg.register(target)
    reg.onCall((value, kind, payload) => {
      value.seen++
      expect(kind).toBeLessThan(4)
      return (payload as number) * 2
    })
    const r = await joined(addon!.start_callers(new Float64Array([h]), 4, 500, 0))
    expect(r).toMatchObject({ ok: 2000, ...none })
    expect(target.seen).toBe(2000)
    expect(reg.stats().calls).toEqual({ answered: 2000, threw: 0, refused: 0 })
  })

  test('bytes in, bytes out: the request as a Uint8Array, a Uint8Array reply copied back', async () => {
    const reg = registry()
    const h = reg.register({})
    reg.onCall((_v, _k, payload) => {
      expect(payload).toBeInstanceOf(Uint8Array)
      return (payload as Uint8Array).slice().reverse()
    })
    const r = await joined(addon!.start_callers(new Float64Array([h]), 2, 300, 0, FOREVER, 1))
    expect(r).toMatchObject({ ok: 600, ...none })
  })

  test('a Promise reply: the caller waits until it settles', async () => {
    const reg = registry()
    const h = reg.register({})
    reg.onCall(async (_v, _k, payload) => {
      await new Promise((r) => setTimeout(r, 1))
      return (payload as number) * 2
    })
    const r = await joined(addon!.start_callers(new Float64Array([h]), 3, 20, 0))
    expect(r).toMatchObject({ ok: 60, ...none })
  })

  test('throw, reject, or a reply that is not a number or Uint8Array: THREW, and the error goes to onError', async () => {
    const reg = registry()
    const h = reg.register({})
    const errors: { err: unknown; handle: number; kind: number }[] = []
    reg.onCall((_v, kind, payload) => {
      const i = payload as number
      if (i % 4 === 0) throw new Error(`sync ${i}`)
      if (i % 4 === 1) return Promise.reject(new Error(`async ${i}`))
      if (i % 4 === 2) return 'nope' as never
      return i * 2
    }, { onError: (err, handle, kind) => errors.push({ err, handle, kind }) })
    const r = await joined(addon!.start_callers(new Float64Array([h]), 1, 40, 5))
    expect(r).toMatchObject({ ok: 10, threw: 30, mismatched: 0, closed: 0, other: 0 })
    await until(() => errors.length === 30, 'onError for each failed call')
    expect(errors.filter((e) => e.err instanceof InvalidReplyError)).toHaveLength(10)
    expect((errors.find((e) => e.err instanceof InvalidReplyError)!.err as InvalidReplyError).code).toBe('ERR_CALL_REPLY_INVALID')
    expect(errors.map((e) => (e.err as Error).message).filter((m) => /sync|async/.test(m))).toHaveLength(20)
    expect(errors.every((e) => e.handle === h && e.kind === 5)).toBe(true)
    expect(reg.stats().calls).toEqual({ answered: 10, threw: 30, refused: 0 })
  })

  test('without onError, a throw reaches process as an uncaught AggregateError (child process)', () => {
    const r = child('uncaught')
    expect(r.stderr).toBe('')
    expect(r.lines).toContainEqual(expect.objectContaining({ uncaught: 'AggregateError', errors: ['boom'] }))
    expect(r.lines).toContainEqual({ joined: expect.objectContaining({ threw: 1, ok: 0 }) })
    expect(r.status).toBe(0)
  })

  test('on the registry\'s own JS thread: would_deadlock at once', () => {
    const reg = registry()
    const h = reg.register({})
    let called = 0
    reg.onCall(() => ++called)
    expect(addon!.call(h, 0, 1).status).toBe('would_deadlock')
    expect(addon!.call(h, 0, 1, 10).status).toBe('would_deadlock')
    expect(called).toBe(0)
  })

  test('from another JS thread (a worker): the worker waits, this thread answers', async () => {
    const reg = registry<{ name: string }>()
    const h = reg.register({ name: 'main' })
    reg.onCall((value, kind, payload) => (typeof payload === 'number' ? payload + value.name.length : payload.length + 100))
    const w = new Worker(`
      const { parentPort, workerData } = require('node:worker_threads')
      const { HandleRegistry } = require(${JSON.stringify(path.join(__dirname, '..', 'dist', 'index.js'))})
      const addon = require(${JSON.stringify(path.join(__dirname, 'fixtures', 'producers.js'))}).loadProducers(new HandleRegistry().nativeApi)
      parentPort.postMessage([addon.call(workerData.h, 1, 10), addon.call(workerData.h, 2, new Uint8Array(7))])
    `, { eval: true, workerData: { h } })
    const [msg] = await new Promise<unknown[]>((resolve, reject) => {
      w.once('message', (m) => resolve([m]))
      w.once('error', reject)
    })
    expect(msg).toEqual([{ status: 'ok', reply: 14 }, { status: 'ok', reply: 107 }])
    await w.terminate()
  })

  test('statuses: invalid, stale, closed registry, no path; no call handler', async () => {
    const reg = registry()
    const h = reg.register({})
    const gone = reg.register({})
    reg.release(gone)
    const run = async (handles: number[]) => joined(addon!.start_callers(new Float64Array(handles), 1, 1, 0))
    // No onEvent, no onCall: no path at all.
    expect(await run([h])).toMatchObject({ closed: 1 })
    expect(await run([0])).toMatchObject({ other: 1 }) // invalid_handle
    expect(await run([gone])).toMatchObject({ stale: 1 })
    // onEvent only: the call is delivered, and answered registry_closed (no call handler).
    const events: number[] = []
    reg.onEvent((_v, _k, p) => events.push(p as number))
    expect(await run([h])).toMatchObject({ closed: 1, ok: 0 })
    expect(reg.stats().calls).toEqual({ answered: 0, threw: 0, refused: 1 })
    const closed = registry()
    const hc = closed.register({})
    closed.close()
    expect(await run([hc])).toMatchObject({ closed: 1 })
  })

  test('a call whose handle is released before delivery: stale_handle', async () => {
    const reg = registry()
    const h = reg.register({})
    let called = 0
    reg.onCall(() => ++called)
    const id = addon!.start_callers(new Float64Array([h]), 1, 1, 0)
    // Keep this thread busy until the call is queued, then release the handle before the batch runs.
    const deadline = Date.now() + 30_000
    while (reg.stats().events!.pending < 1 && Date.now() < deadline) { /* the call is being queued */ }
    reg.release(h)
    expect(await joined(id)).toMatchObject({ stale: 1, ok: 0 })
    expect(called).toBe(0)
    expect(reg.stats().calls).toEqual({ answered: 0, threw: 0, refused: 1 })
  })

  test('timeout: the caller leaves at its deadline; the late reply is discarded', async () => {
    const reg = registry()
    const h = reg.register({})
    let settle!: (v: number) => void
    let delivered = 0
    reg.onCall(() => {
      delivered++
      return new Promise<number>((r) => { settle = r })
    })
    const r = await joined(addon!.start_callers(new Float64Array([h]), 1, 1, 0, 30))
    expect(r).toMatchObject({ timeout: 1, ok: 0 })
    expect(delivered).toBe(1) // it was delivered; its reply comes too late
    settle(5)
    await until(() => reg.stats().calls!.answered === 1, 'the late reply')
    // The registry goes on: the next call is answered.
    reg.onCall((_v, _k, p) => (p as number) * 2)
    expect(await joined(addon!.start_callers(new Float64Array([h]), 1, 3, 0, 10_000))).toMatchObject({ ok: 3, ...none })
  })

  // Under 'grow' with a 2-cell ring the overflow is in use: a call must not overtake its thread's overflowed events.
  test.each([['the default queue', undefined], ["whenFull 'grow' with a 2-cell ring", { capacity: 2, whenFull: 'grow' } as const]])(
    'events and calls posted by one thread arrive in the order posted (%s)', async (_name, options) => {
    const reg = registry()
    const handles = [reg.register({}), reg.register({}), reg.register({})]
    const seq = new Map<number, string[]>()
    const log = (kind: number, s: string) => {
      let l = seq.get(kind)
      if (l === undefined) seq.set(kind, (l = []))
      l.push(s)
    }
    reg.onEvent((_v, kind, payload) => log(kind, `e${payload as number}`), options)
    reg.onCall((_v, kind, payload) => {
      log(kind, `c${payload as number}`)
      return (payload as number) * 2
    })
    const r = await joined(addon!.start_callers(new Float64Array(handles), 4, 300, 10, FOREVER, 2))
    expect(r).toMatchObject({ ok: 1200, ...none })
    for (let t = 0; t < 4; t++) {
      const expected = Array.from({ length: 300 }, (_, i) => [`e${i}`, `c${i}`]).flat()
      expect(seq.get(10 + t)).toEqual(expected)
    }
  })

  test('without asyncContext, a call handler runs in the async context of onCall()', async () => {
    const als = new AsyncLocalStorage<string>()
    const reg = registry()
    const h = als.run('register', () => reg.register({}))
    const stores = new Set<string | undefined>()
    als.run('onCall', () => reg.onCall((_v, _k, payload) => {
      stores.add(als.getStore())
      return (payload as number) * 2
    }))
    als.enterWith('later')
    expect(await joined(addon!.start_callers(new Float64Array([h]), 2, 50, 0, FOREVER))).toMatchObject({ ok: 100, ...none })
    expect([...stores]).toEqual(['onCall'])
  })

  test('with asyncContext, a call handler runs in the async context of its handle', async () => {
    const als = new AsyncLocalStorage<number>()
    const reg = registry<{ n: number }>({ asyncContext: true })
    const handles = [0, 1, 2, 3].map((n) => als.run(n, () => reg.register({ n })))
    const wrong: unknown[] = []
    als.run(99, () => reg.onCall((value, _k, payload) => {
      if (als.getStore() !== value.n) wrong.push(als.getStore())
      return (payload as number) * 2 // what the caller threads check
    }))
    expect(await joined(addon!.start_callers(new Float64Array(handles), 2, 200, 0, FOREVER))).toMatchObject({ ok: 400, ...none })
    expect(wrong).toEqual([])
  })

  test('calls waiting from many threads are delivered in one wake-up', async () => {
    const reg = registry()
    const h = reg.register({})
    let turn = 0
    let scheduled = false
    const turns: number[] = []
    reg.onCall((_v, _k, payload) => {
      turns.push(turn)
      if (!scheduled) {
        scheduled = true
        queueMicrotask(() => { turn++; scheduled = false }) // runs when the wake-up ends
      }
      return (payload as number) * 2
    })
    const id = addon!.start_callers(new Float64Array([h]), 4, 1, 0)
    // Keep this thread busy until all four calls are queued: they are then taken together.
    const deadline = Date.now() + 30_000
    while (reg.stats().events!.pending < 4 && Date.now() < deadline) { /* callers queue their calls */ }
    expect(await joined(id)).toMatchObject({ ok: 4, ...none })
    expect(turns).toEqual([0, 0, 0, 0])
  })
})

describe.runIf(addon !== null)('teardown wakes every waiting caller', () => {
  async function waitingCallers(reg: HandleRegistry, threads: number): Promise<number> {
    const h = reg.register({})
    const id = addon!.start_callers(new Float64Array([h]), threads, 1, 0)
    await until(() => reg.stats().events!.delivered === threads, 'every call to reach the handler')
    expect(addon!.callers_waiting(id)).toBe(threads)
    return id
  }

  test('close(): callers of unanswered calls get registry_closed; a reply after that is ignored', async () => {
    const reg = registry()
    const settles: ((v: number) => void)[] = []
    reg.onCall(() => new Promise<number>((r) => settles.push(r)))
    const id = await waitingCallers(reg, 4)
    reg.close()
    expect(await joined(id)).toMatchObject({ closed: 4, ok: 0 })
    for (const s of settles) s(1) // the registry is gone: nothing to answer, nothing thrown
    await new Promise((r) => setTimeout(r, 1))
  })

  test('offCall(): waiting callers get registry_closed; events keep flowing; later calls are refused', async () => {
    const reg = registry()
    const events: number[] = []
    reg.onEvent((_v, _k, p) => events.push((p as Uint8Array)[0]))
    reg.onCall(() => new Promise<number>(() => {}))
    const id = await waitingCallers(reg, 3)
    reg.offCall()
    expect(await joined(id)).toMatchObject({ closed: 3, ok: 0 })
    const h = reg.register({})
    expect(await joined(addon!.start_callers(new Float64Array([h]), 2, 2, 0))).toMatchObject({ closed: 4 })
    expect(addon!.post_bytes(h, 0, new Uint8Array([77]))).toBe(0)
    await until(() => events.length === 1, 'the event after offCall')
    expect(events).toEqual([77])
  })

  test('offCall() without onEvent closes the path: calls get registry_closed before queueing', async () => {
    const reg = registry()
    reg.onCall(() => new Promise<number>(() => {}))
    const id = await waitingCallers(reg, 2)
    reg.offCall()
    expect(await joined(id)).toMatchObject({ closed: 2 })
    const h = reg.register({})
    expect(await joined(addon!.start_callers(new Float64Array([h]), 1, 1, 0))).toMatchObject({ closed: 1 })
    expect(reg.stats().events!.pending).toBe(0)
  })

  test('offEvent() keeps the path open while onCall is on', async () => {
    const reg = registry()
    reg.onEvent(() => {})
    reg.onCall((_v, _k, p) => (p as number) * 2)
    reg.offEvent()
    const h = reg.register({})
    expect(await joined(addon!.start_callers(new Float64Array([h]), 2, 5, 0))).toMatchObject({ ok: 10, ...none })
  })

  test.each(['worker-exit', 'worker-terminate'])('%s with 4 callers waiting on the worker\'s registry: all get registry_closed', (mode) => {
    const r = child(mode)
    expect(r.stderr).toBe('')
    expect(r.lines).toContainEqual({ waiting: 4 })
    expect(r.lines).toContainEqual({ joined: expect.objectContaining({ closed: 4, ok: 0, other: 0 }) })
    expect(r.status).toBe(0)
  })

  test('a worker\'s JS thread waiting on the main thread\'s registry when the process exits: woken, the process ends', () => {
    const r = child('worker-calls-main')
    expect(r.signal).toBeNull()
    expect(r.stderr).toBe('')
    expect(r.lines).toContainEqual({ calling: true })
    expect(r.lines).toContainEqual({ delivered: 1 })
    expect(r.status).toBe(0)
  })

  test.each(['process-exit', 'loop-ends'])('%s with 4 callers waiting: the process exits cleanly', (mode) => {
    const r = child(mode)
    expect(r.signal).toBeNull()
    expect(r.stderr).toBe('')
    expect(r.lines).toEqual([{ waiting: 4 }])
    expect(r.status).toBe(0)
  })
})
