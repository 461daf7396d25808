'use strict'
// npm's install hook. A prebuild that loads here: nothing to do. Otherwise
// compile with node-gyp. If that fails too (no C++ toolchain, no Python, no
// Node headers), the install still succeeds: the library runs in its
// pure-TypeScript mode, and this prints one warning line saying how to get the
// native addon. The compiler output goes to build-error.log, not the terminal.
// (npm 7+ shows install-script output only with --foreground-scripts; the
// runtime error ERR_NATIVE_UNAVAILABLE carries the same fix.)
const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const log = path.join(root, 'build-error.log')
const verbose = process.env.npm_config_loglevel === 'verbose' || process.env.npm_config_loglevel === 'silly'

/** Whether a prebuild or an earlier build loads in this Node. */
function binaryLoads() {
  try {
    require('node-gyp-build')(root)
    return true
  } catch {
    return false
  }
}

/** The node-gyp to run: npm's own (npm_config_node_gyp), ours, or the one on PATH. */
function nodeGypCommand() {
  const candidates = [process.env.npm_config_node_gyp]
  try {
    candidates.push(require.resolve('node-gyp/bin/node-gyp.js'))
  } catch {}
  for (const c of candidates) {
    if (c && c.endsWith('.js') && fs.existsSync(c)) return { cmd: process.execPath, args: [c, 'rebuild'], shell: false }
  }
  return { cmd: process.platform === 'win32' ? 'node-gyp.cmd' : 'node-gyp', args: ['rebuild'], shell: process.platform === 'win32' }
}

function main() {
  if (process.env.npm_config_build_from_source !== 'true' && binaryLoads()) return
  try {
    fs.rmSync(log, { force: true })
  } catch {}
  const { cmd, args, shell } = nodeGypCommand()
  const r = spawnSync(cmd, args, {
    cwd: root,
    shell,
    windowsHide: true,
    encoding: 'utf8',
    stdio: verbose ? 'inherit' : 'pipe',
    maxBuffer: 64 * 1024 * 1024,
  })
  if (r.status === 0 && binaryLoads()) return
  const output = `${r.error ? `${r.error.message}\n` : ''}${r.stdout ?? ''}${r.stderr ?? ''}`
  let where = ''
  try {
    fs.writeFileSync(log, output)
    where = ` (compiler output: ${log})`
  } catch {}
  console.warn(`handle-registry: no prebuild for ${process.platform}-${process.arch} and the native build failed, ` +
    'so it runs in pure-TypeScript mode; to enable native: install a C++ toolchain, then `npm rebuild handle-registry`' +
    where)
}

try {
  main()
} catch (err) {
  console.warn(`handle-registry: install check failed (${err && err.message}); it runs in pure-TypeScript mode until \`npm rebuild handle-registry\` succeeds`)
}
process.exitCode = 0
