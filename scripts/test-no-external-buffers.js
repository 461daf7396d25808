'use strict'
// `npm run test:no-external-buffers`: the addon's binding, event and registry
// suites against a build with NODE_API_NO_EXTERNAL_BUFFERS_ALLOWED (Electron's
// V8 memory cage forbids external ArrayBuffers; native/src falls back to
// JS-owned memory). Builds it into build-noext/ (scripts/build-sanitized.sh
// noext), then runs vitest with HANDLE_REGISTRY_ADDON pointing at it.
// scripts/run-tests.js runs the same suites (SUITES, build()) as one labelled suite.
const { spawnSync } = require('child_process')
const path = require('path')

const root = path.join(__dirname, '..')
const SUITES = ['test/native-binding.test.ts', 'test/events.test.ts', 'test/event-delivery.test.ts',
  'test/registry.test.ts', 'test/lifetimes.test.ts', 'test/attack-domain.test.ts', 'test/no-external-buffers.test.ts']

/** Builds the variant; its env for vitest, or an error message. */
function build() {
  const built = spawnSync('bash', [path.join(root, 'scripts', 'build-sanitized.sh'), 'noext'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  if (built.status !== 0) return { error: 'scripts/build-sanitized.sh noext failed' }
  const addon = path.join(root, (built.stdout ?? '').trim())
  return { env: { HANDLE_REGISTRY_ADDON: addon, HANDLE_REGISTRY_NO_EXTERNAL_BUFFERS: '1' } }
}

module.exports = { SUITES, build }

if (require.main === module) {
  const b = build()
  if (b.error) {
    console.error(b.error)
    process.exit(1)
  }
  const r = spawnSync(process.execPath,
    [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', ...SUITES, ...process.argv.slice(2)],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...b.env } })
  process.exit(r.status ?? 1)
}
