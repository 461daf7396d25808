// Teardown wakes every producer waiting for room (issue 9, part 4): a native
// thread blocked in a full queue (whenFull 'block' with no time limit, or
// api->post_wait(HR_WAIT_FOREVER)) gets registry_closed when the registry
// closes, its events are turned off, or its worker ends; none waits for ever.
// In child processes (fixtures/pressure-child.js), where a crash or a hang
// cannot take the test runner with it.
import { describe, expect, test } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { nativeRequired } from './fixtures/native-required'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const CHILD = path.join(ROOT, 'test', 'fixtures', 'pressure-child.js')
const CAPACITY = 16
const EVENTS = 100_000 // as in pressure-child.js: more than a worker's teardown can drain

function child(step: string, mode: string) {
  const r = spawnSync(process.execPath, [CHILD, step, mode], { encoding: 'utf8', timeout: 60_000 })
  expect(r.signal, r.stderr).toBe(null)
  expect(r.status, r.stderr).toBe(0)
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Record<string, number>
}

describe.runIf(nativeRequired())('teardown wakes producers waiting for room', () => {
  test.each([
    ['close', 'post'],
    ['close', 'wait'],
    ['off', 'post'],
    ['off', 'wait'],
    ['worker', 'post'],
    ['worker', 'wait'],
    ['exit', 'post'],
  ])('%s while a native thread waits (%s): registry_closed, the rest too, nothing hangs', (step, mode) => {
    const r = child(step, mode)
    expect(r).toMatchObject({ timeout: 0, queue_full: 0, other: 0, would_deadlock: 0 })
    expect(r.ok + r.registry_closed).toBe(EVENTS)
    // The worker's JS thread never drained, so nothing was delivered: every
    // OK post was dropped where close() drops, and counted there.
    expect(r.delivered).toBe(0)
    expect(r.droppedAtClose).toBe(r.ok)
    if (step === 'close' || step === 'off') {
      // The CAPACITY events that fit were queued (then dropped, counted as
      // droppedAtClose); the waiting one and every later one get registry_closed.
      expect(r.ok).toBe(CAPACITY)
    } else {
      // A terminated worker's first wake-up finds JS cannot run only when it
      // calls the handler. The batch it gathered meanwhile freed room, and
      // the producer woken by that room may have posted more (OK) before the
      // queue closed to producers (worker-teardown.test.ts): all of them are
      // counted droppedAtClose, none delivered. The waiting producer and the
      // rest get registry_closed.
      expect(r.ok).toBeGreaterThanOrEqual(CAPACITY)
      expect(r.registry_closed).toBeGreaterThan(0)
    }
  })
})
