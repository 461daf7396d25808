// new HandleRegistry({ asyncContext: true }) (issue 9, part 5): register()
// captures the AsyncLocalStorage context, and the event handler runs inside the
// context of each event's handle, for events posted from native threads (the
// test addon of test/producers).
import { describe, expect, test } from 'vitest'
import { AsyncLocalStorage } from 'node:async_hooks'
import { HandleRegistry } from '../src/index'
import { closedAfterEach, codeOf, until } from './fixtures/helpers'
import { producersBinding } from './fixtures/producers-binding'

const addon = producersBinding()

const registry = closedAfterEach()

/** Runs native producer threads over `handles` and waits until `reg` handled every event. */
async function flood(reg: { stats(): { events?: { handled: number } } }, handles: number[], threads: number, perThread: number): Promise<void> {
  const id = addon!.start_producers(Float64Array.from(handles), threads, perThread, 0, true)
  await until(() => addon!.producers_done(id), 'the producer threads to finish', 120_000)
  const r = addon!.join_producers(id)
  expect(r.ok).toBe(threads * perThread)
  await until(() => reg.stats().events!.handled === threads * perThread, 'every event to be handled')
}

describe('the asyncContext option', () => {
  test.each([['yes'], [1], [null], [{}]])('asyncContext: %o is rejected with ERR_INVALID_OPTION', (value) => {
    expect(codeOf(() => new HandleRegistry({ asyncContext: value as never }))).toBe('ERR_INVALID_OPTION')
  })

  test('off by default: the prototype is untouched, no registry gets own methods', () => {
    const p = HandleRegistry.prototype
    const { register, registerWeak, release } = p
    const plain = registry()
    const off = registry({ asyncContext: false })
    const on = registry({ asyncContext: true })
    expect(Object.getOwnPropertyNames(plain)).toEqual([])
    expect(Object.getOwnPropertyNames(off)).toEqual([])
    expect(Object.getOwnPropertyNames(on).sort()).toEqual(['register', 'registerWeak', 'release'])
    expect([p.register, p.registerWeak, p.release]).toEqual([register, registerWeak, release])
    expect(plain.register).toBe(register)
    expect(on.register).not.toBe(register)
  })

  test('with it, the registry works as before: register, registerWeak, scope, get, release', () => {
    const reg = registry<{ n: number }>({ asyncContext: true })
    const h = reg.register({ n: 1 })
    const w = reg.registerWeak({ n: 2 })
    expect(reg.get(h).n).toBe(1)
    expect(reg.get(w).n).toBe(2)
    expect(reg.release(h).n).toBe(1)
    expect(codeOf(() => reg.release(h))).toBe('ERR_HANDLE_STALE')
    {
      const entry = reg.scope({ n: 3 })
      expect(reg.get(entry.handle).n).toBe(3)
      entry[Symbol.dispose]()
      expect(reg.has(entry.handle)).toBe(false)
    }
    expect(reg.size).toBe(1)
  })
})

describe.runIf(addon !== null)('event handlers run in the async context of their handle', () => {
  test('8 handles registered under 8 stores, events from 2 native threads: each call sees its own store', async () => {
    const als = new AsyncLocalStorage<{ request: number }>()
    const reg = registry<{ request: number }>({ asyncContext: true })
    const handles: number[] = []
    for (let i = 0; i < 8; i++) handles.push(als.run({ request: i }, () => reg.register({ request: i })))
    const wrong: unknown[] = []
    const perRequest = new Array<number>(8).fill(0)
    reg.onEvent((value) => {
      const store = als.getStore()
      if (store?.request !== value.request) wrong.push(store)
      else perRequest[value.request]++
    })
    await flood(reg, handles, 2, 8000)
    expect(wrong).toEqual([])
    // start_producers sends event i of each thread to handles[i % 8].
    expect(perRequest).toEqual(new Array(8).fill(2 * 8000 / 8))
  })

  test('a weak handle, and a store entered after register() does not leak into the handler', async () => {
    const als = new AsyncLocalStorage<string>()
    const reg = registry<object>({ asyncContext: true })
    const target = { weak: true }
    const w = als.run('weak', () => reg.registerWeak(target))
    const s = als.run('strong', () => reg.register({}))
    const seen = new Map<number, Set<string | undefined>>([[w, new Set()], [s, new Set()]])
    als.run('onEvent', () => reg.onEvent((_v, _k, _p, h) => seen.get(h)!.add(als.getStore())))
    als.enterWith('later') // the current store now: not what the handlers see
    await flood(reg, [w, s], 1, 1000)
    expect([...seen.get(w)!]).toEqual(['weak'])
    expect([...seen.get(s)!]).toEqual(['strong'])
    expect(target.weak).toBe(true)
  })

  test('without the option the handler sees the context of onEvent(), not the handle\'s', async () => {
    const als = new AsyncLocalStorage<string>()
    const reg = registry<object>()
    const h = als.run('register', () => reg.register({}))
    const stores = new Set<string | undefined>()
    als.run('onEvent', () => reg.onEvent(() => stores.add(als.getStore())))
    await flood(reg, [h], 1, 1000)
    expect([...stores]).toEqual(['onEvent'])
  })

  test('errors thrown in the context still reach onError, with the handle and kind', async () => {
    const als = new AsyncLocalStorage<string>()
    const reg = registry<object>({ asyncContext: true })
    const h = als.run('ctx', () => reg.register({}))
    const errors: Array<[string | undefined, number]> = []
    reg.onEvent(() => {
      throw new Error(String(als.getStore()))
    }, { onError: (err, handle) => errors.push([(err as Error).message, handle]) })
    await flood(reg, [h], 1, 100)
    expect(errors).toHaveLength(100)
    expect(errors.every(([m, handle]) => m === 'ctx' && handle === h)).toBe(true)
  })

  test('a released handle\'s context goes with it; close() drops them all', async () => {
    const als = new AsyncLocalStorage<string>()
    const reg = registry<object>({ asyncContext: true })
    const a = als.run('a', () => reg.register({}))
    const b = als.run('b', () => reg.register({}))
    const contexts = (reg as unknown as { handleContexts: { size: number } }).handleContexts
    expect(contexts.size).toBe(2)
    reg.release(a)
    expect(contexts.size).toBe(1)
    const stores = new Set<string | undefined>()
    reg.onEvent(() => stores.add(als.getStore()))
    await flood(reg, [b], 1, 100)
    expect([...stores]).toEqual(['b'])
    reg.close()
    expect(contexts.size).toBe(0)
  })
})
