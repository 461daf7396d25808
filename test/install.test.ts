// Installing never fails. The tarball (made the publisher's way: clean
// checkout, npm ci, npm pack) is installed with the compiler made unavailable:
// CC/CXX point at nothing and PATH holds only node, npm, sh and python3 (no
// g++, cc or make). Without a matching prebuild the install completes with one
// warning line and the library runs in pure-TypeScript mode, native-only features
// throwing ERR_NATIVE_UNAVAILABLE with the fix; with the prebuild in the
// tarball the addon loads and nothing is compiled.
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { childEnv, run } from './fixtures/child-process'
import { freshProject, packFromCleanCheckout, tarballFiles } from './fixtures/packed'

const KEEP = process.env.HR_KEEP_TMP === '1' // keep the temp dirs for debugging
const WARNING = /^handle-registry: no prebuild for .* pure-TypeScript mode; to enable native: install a C\+\+ toolchain, then `npm rebuild handle-registry`/

// The no-compiler environment is built from a POSIX PATH (symlinks to node, npm
// and sh); on Windows, where MSVC is found through vswhere rather than PATH,
// there is no such switch, so this file runs on Linux and macOS.
const POSIX = process.platform !== 'win32'

let tmp = ''
let withPrebuild = ''
let withoutPrebuild = ''
let noCompilerEnv: Record<string, string> = {}

/** A PATH directory holding only node, npm, npx, sh (npm runs scripts with `sh -c`) and python3. */
function nodeOnlyBin(dir: string): string {
  fs.mkdirSync(dir, { recursive: true })
  const onPath = (name: string) => spawnSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).stdout.trim()
  const npmCli = fs.realpathSync(onPath('npm'))
  fs.symlinkSync(process.execPath, path.join(dir, 'node'))
  fs.symlinkSync(npmCli, path.join(dir, 'npm'))
  fs.symlinkSync(path.join(path.dirname(npmCli), 'npx-cli.js'), path.join(dir, 'npx'))
  fs.symlinkSync(fs.realpathSync(onPath('sh')), path.join(dir, 'sh'))
  // Python stays available, so node-gyp gets as far as the compiler and fails
  // there (not at "find Python"): the compiler is what this environment lacks.
  const python = spawnSync('python3', ['-c', 'import sys; print(sys.executable)'], { encoding: 'utf8' }).stdout?.trim()
  if (python) fs.symlinkSync(python, path.join(dir, 'python3'))
  return dir
}

/** npm install of a tarball in a fresh project; returns npm's output (stdout + stderr). */
function install(name: string, tarball: string, args: string[], env: Record<string, string>): { project: string; output: string } {
  const project = freshProject(path.join(tmp, name), `hr-${name}`)
  const r = spawnSync('npm', ['install', '--no-audit', '--no-fund', '--prefer-offline', ...args, tarball],
    { cwd: project, env: childEnv(env), encoding: 'utf8' })
  const output = `${r.stdout}\n${r.stderr}`
  expect(r.status, output.slice(-6000)).toBe(0)
  return { project, output }
}

/** What the installed library does: registry round trip, native status, the error of a native-only feature. */
function probe(project: string, env: Record<string, string> = {}): { native: boolean; value: unknown; code?: string; message?: string } {
  const script = `
    const hr = require('handle-registry')
    const r = new hr.HandleRegistry()
    const h = r.register({ ok: 1 })
    const out = { native: hr.hasNative(), value: r.get(h) }
    try { r.onEvent(() => {}); r.close() } catch (e) { out.code = e.code; out.message = e.message }
    console.log(JSON.stringify(out))
  `
  return JSON.parse(run(process.execPath, ['-e', script], project, env).stdout)
}

describe.runIf(POSIX)('npm install without a compiler', () => {
  beforeAll(() => {
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-install-'))
    withPrebuild = packFromCleanCheckout(tmp)
    // The same package without prebuilds/: unpack, remove, pack again as is.
    const unpacked = path.join(tmp, 'unpacked')
    fs.mkdirSync(unpacked)
    run('tar', ['-xzf', withPrebuild, '-C', unpacked], tmp)
    fs.rmSync(path.join(unpacked, 'package', 'prebuilds'), { recursive: true, force: true })
    const dest = path.join(tmp, 'no-prebuild')
    fs.mkdirSync(dest)
    run('npm', ['pack', '--ignore-scripts', '--pack-destination', dest], path.join(unpacked, 'package'))
    withoutPrebuild = path.join(dest, fs.readdirSync(dest).filter((f) => f.endsWith('.tgz'))[0])
    noCompilerEnv = {
      PATH: nodeOnlyBin(path.join(tmp, 'bin')),
      CC: path.join(tmp, 'no-such-cc'),
      CXX: path.join(tmp, 'no-such-cxx'),
    }
  }, 240_000)

  afterAll(() => {
    if (tmp && !KEEP) fs.rmSync(tmp, { recursive: true, force: true })
  })

  describe('the test setup', () => {
    test('the two tarballs differ only in the prebuild', () => {
      const a = tarballFiles(withPrebuild)
      const b = tarballFiles(withoutPrebuild)
      expect(a.filter((f) => !b.includes(f))).toEqual([`prebuilds/${process.platform}-${process.arch}/handle-registry.node`])
      expect(b.filter((f) => !a.includes(f))).toEqual([])
    })

    test('the no-compiler environment really has no compiler', () => {
      const r = spawnSync('sh', ['-c', 'command -v g++ || command -v c++ || command -v make || echo none'],
        { env: childEnv(noCompilerEnv), encoding: 'utf8' })
      expect(r.stdout.trim()).toBe('none')
    })
  })

  describe('no matching prebuild, no compiler', () => {
    test('install scripts on: the install succeeds with one warning line, pure-TypeScript mode', () => {
      // --foreground-scripts: npm 7+ shows install-script output only this way.
      const { project, output } = install('no-prebuild-scripts', withoutPrebuild, ['--foreground-scripts'], noCompilerEnv)
      const warnings = output.split('\n').filter((l) => l.includes('handle-registry:'))
      expect(warnings).toHaveLength(1)
      expect(warnings[0]).toMatch(WARNING)
      // The build was attempted and its output kept out of the terminal.
      const installed = path.join(project, 'node_modules', 'handle-registry')
      const log = fs.readFileSync(path.join(installed, 'build-error.log'), 'utf8')
    expect(log).toMatch(/gyp ERR!/)
    // On Linux gyp runs $CC while configuring: the broken compiler is the failure.
    if (process.platform === 'linux') expect(log).toContain(noCompilerEnv.CC)
      expect(output).not.toMatch(/gyp ERR!/)
      const p = probe(project)
      expect(p).toMatchObject({ native: false, value: { ok: 1 }, code: 'ERR_NATIVE_UNAVAILABLE' })
      expect(p.message).toContain('install a C++ toolchain, then `npm rebuild handle-registry`')
    }, 180_000)

    test('--ignore-scripts: the install succeeds, pure-TypeScript mode, the same error', () => {
      const { project } = install('no-prebuild-ignore-scripts', withoutPrebuild, ['--ignore-scripts'], noCompilerEnv)
      const p = probe(project)
      expect(p).toMatchObject({ native: false, value: { ok: 1 }, code: 'ERR_NATIVE_UNAVAILABLE' })
      expect(p.message).toMatch(/No native build was found/)
      expect(p.message).toContain('install a C++ toolchain, then `npm rebuild handle-registry`')
    }, 180_000)

    test('the fix the message gives works: with the compiler back, `npm rebuild handle-registry` builds the addon', () => {
      const { project } = install('rebuild-after', withoutPrebuild, [], noCompilerEnv)
      expect(probe(project).native).toBe(false)
      run('npm', ['rebuild', 'handle-registry'], project)
      const installed = path.join(project, 'node_modules', 'handle-registry')
      expect(fs.existsSync(path.join(installed, 'build', 'Release', 'handle_registry.node'))).toBe(true)
      expect(probe(project)).toEqual({ native: true, value: { ok: 1 } })
    }, 240_000)
  })

  describe('a matching prebuild in the tarball, no compiler', () => {
    test('install scripts on: no warning, nothing compiled, the prebuild loads', () => {
      const { project, output } = install('prebuild-scripts', withPrebuild, ['--foreground-scripts'], noCompilerEnv)
      expect(output).not.toContain('handle-registry:')
      const installed = path.join(project, 'node_modules', 'handle-registry')
      expect(fs.existsSync(path.join(installed, 'build'))).toBe(false)
      expect(fs.existsSync(path.join(installed, 'build-error.log'))).toBe(false)
      expect(probe(project)).toEqual({ native: true, value: { ok: 1 } })
      expect(probe(project, { PREBUILDS_ONLY: '1' })).toEqual({ native: true, value: { ok: 1 } })
    }, 180_000)
  })
})
