'use strict'
// npm's prepack hook (npm pack / npm publish): build everything the tarball
// ships from a clean clone. dist/ is rebuilt from scratch (no stale files from
// renamed sources), then the N-API prebuild for this platform goes to prebuilds/.
// HANDLE_REGISTRY_SKIP_PREBUILD=1 packs without building a prebuild (the release
// workflow downloads every platform's prebuild into prebuilds/ first and sets it).
const { spawnSync } = require('child_process')
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')

function npmRun(script) {
  // npm_execpath is the npm that runs this hook; fall back to npm on PATH.
  const npm = process.env.npm_execpath
  const r = npm && npm.endsWith('.js')
    ? spawnSync(process.execPath, [npm, 'run', script], { cwd: root, stdio: 'inherit' })
    : spawnSync(process.platform === 'win32' ? 'npm.cmd' : 'npm', ['run', script], { cwd: root, stdio: 'inherit', shell: process.platform === 'win32' })
  if (r.status !== 0) {
    console.error(`handle-registry prepack: \`npm run ${script}\` failed`)
    process.exit(r.status || 1)
  }
}

fs.rmSync(path.join(root, 'dist'), { recursive: true, force: true })
npmRun('compile')
if (process.env.HANDLE_REGISTRY_SKIP_PREBUILD === '1') {
  console.error('handle-registry prepack: HANDLE_REGISTRY_SKIP_PREBUILD=1, packing prebuilds/ as it is')
} else {
  npmRun('prebuild')
}
