// Issue 10, item 3: registry.nativeApi is an opaque, type-tagged external, and
// hr::attach (public header) reads a table only from a value carrying that
// tag. Forged values (addresses, look-alike objects, buffers) reach attach in
// child processes, through the test producers addon built against the public
// header: each gets a TypeError with code ERR_INVALID_NATIVE_API, the process
// exits normally, and nothing is attached.
import { describe, test, expect } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { createRequire } from 'node:module'
import { hasNative } from '../src'

const HERE = path.dirname(fileURLToPath(import.meta.url))
const CHILD = path.join(HERE, 'fixtures', 'forged-api-child.js')

interface Report { count: number; out: { name: string; code: string; type?: string }[]; after: string; status: number }

function runChild(arg: string): Report {
  const r = spawnSync(process.execPath, [CHILD, arg], { encoding: 'utf8', timeout: 120_000 })
  expect({ status: r.status, signal: r.signal, stderr: r.stderr.slice(-2000) }).toEqual({ status: 0, signal: null, stderr: '' })
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Report
}

describe.runIf(hasNative())('forged nativeApi values (child processes)', () => {
  test('the addon builds and hands out an opaque object, not an address', () => {
    createRequire(import.meta.url)('./fixtures/producers').ensureBuilt()
    const r = runChild('0')
    expect(r.out).toEqual([{ name: '1n', code: 'ERR_INVALID_NATIVE_API', type: 'TypeError' }])
  }, 300_000)

  test('every forged value, each in its own process: TypeError ERR_INVALID_NATIVE_API, no crash, nothing attached', () => {
    const { count } = runChild('0')
    for (let i = 0; i < count; i++) {
      const r = runChild(String(i))
      expect(r.out.length).toBe(1)
      const [{ name, code, type }] = r.out
      if (name === 'getter that throws') {
        expect(code, name).toBe('ERR_BOOM') // the getter's own exception passes through
      } else {
        expect({ name, code, type }).toEqual({ name, code: 'ERR_INVALID_NATIVE_API', type: 'TypeError' })
      }
      expect(r.after, name).toBe('ERR_NOT_ATTACHED')
      expect(r.status, name).toBe(0) // the real nativeApi attaches afterwards and posts
    }
  }, 120_000)

  test('all forged values in one process, then the real one', () => {
    const r = runChild('all')
    expect(r.out.length).toBe(r.count)
    expect(r.out.filter((o) => o.code !== 'ERR_INVALID_NATIVE_API').map((o) => o.name)).toEqual(['getter that throws'])
    expect(r.status).toBe(0)
  }, 120_000)
})
