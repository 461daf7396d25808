// Without the addon, a Worker inherits the default domain of the thread that
// created it (worker_threads environment data): default registries on the
// two threads share one domain, never mint the same handle, and reject each
// other's handles as foreign. Runs in a child so HANDLE_REGISTRY_NO_NATIVE=1
// applies from the first load.
import { execFileSync } from 'node:child_process'
import * as path from 'node:path'
import { expect, test } from 'vitest'

test('pure-TypeScript mode: a Worker joins its parent\'s default domain automatically', () => {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'fixtures', 'pure-default-domain.js')], {
    env: { ...process.env, HANDLE_REGISTRY_NO_NATIVE: '1' },
    encoding: 'utf8',
  })
  expect(JSON.parse(out)).toEqual({
    native: false, sameBuffer: true, overlap: 0, foreignHere: 1000, foreignThere: 1000, count: 1000,
  })
})
