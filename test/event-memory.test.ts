// Issue 10 item 5: an event path's memory is freed by close(), not when the
// event loop next turns. Before, each onEvent() + close() held about 2 MiB
// (the queue's ring) until the uv_close callback ran: 1,000 cycles in a
// synchronous loop reached 2 GB. Measured in a child process (its RSS only),
// with a full GC every 10,000 cycles so that JS garbage V8 has not collected
// yet does not count (a GC never runs uv_close callbacks).
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { describe, expect, test } from 'vitest'
import { nativeRequired } from './fixtures/native-required'

const CHILD = path.join(__dirname, 'fixtures', 'event-memory-child.js')

describe.runIf(nativeRequired())('event path memory', () => {
  test('100,000 onEvent() + close() cycles in a synchronous loop: RSS grows by less than 50 MB', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', CHILD, '100000'], { encoding: 'utf8', timeout: 120_000 })
    expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
    const m = JSON.parse(r.stdout) as { cycles: number; growthMB: number }
    expect(m.cycles).toBe(100_000)
    expect(m.growthMB).toBeLessThan(50)
  }, 150_000)
})
