// Issue 10, items 1 and 2: native code decides from native-private memory.
// Each attack of the issue runs in a child process that scribbles on the
// domain words JS can reach (HandleDomain.default.buffer; in pure-TypeScript
// mode the SharedArrayBuffer of a domain passed to a worker) and then keeps
// using every registry. The process must exit normally (no signal: no freed
// memory, no wild jump), every registry's own handles keep resolving to their
// own values, and no handle resolves in another registry.
import { describe, test, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HandleDomain, HandleRegistry, hasNative } from '../src'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'domain-attack-child.js')

interface Check { own: number; failed: number; aliased: number; uncoded: number }
interface Report { check: Check; after?: Check | null; closedB?: Check; sameOwner?: boolean; codes?: string[]; workerOk?: number }

function attack(name: string, mode: 'native' | 'shared'): Report {
  const r = spawnSync(process.execPath, [CHILD, name, mode], { encoding: 'utf8', timeout: 120_000 })
  expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-3000) }).toEqual({ status: 0, signal: null, stderr: '' })
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report
}

const MODES = hasNative() ? (['native', 'shared'] as const) : (['shared'] as const)

describe.each(MODES)('attacks on the domain words (%s domain, child processes)', (mode) => {
  test('zeroing a live registry\'s owner word: the next registry gets another owner; both keep working', () => {
    const r = attack('owner-word', mode)
    expect(r.sameOwner).toBe(false)
    expect(r.check).toEqual({ own: 9000, failed: 0, aliased: 0, uncoded: 0 })
    // The closed registry's handles are rejected (closed), never resolved.
    expect(r.closedB).toEqual({ own: 0, failed: 3000, aliased: 0, uncoded: 0 })
  })

  test('zeros, then random garbage, in every word of the domain: no crash, no alias', () => {
    const r = attack('scribble-all', mode)
    expect(r.check.aliased).toBe(0)
    expect(r.check.uncoded).toBe(0)
    expect(r.check.failed).toBe(0) // a registry routes its own handles through its private page table
    if (mode === 'native') {
      // Native bookkeeping is untouched: registries made afterwards work in full.
      expect(r.check.own).toBe(9000)
      expect(r.after).toEqual({ own: 1000, failed: 0, aliased: 0, uncoded: 0 })
    }
  })

  test('the block counter rewound and the pool refilled at base 0: no registry of the thread shares a block or reissues a handle', () => {
    const r = attack('rewind', mode)
    expect(r.check).toEqual({ own: 6000, failed: 0, aliased: 0, uncoded: 0 })
    expect(r.after).toEqual({ own: 6000, failed: 0, aliased: 0, uncoded: 0 })
    // a is closed: its 3000 handles fail (coded), and none resolves in c.
    expect(r.closedB).toEqual({ own: 3000, failed: 3000, aliased: 0, uncoded: 0 })
  })

  test('a worker scribbles on the owner and block words while the main registry grows', () => {
    const r = attack('worker', mode)
    expect(r.workerOk).toBe(20 * 600)
    expect(r.check.failed).toBe(0)
    expect(r.check.aliased).toBe(0)
    expect(r.check.own).toBeGreaterThanOrEqual(3000 + 3000)
  })
})

describe.runIf(hasNative())('a fake C ABI table in the domain buffer (child process)', () => {
  test('nothing points at it: the buffer and look-alikes get ERR_INVALID_NATIVE_API', () => {
    const r = attack('fake-table', 'native')
    expect(r.codes).toEqual(Array(5).fill('ERR_INVALID_NATIVE_API'))
    expect(r.check).toEqual({ own: 3000, failed: 0, aliased: 0, uncoded: 0 })
  }, 300_000)
})

describe('what JS can reach of a registry and a domain', () => {
  test('a registry has no own keys: its storage is in ES private fields', () => {
    const reg = new HandleRegistry({ domain: HandleDomain.create() })
    reg.register(1)
    expect(Reflect.ownKeys(reg)).toEqual([])
    reg.close()
  })

  test('a domain shows its buffer and a view of it, not its backend (the addon functions)', () => {
    expect(Reflect.ownKeys(HandleDomain.default).sort()).toEqual(['buffer', 'words'])
    expect(Reflect.ownKeys(HandleDomain.create()).sort()).toEqual(['buffer', 'words'])
  })
})
