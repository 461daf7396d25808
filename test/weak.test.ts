// registerWeak: weak handles do not keep their value alive. The GC proof runs
// in a child `node --expose-gc` process against the built package (dist/).
import { describe, test, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HandleDomain, HandleRegistry, InvalidOptionError, HandleRegistryError } from '../src/index'
import { BLOCK_SIZE, BLOCKS_BASE, OFFSET_BITS, SLOT_SPAN } from '../src/layout'
import { codeOf, describeValue, errorOf } from './fixtures/helpers'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

describe('registerWeak with a real GC (child process, --expose-gc)', () => {
  test('a dropped weak value is collected: get throws ERR_HANDLE_COLLECTED, tryGet undefined, has false; strong values survive', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(ROOT, 'test', 'fixtures', 'weak-child.js')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toMatchObject({ status: 0, signal: null })
    const lines = r.stdout.trim().split('\n')
    const out = JSON.parse(lines[lines.length - 1]!)
    expect(out.error).toBeUndefined()

    expect(out.aliveBeforeGc).toBe(true)
    // the independent WeakRef probe confirms V8 really collected the object
    expect(out.probeCollected).toBe(true)
    expect(out.get).toMatchObject({
      threw: true,
      code: 'ERR_HANDLE_COLLECTED',
      isError: true,
      isBase: true,
      isCollected: true,
      handleMatches: true,
      messagePrefixOk: true,
    })
    expect(out.tryGetUndefined).toBe(true)
    expect(out.has).toBe(false)
    expect(out.getAgain).toMatchObject({ threw: true, code: 'ERR_HANDLE_COLLECTED' })
    expect(out.stats.collected).toBeGreaterThanOrEqual(1)
    expect(out.strongAlive).toBe(true)
    expect(out.weakKeptSame).toBe(true)
    expect(out.release.threw).toBe(true)
  }, 60_000)
})

describe('registerWeak churn with a real GC (child process, --expose-gc)', () => {
  test('released weak handles and finalizer rebuilds never miscount: each dropped live value is collected once, released ones never', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', path.join(ROOT, 'test', 'fixtures', 'weak-churn-child.js')], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 60_000,
    })
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toMatchObject({ status: 0, signal: null })
    const lines = r.stdout.trim().split('\n')
    const out = JSON.parse(lines[lines.length - 1]!)
    expect(out.error).toBeUndefined()
    expect(out.before).toEqual({ size: 5000, collected: 0 })
    expect(out.probes).toBe(103000) // V8 really finalized every dropped and churned value
    expect(out.collected).toBe(3000)
    expect(out.size).toBe(2000)
    expect(out.releases).toBe(100000)
    expect(out.keptResolve).toBe(true)
    expect(out.droppedCodes).toEqual(['ERR_HANDLE_COLLECTED'])
    expect(out.churnCodes).toEqual(['ERR_HANDLE_STALE'])
    expect(out.keptReleased).toBe(true)
    expect(out.sizeAfter).toBe(0)
  }, 60_000)
})

describe('registerWeak in process', () => {
  test.each([1, 'x', true, null, undefined, 1n, Symbol('s')].map((v) => [describeValue(v), v]))(
    'registerWeak(%s) throws InvalidOptionError (ERR_INVALID_OPTION) and registers nothing',
    (_, v) => {
      const reg = new HandleRegistry()
      const e = errorOf(() => reg.registerWeak(v as unknown as object))
      expect(e).toBeInstanceOf(InvalidOptionError)
      expect(e).toBeInstanceOf(HandleRegistryError)
      expect(e.code).toBe('ERR_INVALID_OPTION')
      expect(e.message.startsWith('handle-registry: ')).toBe(true)
      expect(reg.size).toBe(0)
      expect(reg.stats().registrations).toBe(0)
      reg.close()
    },
  )

  test('a weak handle of a still-referenced object or function resolves via get/tryGet/has', () => {
    const reg = new HandleRegistry({ shards: 2 })
    const obj = { here: true }
    const fn = (): number => 7
    const arr = [1, 2, 3]
    const hObj = reg.registerWeak(obj)
    const hFn = reg.registerWeak(fn)
    const hArr = reg.registerWeak(arr)
    const hStrong = reg.register(obj)
    expect(new Set([hObj, hFn, hArr, hStrong]).size).toBe(4)
    expect(reg.get(hObj)).toBe(obj)
    expect(reg.get(hFn)).toBe(fn)
    expect(reg.tryGet(hArr)).toBe(arr)
    expect(reg.has(hObj)).toBe(true)
    expect(reg.get(hStrong)).toBe(obj)
    expect(reg.size).toBe(4)
    expect(reg.stats().registrations).toBe(4)
    expect(reg.release(hObj)).toBe(obj)
    expect(codeOf(() => reg.get(hObj))).toBe('ERR_HANDLE_STALE')
    expect(reg.get(hStrong)).toBe(obj)
    expect(reg.size).toBe(3)
    reg.close()
  })
})

describe('weak lookups and the shared route words (issue 10 on the weak path)', () => {
  test('two route words swapped in the domain: every weak handle still resolves to its own value, never its neighbour', () => {
    const domain = HandleDomain.create()
    const r = new HandleRegistry<{ i: number }>({ shards: 1, domain })
    const kept = Array.from({ length: 2 * BLOCK_SIZE }, (_, i) => ({ i }))
    const hs = kept.map((v) => r.registerWeak(v))
    const blockOf = (h: number): number => (h % SLOT_SPAN) >>> OFFSET_BITS
    const b0 = blockOf(hs[0]!)
    const b1 = blockOf(hs[BLOCK_SIZE]!)
    expect(b0).not.toBe(b1)
    // Same owner, pages swapped: a lookup trusting the word lands in the other page.
    const w = domain.words
    const w0 = w[BLOCKS_BASE + (b0 << 1)]!
    w[BLOCKS_BASE + (b0 << 1)] = w[BLOCKS_BASE + (b1 << 1)]!
    w[BLOCKS_BASE + (b1 << 1)] = w0
    let wrong = 0
    for (let i = 0; i < hs.length; i++) {
      if (r.get(hs[i]!).i !== i || r.tryGet(hs[i]!)?.i !== i) wrong++
    }
    for (let i = 0; i < hs.length; i += 2) if (r.release(hs[i]!).i !== i) wrong++
    expect(wrong).toBe(0)
    expect(r.size).toBe(BLOCK_SIZE)
    r.close()
  })
})
