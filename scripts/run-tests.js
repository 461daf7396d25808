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

/** Runs vitest with extra args, streams its output, adds its counts. */
function vitest(label, args, env) {
  const report = path.join(os.tmpdir(), `handle-registry-vitest-${process.pid}-${label.replace(/\W+/g, "-")}.json`)
  console.log(`\n== vitest (${label})`)
  const r = spawnSync(process.execPath,
    [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json',
      `--outputFile.json=${report}`, ...args],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  let counted = false
  try {
    const j = JSON.parse(fs.readFileSync(report, 'utf8'))
    passed += j.numPassedTests
    failed += j.numFailedTests
    // A suite that failed to load has no failed tests but fails the run.
    if (j.success === false && j.numFailedTests === 0) failed += 1
    counted = true
    fs.unlinkSync(report)
  } catch (err) {
    console.error(`vitest (${label}) produced no report:`, err.message)
    failed += 1
  }
  if (counted && r.status !== 0 && failed === 0) failed += 1
}

// 1. Every suite, each file in a child process.
vitest('processes', [])
// 2. The same suites again with every file inside a worker_thread (the addon
//    must be context-aware); the packaging tests, which only spawn processes,
//    are not repeated.
vitest('worker threads', ['--pool=threads', '--exclude', 'test/consumer.test.ts', '--exclude', 'test/package.test.ts',
  '--exclude', 'test/examples.test.ts'], { HR_SUITE_IN_WORKER: '1' })

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
