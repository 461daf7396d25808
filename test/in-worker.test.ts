// The suite runs twice (scripts/run-tests.js): in child processes, then with
// HR_SUITE_IN_WORKER=1 and vitest's `threads` pool, where every test file runs
// inside a worker_thread. This file proves the second run really is in a
// Worker, so the addon's per-env state (context awareness) is exercised there.
import { isMainThread } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { HandleRegistry, hasNative } from '../src/index'

test('the suite runs in the thread its run mode says', () => {
  expect(isMainThread).toBe(process.env.HR_SUITE_IN_WORKER !== '1')
})

test('a registry works here, on the process-wide native domain when the addon loads', () => {
  const reg = new HandleRegistry<string>()
  const h = reg.register('here')
  expect(reg.get(h)).toBe('here')
  expect(reg.domain.isNative).toBe(hasNative())
  reg.close()
})
