// Electron's V8 memory cage forbids external ArrayBuffers: the addon built
// with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED (scripts/build-sanitized.sh noext,
// into build-noext/) falls back to memory JS owns: state regions held by
// strong refs, and a per-thread copy of the domain. This runs the package in a
// child process with that build: registry growth, events from native threads,
// a worker's registry. (`npm run test:no-external-buffers` runs the binding,
// event and registry suites against it too.) Needs bash and a C++ compiler.
import { describe, expect, test } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { nativeRequired } from './fixtures/native-required'

const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..')
const CHILD = path.join(ROOT, 'test', 'fixtures', 'no-external-buffers-child.js')

describe.runIf(nativeRequired() && process.platform !== 'win32')('addon built without external ArrayBuffers (Electron)', () => {
  test('registry, events from native threads and a worker work on JS-owned memory', () => {
    const built = spawnSync('bash', [path.join(ROOT, 'scripts', 'build-sanitized.sh'), 'noext'],
      { cwd: ROOT, encoding: 'utf8', timeout: 300_000 })
    expect(built.status, built.stderr).toBe(0)
    const addon = path.join(ROOT, built.stdout.trim())
    const r = spawnSync(process.execPath, [CHILD], {
      cwd: ROOT, encoding: 'utf8', timeout: 120_000,
      env: { ...process.env, HANDLE_REGISTRY_ADDON: addon, HANDLE_REGISTRY_NO_EXTERNAL_BUFFERS: '1' },
    })
    expect({ status: r.status, signal: r.signal }, r.stderr.slice(-3000)).toEqual({ status: 0, signal: null })
    const s = JSON.parse(r.stdout.trim().split('\n').pop()!)
    expect(s).toEqual({
      variant: true, // the addon loaded is the variant (it has domain_sync)
      resolved: 5000, liveNatively: 5000, releasedLiveNatively: 0, describedAsOurs: true,
      posted: 20_000, accepted: 20_000, handled: 20_000, wrongValue: 0,
      workerSawMainOwner: true, workerGet: 'from the worker', workerHandleOwner: true,
      workerHandleHere: 'ERR_HANDLE_FOREIGN', workerExit: 0, workerHandleClosed: true, workerHandleLiveNatively: false,
      closedLiveNatively: 0,
    })
  }, 300_000)
})
