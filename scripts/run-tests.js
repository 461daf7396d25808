'use strict'
// The test command: vitest suites (each file in a child process, then again in
// worker threads), then the standalone C++ tests of the public header
// (sanitizer builds). Ends with one line per suite and the total
// "N passed, N failed". vitest's JSON reports go to .test-reports/ (gitignored).
const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const reports = path.join(root, '.test-reports')
fs.mkdirSync(reports, { recursive: true })
/** [label, passed, failed, note] per suite, printed at the end. */
const suites = []

/** Runs vitest with extra args, streams its output, records its counts. */
function vitest(label, file, args, env) {
  const report = path.join(reports, file)
  fs.rmSync(report, { force: true })
  console.log(`\n== ${label}`)
  const r = spawnSync(process.execPath,
    [path.join(root, 'node_modules', 'vitest', 'vitest.mjs'), 'run', '--reporter=default', '--reporter=json',
      `--outputFile.json=${report}`, ...args],
    { cwd: root, stdio: 'inherit', env: { ...process.env, ...env } })
  let passed = 0
  let failed = 0
  let note = ''
  try {
    const j = JSON.parse(fs.readFileSync(report, 'utf8'))
    passed = j.numPassedTests
    failed = j.numFailedTests
    // A file that failed to load has no failed tests but fails the run.
    if (j.success === false && failed === 0) {
      failed = 1
      note = ' (a test file failed to load)'
    }
  } catch (err) {
    failed = 1
    note = ` (no report: ${err.message})`
  }
  if (r.status !== 0 && failed === 0) {
    failed = 1
    note = ` (vitest exited with status ${r.status})`
  }
  suites.push([label, passed, failed, note])
}

// 1. Every suite, each file in a child process.
vitest('vitest (processes)', 'vitest-processes.json', [])
// 2. The same suites again with every file inside a worker_thread (the addon
//    must be context-aware); the packaging, examples, docs and demo tests,
//    which only spawn processes, are not repeated.
vitest('vitest (worker threads)', 'vitest-worker-threads.json', ['--pool=threads',
  '--exclude', 'test/consumer.test.ts', '--exclude', 'test/package.test.ts', '--exclude', 'test/install.test.ts',
  '--exclude', 'test/examples.test.ts', '--exclude', 'test/docs.test.ts', '--exclude', 'test/demo.test.ts'],
  { HR_SUITE_IN_WORKER: '1' })

// 3. The addon's event and binding suites again, against a build of
//    native/src with AddressSanitizer + UndefinedBehaviorSanitizer
//    (scripts/build-sanitized.sh, into build-asan/). Node itself is not
//    instrumented: the ASan runtime is preloaded, and HANDLE_REGISTRY_ADDON
//    makes src/native.ts, the binding tests and their child processes load
//    that build. A sanitizer report ends the process that hit it, which fails
//    its test. Leak detection is off (V8 and Node keep memory until exit by
//    design). Needs Linux and a GCC or Clang with ASan. (vitest itself does not
//    run under TSan with an uninstrumented node; the addon's concurrent paths
//    get their own TSan suite below.)
const SANITIZED_SUITES = ['test/events.test.ts', 'test/event-delivery.test.ts', 'test/native-binding.test.ts',
  'test/back-pressure.test.ts', 'test/back-pressure-teardown.test.ts', 'test/calls.test.ts', 'test/worker-teardown.test.ts', 'test/post-wait.test.ts']
if (process.platform !== 'linux') {
  suites.push(['vitest (addon under ASan+UBSan)', 0, 0, ` (not run on ${process.platform}: Linux only)`])
} else {
  const cxx = process.env.CXX || 'g++'
  const runtime = spawnSync(cxx, ['-print-file-name=libasan.so'], { encoding: 'utf8' })
  const libasan = (runtime.stdout ?? '').trim()
  const built = spawnSync('bash', [path.join(root, 'scripts', 'build-sanitized.sh'), 'asan'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const addon = path.join(root, (built.stdout ?? '').trim())
  if (runtime.status !== 0 || !path.isAbsolute(libasan) || !fs.existsSync(libasan)) {
    suites.push(['vitest (addon under ASan+UBSan)', 0, 1, ` (${cxx} has no libasan.so: install a compiler with ASan)`])
  } else if (built.status !== 0 || !fs.existsSync(addon)) {
    suites.push(['vitest (addon under ASan+UBSan)', 0, 1, ' (scripts/build-sanitized.sh asan failed)'])
  } else {
    const started = Date.now()
    vitest('vitest (addon under ASan+UBSan)', 'vitest-asan.json', SANITIZED_SUITES, {
      HANDLE_REGISTRY_ADDON: addon,
      LD_PRELOAD: [libasan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
      ASAN_OPTIONS: 'detect_leaks=0:halt_on_error=1:abort_on_error=0:allocator_may_return_null=1',
      UBSAN_OPTIONS: 'print_stacktrace=1:halt_on_error=1',
    })
    suites[suites.length - 1][3] += ` (${Math.round((Date.now() - started) / 1000)} s)`
  }
}

// 3b. The addon's concurrent paths under ThreadSanitizer: test/tsan/addon-races.js
//    (native threads posting, calling and waiting while JS closes, turns
//    events off and changes the full policy) with the -fsanitize=thread build
//    and libtsan preloaded. A TSan report exits 66 and fails the suite; only
//    V8's platform threads are suppressed (test/tsan/suppressions.txt).
if (process.platform !== 'linux') {
  suites.push(['addon under TSan', 0, 0, ` (not run on ${process.platform}: Linux only)`])
} else {
  const cxx = process.env.CXX || 'g++'
  const runtime = spawnSync(cxx, ['-print-file-name=libtsan.so'], { encoding: 'utf8' })
  const libtsan = (runtime.stdout ?? '').trim()
  const built = spawnSync('bash', [path.join(root, 'scripts', 'build-sanitized.sh'), 'tsan'],
    { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  const addon = path.join(root, (built.stdout ?? '').trim())
  if (runtime.status !== 0 || !path.isAbsolute(libtsan) || !fs.existsSync(libtsan)) {
    suites.push(['addon under TSan', 0, 1, ` (${cxx} has no libtsan.so: install a compiler with TSan)`])
  } else if (built.status !== 0 || !fs.existsSync(addon)) {
    suites.push(['addon under TSan', 0, 1, ' (scripts/build-sanitized.sh tsan failed)'])
  } else {
    console.log('\n== addon under TSan (test/tsan/addon-races.js)')
    const started = Date.now()
    // --single-threaded: no V8 background threads (its concurrent compilers race
    // as far as TSan can see, since V8 is not instrumented).
    const r = spawnSync(process.execPath, ['--single-threaded', path.join(root, 'test', 'tsan', 'addon-races.js')], {
      cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], timeout: 600_000,
      env: {
        ...process.env,
        HANDLE_REGISTRY_ADDON: addon,
        LD_PRELOAD: [libtsan, process.env.LD_PRELOAD].filter(Boolean).join(' '),
        TSAN_OPTIONS: `suppressions=${path.join(root, 'test', 'tsan', 'suppressions.txt')} exitcode=66 report_signal_unsafe=0`,
      },
    })
    process.stdout.write(r.stdout ?? '')
    const m = /^(\d+) passed, (\d+) failed\s*$/m.exec(r.stdout ?? '')
    const passed = m ? Number(m[1]) : 0
    let failed = m ? Number(m[2]) : 1
    let note = m ? '' : ' (no summary line)'
    if (r.status === 66) {
      failed += 1
      note = ' (ThreadSanitizer reported a race: see above)'
    } else if (r.status !== 0 && failed === 0) {
      failed = 1
      note = ` (exited with status ${r.status ?? r.signal})`
    }
    suites.push(['addon under TSan', passed, failed, `${note} (${Math.round((Date.now() - started) / 1000)} s)`])
  }
}

// 4. The binding, event and registry suites again, against the build without
//    external ArrayBuffers (Electron's variant: JS-owned memory;
//    scripts/test-no-external-buffers.js, into build-noext/). Needs bash.
if (process.platform === 'win32') {
  suites.push(['vitest (addon without external buffers)', 0, 0, ' (not run on Windows: the build script needs bash)'])
} else {
  const noext = require('./test-no-external-buffers')
  const b = noext.build()
  if (b.error) {
    suites.push(['vitest (addon without external buffers)', 0, 1, ` (${b.error})`])
  } else {
    const started = Date.now()
    vitest('vitest (addon without external buffers)', 'vitest-no-external-buffers.json', noext.SUITES, b.env)
    suites[suites.length - 1][3] += ` (${Math.round((Date.now() - started) / 1000)} s)`
  }
}

// 5. The C++ header tests; the runner's last line is its total. run.sh needs
//    bash and a GCC/Clang with ASan/TSan: Linux and macOS. On Windows the
//    summary says they did not run (MSVC has no TSan).
const native = path.join(root, 'native', 'test', 'run.sh')
if (process.platform === 'win32') {
  suites.push(['C++ header tests', 0, 0, ' (not run on Windows: run.sh needs bash and ASan/TSan)'])
} else if (fs.existsSync(native)) {
  console.log('\n== C++ header tests (native/test/run.sh)')
  const r = spawnSync('bash', [native], { cwd: root, encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
  process.stdout.write(r.stdout ?? '')
  const m = /^(\d+) passed, (\d+) failed\s*$/.exec((r.stdout ?? '').trimEnd().split('\n').pop() ?? '')
  const passed = m ? Number(m[1]) : 0
  let failed = m ? Number(m[2]) : 1
  let note = m ? '' : ' (no summary line)'
  if (m && r.status !== 0 && failed === 0) {
    failed = 1
    note = ` (run.sh exited with status ${r.status})`
  }
  suites.push(['C++ header tests', passed, failed, note])
}

const width = Math.max(...suites.map(([label]) => label.length))
console.log('')
for (const [label, passed, failed, note] of suites) {
  console.log(`${label.padEnd(width)}  ${passed} passed, ${failed} failed${note}`)
}
const passed = suites.reduce((n, s) => n + s[1], 0)
const failed = suites.reduce((n, s) => n + s[2], 0)
console.log(`${passed} passed, ${failed} failed`)
process.exit(failed === 0 ? 0 : 1)
