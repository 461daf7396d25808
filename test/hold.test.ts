// api->hold / api->unhold (native/src/hold.cc) and registry.ref() / unref():
// native code keeps the event loop alive while it has work pending. Driven
// through the test addon of test/producers (hold_calls.cc), built against
// the public header; process lifetimes in children (fixtures/hold-child.js)
// whose only pending work is a native timer.
import { describe, test, expect, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { closedAfterEach } from './fixtures/helpers'
import { producersBinding, type Holders } from './fixtures/producers-binding'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CHILD = path.join(ROOT, 'test', 'fixtures', 'hold-child.js')

let addon: Holders
const registry = closedAfterEach()
beforeAll(() => {
  addon = producersBinding()!
})

/** Runs the child; returns its lines, exit status and wall time. */
function child(mode: string, ms: number) {
  const t0 = Date.now()
  const r = spawnSync(process.execPath, [CHILD, mode, String(ms)], { encoding: 'utf8', timeout: 60_000 })
  return { lines: r.stdout.trim().split('\n'), status: r.status, signal: r.signal, stderr: r.stderr, ms: Date.now() - t0 }
}

describe('registry.ref() / unref()', () => {
  test('ref\'d by default; both return the registry; hasRef() follows', () => {
    const reg = registry()
    expect(reg.hasRef()).toBe(true)
    expect(reg.unref()).toBe(reg)
    expect(reg.hasRef()).toBe(false)
    expect(reg.ref()).toBe(reg)
    expect(reg.hasRef()).toBe(true)
    reg.close()
    expect(reg.unref().hasRef()).toBe(false) // harmless once closed
  })
})

describe('api->hold / api->unhold statuses', () => {
  test('counted: as many unholds as holds, then invalid_handle', () => {
    const reg = registry()
    const h = reg.register({})
    expect(addon.unhold(h)).toBe('invalid_handle') // nothing held
    expect(addon.hold(h)).toBe('ok')
    expect(addon.hold(h)).toBe('ok')
    expect(addon.unhold(h)).toBe('ok')
    expect(addon.unhold(h)).toBe('ok')
    expect(addon.unhold(h)).toBe('invalid_handle')
  })

  test('hold needs a live handle; unhold works after JS released it', () => {
    const reg = registry()
    const h = reg.register({})
    expect(addon.hold(h)).toBe('ok')
    reg.release(h)
    expect(addon.hold(h)).toBe('stale_handle')
    expect(addon.unhold(h)).toBe('ok')
    expect(addon.hold(0)).toBe('invalid_handle')
    expect(addon.unhold(0)).toBe('invalid_handle')
  })

  test('4 native threads taking and giving back holds at once: every call ok, balanced at the end', () => {
    const reg = registry()
    const h = reg.register({})
    expect(addon.hold_storm(h, 4, 20_000)).toEqual({ ok: 4 * 20_000 * 2, other: 0 })
    expect(addon.unhold(h)).toBe('invalid_handle') // the count is back to 0
  })

  test('a closed registry: its holds are dropped; hold and unhold get registry_closed', () => {
    const reg = registry()
    const h = reg.register({})
    expect(addon.hold(h)).toBe('ok')
    reg.close()
    expect(addon.unhold(h)).toBe('registry_closed')
    expect(addon.hold(h)).toBe('registry_closed')
  })
})

describe('a process whose only pending work is a native timer', () => {
  test('stays alive until the event arrives, then exits on its own', () => {
    const r = child('timer', 600)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.lines).toEqual(['armed ok true', 'event 7 600 true'])
    expect(r.ms).toBeGreaterThanOrEqual(600)
  })

  test('unref() then ref(): alive until the event', () => {
    const r = child('reref', 600)
    expect(r.status).toBe(0)
    expect(r.lines).toEqual(['armed ok true', 'event 7 600 true'])
  })

  test('an unref\'d registry lets it exit without waiting for the event', () => {
    const r = child('unref', 20_000)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.lines).toEqual(['armed ok false'])
    expect(r.ms).toBeLessThan(15_000)
  })

  test('closing the registry drops its hold: the process exits', () => {
    const r = child('closed', 20_000)
    expect(r.status).toBe(0)
    expect(r.lines).toEqual(['armed ok true'])
    expect(r.ms).toBeLessThan(15_000)
  })

  test('a worker that held its registry and ended: the hold is dropped, the process exits', () => {
    const r = child('worker', 20_000)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(r.lines).toEqual(['worker: armed ok true'])
    expect(r.ms).toBeLessThan(15_000)
  })
})
