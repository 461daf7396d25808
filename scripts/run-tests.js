'use strict'
// The test command: vitest suites, then the standalone C++ tests of the public
// header (sanitizer builds). Prints one plain "N passed, N failed" line.
const { spawnSync } = require('child_process')
const fs = require('fs')
const os = require('os')
const path = require('path')

const root = path.join(__dirname, '..')
let passed = 0
let failed = 0

const report = path.join(os.tmpdir(), `handle-registry-vitest-${process.pid}.json`)
const vitest = spawnSync(process.execPath,
  [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json', `--outputFile.json=${report}`],
  { cwd: root, stdio: 'inherit' })
try {
  const r = JSON.parse(fs.readFileSync(report, 'utf8'))
  passed += r.numPassedTests
  failed += r.numFailedTests + (r.numTotalTestSuites > 0 && r.success === false && r.numFailedTests === 0 ? 1 : 0)
  fs.unlinkSync(report)
} catch (err) {
  console.error('vitest produced no report:', err.message)
  failed += 1
}
if (vitest.status !== 0 && failed === 0) failed += 1

const native = path.join(root, 'native', 'test', 'run.sh')
if (fs.existsSync(native)) {
  const r = spawnSync('bash', [native], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  process.stdout.write(r.stdout)
  // The runner's last line is its total; earlier lines are per binary.
  const m = /^(\d+) passed, (\d+) failed\s*$/m.exec(r.stdout.trimEnd().split('\n').pop() ?? '')
  if (m) {
    passed += Number(m[1])
    failed += Number(m[2])
  }
  if (!m || (r.status !== 0 && Number(m[2]) === 0)) failed += 1
}

console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
