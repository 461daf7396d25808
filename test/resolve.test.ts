// api->resolve / hr::resolve (native/src/resolve.cc): native code turning a
// handle back into its JS value on the registry's JS thread, with no JS call.
// Driven through the test addon of test/producers (resolve_calls.cc), built
// against the public header like any user addon.
import { describe, test, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import * as os from 'node:os'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import { closedAfterEach } from './fixtures/helpers'
import { producersBinding, type Resolvers } from './fixtures/producers-binding'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURES = path.join(ROOT, 'test', 'fixtures')


let addon: Resolvers
const registry = closedAfterEach()

beforeAll(() => {
  addon = producersBinding()!
})

describe('hr::resolve on the JS thread that owns the handle', () => {
  test('a strong object: the same object and this thread\'s env, again from the cache', () => {
    const reg = registry()
    const value = { name: 'strong' }
    const h = reg.register(value)
    for (let i = 0; i < 3; i++) {
      const r = addon.resolve(h)
      expect(r).toEqual({ status: 'ok', value, sameEnv: true })
      expect(r.value).toBe(value)
    }
  })

  test('primitives and functions; a C-style callback calls the resolved function', () => {
    const reg = registry()
    const n = reg.register(42)
    const s = reg.register('text')
    const u = reg.register(undefined)
    const f = reg.register((x: number) => x * 2)
    expect(addon.resolve(n)).toEqual({ status: 'ok', value: 42, sameEnv: true })
    expect(addon.resolve(s).value).toBe('text')
    expect(addon.resolve(u)).toEqual({ status: 'ok', value: undefined, sameEnv: true })
    expect(addon.resolve_call(f, 21)).toBe(42)
    expect(addon.resolve_call(f, 50)).toBe(100)
  })

  test('every handle still resolves after growth replaced the values array', () => {
    const reg = registry()
    const values = Array.from({ length: 5000 }, (_, i) => ({ i }))
    const early = reg.register(values[0])
    expect(addon.resolve(early).value).toBe(values[0]) // cached before growth
    const hs = values.slice(1).map((v) => reg.register(v))
    expect(addon.resolve(early).value).toBe(values[0])
    for (let i = 0; i < hs.length; i += 97) expect(addon.resolve(hs[i]).value).toBe(values[i + 1])
    expect(addon.resolve(hs[hs.length - 1]).value).toBe(values[values.length - 1])
  })

  test('across a value chunk boundary (2^16 cells): the last slot of chunk 0, the first of chunk 1, and beyond', () => {
    // One shard: registration i takes local slot i, so i = 65535 and 65536
    // sit on either side of the boundary between chunks 0 and 1 (the chunk
    // size is L.VALUE_CHUNK_BITS in src/layout.ts and kValueChunkBits in
    // native/src/resolve.cc: this test fails if they disagree).
    const reg = registry({ shards: 1 })
    const n = 3 * 65536 + 5
    const values = Array.from({ length: n }, (_, i) => ({ i }))
    const hs = values.map((v) => reg.register(v))
    for (const i of [0, 65535, 65536, 65537, 131071, 131072, n - 1]) {
      expect(addon.resolve(hs[i])).toEqual({ status: 'ok', value: values[i], sameEnv: true })
    }
    for (let i = 0; i < n; i += 4099) expect(addon.resolve(hs[i]).value).toBe(values[i])
    // Primitives are read from the chunk on every resolve (never cached).
    reg.release(hs[65536])
    const p = reg.register(7) // reuses slot 65536 (LIFO free list)
    expect(p % 2 ** 28).toBe(hs[65536] % 2 ** 28)
    expect(addon.resolve(p)).toEqual({ status: 'ok', value: 7, sameEnv: true })
    expect(addon.resolve(hs[65536]).status).toBe('stale_handle')
  })

  test('stale: a released handle, and its slot reused by another value', () => {
    const reg = registry()
    const a = { a: 1 }
    const h = reg.register(a)
    expect(addon.resolve(h).value).toBe(a) // cached
    reg.release(h)
    expect(addon.resolve(h)).toEqual({ status: 'stale_handle', sameEnv: false })
    const b = { b: 2 }
    const h2 = reg.register(b) // reuses the slot: the cache entry must not answer for it
    expect(h2 % 2 ** 28).toBe(h % 2 ** 28)
    expect(addon.resolve(h2).value).toBe(b)
    expect(addon.resolve(h).status).toBe('stale_handle')
  })

  test('invalid: 0, never issued, and a handle of another registry gives that registry\'s value', () => {
    const reg = registry()
    const other = registry()
    const h = reg.register({ mine: true })
    const theirs = { theirs: true }
    const o = other.register(theirs)
    expect(addon.resolve(0).status).toBe('invalid_handle')
    expect(addon.resolve(h + 1).status).toBe('invalid_handle') // same block, slot never used
    expect(addon.resolve(2 ** 52 + h).status).toBe('invalid_handle') // a generation not reached
    expect(addon.resolve(o).value).toBe(theirs) // the handle names its registry
    expect(addon.resolve(h).value).toEqual({ mine: true })
  })

  test('closed registry: registry_closed, from this thread and from a native thread', () => {
    const reg = registry()
    const h = reg.register({})
    expect(addon.resolve(h).status).toBe('ok')
    reg.close()
    expect(addon.resolve(h)).toEqual({ status: 'registry_closed', sameEnv: false })
    expect(addon.resolve_on_thread(h)).toBe('registry_closed')
  })

  test('weak handle whose object is alive: the object', () => {
    const reg = registry()
    const value = { weak: true }
    const h = reg.registerWeak(value)
    expect(addon.resolve(h).value).toBe(value)
    reg.release(h)
    expect(addon.resolve(h).status).toBe('stale_handle')
  })

  test('weak handle whose object was collected (real GC in a child): collected, before and after the finalizer', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(FIXTURES, 'resolve-weak-child.js')],
      { encoding: 'utf8', timeout: 60_000 })
    expect(r.stderr).toBe('')
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out.aliveBefore).toEqual({ status: 'ok', payloadLength: 10000 })
    expect(out.probeCollected).toBe(true)
    // Collected while the slot still said "live": V8 cleared the napi_ref.
    expect(out.collectedEarly).toBe('collected')
    // is_live: 0 at once on the owner's JS thread; 1 ("not finalized") elsewhere until the finalizer.
    expect(out.liveEarly).toEqual({ here: 0, otherThread: 1, keptHere: 1, keptOtherThread: 1 })
    expect(out.liveAfterFinalizer).toEqual({ here: 0, otherThread: 0 })
    expect(out.finalized).toBe(1)
    expect(out.afterFinalizer).toBe('collected')
    expect(out.getCode).toBe('ERR_HANDLE_COLLECTED')
    expect(out.kept).toBe(true)
  })

  test('a closed registry\'s handle on a block a later registry reuses: registry_closed, never its value or holds (child)', () => {
    const r = spawnSync(process.execPath, [path.join(FIXTURES, 'resolve-reuse-child.js')],
      { encoding: 'utf8', timeout: 120_000 })
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(out).toEqual({
      oldBefore: 'ok', oldHoldBefore: 'ok',
      // The same block, its slots starting above every generation the first registry issued.
      sameBlock: true, oldGeneration: 0, newGeneration: 1,
      resolveOld: 'registry_closed', resolveNew: 'ok', resolveNewIsValue: true,
      holdOld: 'registry_closed', holdNew: 'ok',
      unholdOld: 'registry_closed', unholdNew: 'ok', unholdNewAgain: 'invalid_handle',
      getOld: 'ERR_HANDLE_FOREIGN',
    })
  })
})

describe('hr::resolve off the owner\'s thread: wrong_thread, nothing touched', () => {
  test('from a native thread', () => {
    const reg = registry()
    const h = reg.register({ x: 1 })
    expect(addon.resolve_on_thread(h)).toBe('wrong_thread')
    const w = reg.registerWeak(reg) // weak entries too
    expect(addon.resolve_on_thread(w)).toBe('wrong_thread')
    expect(addon.resolve(h).status).toBe('ok') // and still fine here
  })

  test('a worker\'s handle on this thread; registry_closed once the worker ended', async () => {
    const worker = new Worker(path.join(FIXTURES, 'resolve-worker.js'))
    try {
      const [msg] = await once(worker, 'message') as [{ handle: number; own: Record<string, unknown> }]
      expect(msg.own).toEqual({ status: 'ok', same: true, sameEnv: true })
      expect(addon.resolve(msg.handle)).toEqual({ status: 'wrong_thread', sameEnv: false })
      expect(addon.resolve_on_thread(msg.handle)).toBe('wrong_thread')
      const exited = once(worker, 'exit')
      worker.postMessage('exit')
      await exited
      expect(addon.resolve(msg.handle).status).toBe('registry_closed')
    } finally {
      await worker.terminate()
    }
  })
})

describe('docs/native.md "Synchronous callbacks"', () => {
  test('its addon example compiles against the public header (g++ -Wall -Wextra -Werror)', () => {
    const doc = readFileSync(path.join(ROOT, 'docs', 'native.md'), 'utf8')
    const at = doc.indexOf('<!-- compiled by test/resolve.test.ts')
    expect(at).toBeGreaterThan(0)
    const code = /```cpp\n([\s\S]*?)```/.exec(doc.slice(at))![1]
    const req = createRequire(import.meta.url)
    const nodeInclude = [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node']
      .find((d) => existsSync(path.join(d, 'node_api.h')))
    expect(nodeInclude, 'node_api.h of this Node').toBeDefined()
    const dir = mkdtempSync(path.join(os.tmpdir(), 'hr-doc-'))
    try {
      writeFileSync(path.join(dir, 'sort.cc'), code)
      const r = spawnSync('g++', ['-std=c++17', '-fsyntax-only', '-Wall', '-Wextra', '-Werror',
        '-DNAPI_VERSION=8', '-DNAPI_DISABLE_CPP_EXCEPTIONS', `-I${nodeInclude}`,
        `-I${req('node-addon-api').include_dir.replace(/"/g, '')}`, `-I${path.join(ROOT, 'native', 'include')}`,
        path.join(dir, 'sort.cc')], { encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})
