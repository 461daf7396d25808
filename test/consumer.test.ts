// Other addons, as a user builds them: pack handle-registry into a tarball,
// install it into a fresh npm project (compiling the addon at install, since
// the tarball carries no prebuild here), build the two consumer addons of
// test/consumer/ with node-gyp against the installed public header, and run
// their `node --test` suite: attach and ABI checks, native threads posting to
// onEvent, user_data round trips, ShardedMap state, is_live and statuses.
//
// Needs: g++/make, Node's headers (npm_config_nodedir=/usr when
// /usr/include/node/node_api.h exists) and the npm registry (node-addon-api).
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { childEnv, run } from './fixtures/child-process'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURE = path.join(ROOT, 'test', 'consumer')
const NODE_GYP = path.join(ROOT, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
const KEEP = process.env.HR_KEEP_TMP === '1' // keep the temp project for debugging


// Copies the fixture without build output a local run may have left.
function copyFixture(to: string): void {
  fs.cpSync(FIXTURE, to, {
    recursive: true,
    filter: (src) => !['node_modules', 'build'].includes(path.relative(FIXTURE, src).split(path.sep)[0]),
  })
}

let tmp = ''
let project = ''
let tarball = ''

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) run('npm', ['run', 'compile'], ROOT)
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-consumer-'))
  // --ignore-scripts: no prepack, which would rebuild dist/ and build/ under the
  // feet of the other test files; `npm test` compiled dist/ already, and a
  // prebuild, if prebuilds/ has one, is bypassed below (build from source).
  const packed = run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', tmp], ROOT)
  tarball = path.join(tmp, JSON.parse(packed.stdout)[0].filename)
  project = path.join(tmp, 'project')
  copyFixture(project)
  const pkgFile = path.join(project, 'package.json')
  const pkg = JSON.parse(fs.readFileSync(pkgFile, 'utf8'))
  pkg.dependencies['handle-registry'] = `file:${tarball}`
  fs.writeFileSync(pkgFile, JSON.stringify(pkg, null, 2) + '\n')
}, 120_000)

afterAll(() => {
  if (tmp && !KEEP) fs.rmSync(tmp, { recursive: true, force: true })
})

describe('consumer addons built against the installed header', () => {
  test('npm install of the tarball builds handle-registry from source', () => {
    // Compile even if the repo's prebuilds/ (packed too) has a binary: this is
    // the "no matching prebuild" path; test/package.test.ts covers prebuilds.
    run('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline'], project, { npm_config_build_from_source: 'true' })
    const installed = path.join(project, 'node_modules', 'handle-registry')
    expect(fs.existsSync(path.join(installed, 'build', 'Release', 'handle_registry.node'))).toBe(true)
    const r = run(process.execPath, ['-p', "require('handle-registry').hasNative() + ' ' + require('handle-registry').include_dir"], project)
    expect(r.stdout.trim()).toBe(`true ${path.join(installed, 'native', 'include')}`)
  }, 240_000)

  test('node-gyp builds both consumers and their ABI-version-2 variants', () => {
    run(process.execPath, [NODE_GYP, 'rebuild', '-j', String(Math.max(1, os.availableParallelism?.() ?? 2))], project)
    for (const name of ['consumer_a', 'consumer_b', 'consumer_a_abi2', 'consumer_b_abi2']) {
      expect(fs.existsSync(path.join(project, 'build', 'Release', `${name}.node`)), name).toBe(true)
    }
  }, 240_000)

  test('the fixture\'s node --test suite passes', () => {
    const r = spawnSync(process.execPath, ['--test', '--test-reporter=tap', 'test/consumer.test.js'],
      { cwd: project, env: childEnv(), encoding: 'utf8', timeout: 120_000 })
    const out = `${r.stdout}\n${r.stderr}`
    expect(r.status, out.slice(-8000)).toBe(0)
    expect(out).toMatch(/^# fail 0$/m)
    const pass = Number(/^# pass (\d+)$/m.exec(out)?.[1] ?? 0)
    expect(pass, out.slice(-4000)).toBeGreaterThanOrEqual(11)
  }, 180_000)
})
