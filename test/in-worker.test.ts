// The suite runs twice (scripts/run-tests.js): in child processes, then with
// HR_SUITE_IN_WORKER=1 and vitest's `threads` pool, where every test file runs
// inside a worker_thread. This file proves the second run really is in a
// Worker, and that registries here share one domain with a Worker started from
// here (the process-wide native domain, or the inherited SharedArrayBuffer one).
import { once } from 'node:events'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { isMainThread, Worker } from 'node:worker_threads'
import { expect, test } from 'vitest'
import { HandleDomain, HandleRegistry, hasNative } from '../src/index'
import { codeOf } from './fixtures/helpers'

const DIST = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'dist', 'index.js')

test('the suite runs in the thread its run mode says', () => {
  expect(isMainThread).toBe(process.env.HR_SUITE_IN_WORKER !== '1')
})

test('a handle minted in a Worker started here is known to this thread\'s default domain, and foreign to its registries', async () => {
  const reg = new HandleRegistry<string>()
  const mine = reg.register('here')
  expect(reg.get(mine)).toBe('here')
  // The Worker registers on its own default domain, reports, and keeps its registry open until told.
  const w = new Worker(`
    const { parentPort } = require('node:worker_threads')
    const { HandleRegistry, hasNative } = require(${JSON.stringify(DIST)})
    const reg = new HandleRegistry()
    const h = reg.register('there')
    parentPort.postMessage({ h, owner: reg.ownerId, native: hasNative(), ownsMine: reg.domain.ownerOf(${mine}) })
    parentPort.once('message', () => { reg.close(); parentPort.close() })
  `, { eval: true })
  try {
    const [msg] = (await once(w, 'message')) as [{ h: number; owner: number; native: boolean; ownsMine: number | undefined }]
    expect(msg.native).toBe(hasNative())
    expect(msg.owner).not.toBe(reg.ownerId)
    // Same domain both ways: each thread's table names the other's registry.
    expect(HandleDomain.default.describe(msg.h)).toEqual({ owner: msg.owner, shard: expect.any(Number), closed: false })
    expect(msg.ownsMine).toBe(reg.ownerId)
    expect(codeOf(() => reg.get(msg.h as never))).toBe('ERR_HANDLE_FOREIGN')
  } finally {
    w.postMessage('close')
    await once(w, 'exit')
    reg.close()
  }
})
