// registry.onEvent's delivery rules, with real native events: each test posts
// through the addon's queue from this thread (the addon's `post`, the same path
// a native producer takes) and waits for the counted delivery.
//   - offEvent(), onEvent(newHandler) and close() inside a handler: the old
//     handler is never called again, not even for the rest of its batch;
//   - a throwing handler does not lose the rest of its batch, and every error
//     reaches onError, or one AggregateError raised after the batch;
//   - weak entries are resolved to their value; released handles are dropped;
//   - stats().events stays readable after offEvent() and close();
//   - bad arguments get typed errors.
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { beforeAll, describe, expect, test } from 'vitest'
import { HandleRegistry, type Handle } from '../src/index'
import { nativeBinding, type NativeBinding } from '../src/native'
import { codeOf, errorOf } from './fixtures/helpers'
import { nativeRequired } from './fixtures/native-required'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const OK = 0
const REGISTRY_CLOSED = 4

let addon: NativeBinding

/** Resolves once cond() holds; rejects after `ms` (a failure bound, not a wait). */
async function until(cond: () => boolean, what: string, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 1))
  }
}

/** Posts kinds 0..n-1 (payload = 10 * kind) to h; they reach JS in one batch (this thread cannot deliver while it posts). */
function postBatch(h: number, n: number): void {
  for (let kind = 0; kind < n; kind++) expect(addon.post(h, kind, 10 * kind)).toBe(OK)
}

/** Every event the native side delivered to JS was handled, dropped as released, or dropped by offEvent/close. */
function accounted<T>(reg: HandleRegistry<T>): number {
  const e = reg.stats().events!
  return e.handled + e.droppedReleased + e.droppedOff
}

// No silent skip: throws (the file fails) if the addon did not load, unless
// HANDLE_REGISTRY_NO_NATIVE=1 was set deliberately.
const NATIVE = nativeRequired()

beforeAll(() => {
  if (NATIVE) addon = nativeBinding()!
})

describe.runIf(NATIVE)('offEvent(), onEvent(newHandler) and close() inside a handler', () => {
  test('offEvent() in the first call: the handler is not called for the other 9 events of its batch', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    const kinds: number[] = []
    reg.onEvent((_v, kind) => {
      kinds.push(kind)
      reg.offEvent()
    })
    postBatch(h, 10)
    await until(() => kinds.length > 0, 'the first event')
    expect(kinds).toEqual([0])
    const e = reg.stats().events!
    expect({ handled: e.handled, droppedOff: e.droppedOff, delivered: e.delivered }).toEqual({ handled: 1, droppedOff: 9, delivered: 10 })
    reg.close()
  })

  test('offEvent() closes the native path: a later post gets REGISTRY_CLOSED and is counted', () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    reg.onEvent(() => {})
    reg.offEvent()
    expect(addon.post(h, 1, 1)).toBe(REGISTRY_CLOSED)
    expect(reg.stats().events!.droppedClosed).toBe(1)
    reg.close()
  })

  test('onEvent(B) in A: A never runs again; B gets the rest of the batch, in order', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    const a: number[] = []
    const b: Array<[string, number, unknown]> = []
    reg.onEvent((_v, kind) => {
      a.push(kind)
      reg.onEvent((value, k, payload) => { b.push([value, k, payload]) })
    })
    postBatch(h, 10)
    await until(() => accounted(reg) === 10, '10 events accounted for')
    expect(a).toEqual([0])
    expect(b).toEqual(Array.from({ length: 9 }, (_, i) => ['v', i + 1, 10 * (i + 1)]))
    reg.close()
  })

  test('offEvent() then onEvent(B) in A: the rest of the old batch goes to nobody; B gets only later posts', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    const a: number[] = []
    const b: number[] = []
    reg.onEvent((_v, kind) => {
      a.push(kind)
      reg.offEvent()
      reg.onEvent((_v2, k) => { b.push(k) })
    })
    postBatch(h, 10)
    await until(() => accounted(reg) === 10, '10 events accounted for')
    expect({ a, b, droppedOff: reg.stats().events!.droppedOff }).toEqual({ a: [0], b: [], droppedOff: 9 })
    expect(addon.post(h, 42, 0)).toBe(OK)
    await until(() => b.length === 1, 'the later post')
    expect(b).toEqual([42])
    reg.close()
  })

  test('close() in the handler: no further call; stats() of the closed registry keeps the final event counters', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    const kinds: number[] = []
    reg.onEvent((_v, kind) => {
      kinds.push(kind)
      if (kind === 4) reg.close()
    })
    postBatch(h, 10)
    await until(() => reg.closed, 'close() in the handler')
    await new Promise((r) => setImmediate(r)) // one more turn: any further delivery would show
    expect(kinds).toEqual([0, 1, 2, 3, 4])
    const e = reg.stats().events
    expect(e).toMatchObject({ posted: 10, delivered: 10, handled: 5, droppedOff: 5, droppedReleased: 0, pending: 0 })
  })
})

describe.runIf(NATIVE)('a throwing handler', () => {
  test('with onError: every error reaches it in order, and the rest of the batch is delivered', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    const kinds: number[] = []
    const errors: Array<[string, number, number]> = []
    reg.onEvent((_v, kind) => {
      kinds.push(kind)
      if (kind === 2 || kind === 3 || kind === 9) throw new Error(`boom ${kind}`)
    }, { onError: (err, handle, kind) => { errors.push([(err as Error).message, handle, kind]) } })
    postBatch(h, 10)
    await until(() => accounted(reg) === 10, '10 events accounted for')
    expect(kinds).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(errors).toEqual([['boom 2', h, 2], ['boom 3', h, 3], ['boom 9', h, 9]])
    expect(reg.stats().events!.handled).toBe(10)
    reg.close()
  })

  test('without onError: the rest of the batch is delivered, then one AggregateError of all its errors is uncaught (child process)', () => {
    const r = spawnSync(process.execPath, [path.join(ROOT, 'test', 'fixtures', 'handler-errors-child.js')], {
      cwd: ROOT, encoding: 'utf8', timeout: 60_000,
    })
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out.seen).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    expect(out.handled).toBe(10)
    expect(out.uncaught).toHaveLength(1)
    expect(out.uncaught[0].name).toBe('AggregateError')
    expect(out.uncaught[0].errors).toEqual(['handler failed on kind 3', 'handler failed on kind 7'])
  }, 90_000)
})

describe.runIf(NATIVE)('what deliver() resolves', () => {
  test('a weak entry is delivered as its value (not a WeakRef); a released handle is dropped and counted', async () => {
    const reg = new HandleRegistry<object>()
    const obj = { weak: true }
    const weak = reg.registerWeak(obj)
    const strong = reg.register({ strong: true })
    const gone = reg.register({ gone: true })
    const got: Array<[unknown, number]> = []
    reg.onEvent((value, kind, _p, handle) => { got.push([value, kind]); expect(reg.has(handle)).toBe(true) })
    expect(addon.post(weak, 1, 0)).toBe(OK)
    expect(addon.post(gone, 2, 0)).toBe(OK)
    expect(addon.post(strong, 3, 0)).toBe(OK)
    reg.release(gone) // released between post and delivery
    await until(() => accounted(reg) === 3, '3 events accounted for')
    expect(got).toEqual([[obj, 1], [{ strong: true }, 3]])
    expect(got[0]![0]).toBe(obj)
    expect(reg.stats().events).toMatchObject({ handled: 2, droppedReleased: 1 })
    reg.close()
  })

  // A release inside a handler must drop the batch's later events for that
  // handle: deliver() looks each value up just before its own call (a
  // lookup ahead of the previous call, measured and not kept, would break this).
  test('a handler that releases the next event\'s handle: that event is dropped and counted, not delivered', async () => {
    const reg = new HandleRegistry<object>()
    const a = reg.register({ a: true })
    const b = reg.register({ b: true })
    const got: number[] = []
    reg.onEvent((_v, kind) => {
      got.push(kind)
      if (kind === 1) reg.release(b)
    })
    expect(addon.post(a, 1, 0)).toBe(OK)
    expect(addon.post(b, 2, 0)).toBe(OK)
    expect(addon.post(b, 3, 0)).toBe(OK)
    expect(addon.post(a, 4, 0)).toBe(OK)
    await until(() => accounted(reg) === 4, '4 events accounted for')
    expect(got).toEqual([1, 4])
    expect(reg.stats().events).toMatchObject({ delivered: 4, handled: 2, droppedReleased: 2, droppedOff: 0 })
    reg.close()
  })

  test('release and register again in a handler (the slot reused): the old handle\'s next event never yields the new value', async () => {
    const reg = new HandleRegistry<object>()
    const a = reg.register({ a: true })
    const b = reg.register({ b: true })
    const got: Array<[unknown, number]> = []
    let fresh: Handle<object> | undefined
    reg.onEvent((value, kind) => {
      got.push([value, kind])
      if (kind === 1) {
        reg.release(b)
        fresh = reg.register({ fresh: true }) // takes b's slot, next generation
      }
    })
    expect(addon.post(a, 1, 0)).toBe(OK)
    expect(addon.post(b, 2, 0)).toBe(OK)
    await until(() => accounted(reg) === 2, '2 events accounted for')
    expect(fresh).toBeDefined()
    expect(fresh).not.toBe(b)
    expect(got).toEqual([[{ a: true }, 1]])
    expect(reg.stats().events).toMatchObject({ handled: 1, droppedReleased: 1 })
    reg.close()
  })

  test('a handler that releases the next handle and then throws: the next event is still dropped (onError gets the error)', async () => {
    const reg = new HandleRegistry<object>()
    const a = reg.register({ a: true })
    const b = reg.register({ b: true })
    const got: number[] = []
    const errors: unknown[] = []
    reg.onEvent((_v, kind) => {
      got.push(kind)
      if (kind === 1) {
        reg.release(b)
        throw new Error('after release')
      }
    }, { onError: (err) => errors.push((err as Error).message) })
    expect(addon.post(a, 1, 0)).toBe(OK)
    expect(addon.post(b, 2, 0)).toBe(OK)
    expect(addon.post(a, 3, 0)).toBe(OK)
    await until(() => accounted(reg) === 3, '3 events accounted for')
    expect(got).toEqual([1, 3])
    expect(errors).toEqual(['after release'])
    expect(reg.stats().events).toMatchObject({ handled: 2, droppedReleased: 1 })
    reg.close()
  })

  test('stats().events after offEvent() (registry open) and after close(): final counters, readable', async () => {
    const reg = new HandleRegistry<string>()
    const h = reg.register('v')
    let calls = 0
    reg.onEvent(() => { calls++ })
    postBatch(h, 5)
    await until(() => calls === 5, '5 handler calls')
    reg.offEvent()
    expect(reg.stats().events).toMatchObject({ posted: 5, delivered: 5, handled: 5 })
    reg.close()
    expect(addon.post(h, 0, 0)).toBe(REGISTRY_CLOSED)
    expect(reg.stats().events).toMatchObject({ posted: 5, delivered: 5, handled: 5, droppedOff: 0 })
  })
})

describe.runIf(NATIVE)('onEvent argument errors', () => {
  const reg = new HandleRegistry<string>()
  const handler = (): void => {}

  test.each([
    ['onEvent(null)', () => reg.onEvent(null as never)],
    ['onEvent(5)', () => reg.onEvent(5 as never)],
    ['onEvent(h, null)', () => reg.onEvent(handler, null as never)],
    ['onEvent(h, 5)', () => reg.onEvent(handler, 5 as never)],
    ['onEvent(h, "x")', () => reg.onEvent(handler, 'x' as never)],
    ['onEvent(h, [])', () => reg.onEvent(handler, [] as never)],
    ['onEvent(h, { capacity: "16" })', () => reg.onEvent(handler, { capacity: '16' as never })],
    ['onEvent(h, { batch: 0 })', () => reg.onEvent(handler, { batch: 0 })],
    ['onEvent(h, { onError: 1 })', () => reg.onEvent(handler, { onError: 1 as never })],
    ['onEvent(h, { shard: 4 })', () => reg.onEvent(handler, { shard: 4 } as never)],
  ])('%s throws ERR_INVALID_OPTION and installs nothing', (_name, call) => {
    expect(codeOf(call)).toBe('ERR_INVALID_OPTION')
    expect(reg.stats().events).toBeUndefined()
  })

  test('messages quote the value and name the known options', () => {
    expect(errorOf(() => reg.onEvent(handler, { capacity: '16' as never })).message)
      .toBe('handle-registry: Expected the "capacity" option to be a power of two from 2 to 16777216, got "16" (a string)')
    expect(errorOf(() => reg.onEvent(handler, { shard: 4 } as never)).message)
      .toBe('handle-registry: Unknown option "shard" for registry.onEvent(handler, options); known options: capacity, batch, onError, whenFull, blockTimeoutMs, maxQueueBytes')
    expect(errorOf(() => reg.onEvent(handler, null as never)).message)
      .toBe('handle-registry: Expected the options of registry.onEvent(handler, options) to be an object, got null')
  })
})
