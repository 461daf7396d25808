// Issue 10: fast-check property in child processes. Random operations on
// registries, interleaved with random garbage written into every
// ArrayBuffer, SharedArrayBuffer and TypedArray reachable from the registries
// and from their domain (test/fixtures/garbage-child.js walks own keys,
// non-enumerable ones included, and public getters). Properties: the process
// never crashes (exit 0, no signal); every registry's get of its own handle
// returns the value it registered or throws a typed error; released handles
// never resolve; no handle (live, released or of a closed registry) resolves
// in another registry of the same thread, on every kind of domain (the
// garbage worker's registries are in another thread: see the child).
// In "shared-worker" mode a worker attaches each run's HandleDomain.create()
// buffer and writes garbage into it for the whole run.
import { describe, test, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { hasNative } from '../src'

const CHILD = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures', 'garbage-child.js')
// Runs per mode: pure-TypeScript runs each make a 16 MB domain (and a worker).
const MODES: [string, number][] = [...(hasNative() ? [['native', 60] as [string, number]] : []), ['shared', 30], ['shared-worker', 30]]

describe.each(MODES)('garbage in every reachable buffer, then random operations (%s, %i runs, child process)', (mode, runs) => {
  test('no crash, no alias', () => {
    const seed = (Date.now() ^ (process.pid << 8)) >>> 0
    const r = spawnSync(process.execPath, [CHILD, mode, String(seed), String(runs)], { encoding: 'utf8', timeout: 240_000 })
    const why = `seed ${seed} (rerun: node test/fixtures/garbage-child.js ${mode} ${seed} ${runs})\n${r.stderr.slice(-4000)}`
    expect({ status: r.status, signal: r.signal }, why).toEqual({ status: 0, signal: null })
    const report = JSON.parse(r.stdout.trim().split('\n').pop()!) as { runs: number; checks: number; crossChecks: number; typedErrors: Record<string, number> }
    expect(report.runs).toBe(runs)
    expect(report.checks, why).toBeGreaterThan(1000) // the registries had handles to check
    expect(report.crossChecks, why).toBeGreaterThan(1000) // and each other's
  }, 300_000)
})
