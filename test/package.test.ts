// The published package: what `npm pack` puts in the tarball, and that a
// tarball carrying a prebuild works with no compiler step at all.
//
// The prebuild is made in a staging copy of the package (the files npm would
// pack, plus a link to node_modules), so the repo's build/ and prebuilds/ are
// never touched while other test files use the addon.
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { run } from './fixtures/child-process'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const KEEP = process.env.HR_KEEP_TMP === '1' // keep the temp dirs for debugging
const PREBUILD_DIR = `prebuilds/${process.platform}-${process.arch}`


interface PackResult { filename: string; files: { path: string }[] }
function packList(cwd: string): string[] {
  const r = run('npm', ['pack', '--dry-run', '--json'], cwd)
  return (JSON.parse(r.stdout) as PackResult[])[0].files.map((f) => f.path.split(path.sep).join('/')).sort()
}

// What every tarball must and must not contain.
function checkContents(files: string[]): void {
  for (const f of ['package.json', 'README.md', 'binding.gyp', 'native/handle_registry.gyp',
    'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/registry.d.ts', 'docs/native.md', 'docs/api.md']) {
    expect(files, f).toContain(f)
  }
  for (const dir of ['native/include', 'native/src']) {
    for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
      if (e.isFile()) expect(files, `${dir}/${e.name}`).toContain(`${dir}/${e.name}`)
    }
  }
  expect(files).toContain('native/include/handle_registry_napi.h')
  for (const e of fs.readdirSync(path.join(ROOT, 'docs'), { withFileTypes: true })) {
    if (e.isFile()) expect(files).toContain(`docs/${e.name}`)
  }
  const banned = /^(test|bench|build|examples|scripts|src|\.ci|\.git|native\/test)\/|(^|\/)node_modules\/|\.tgz$|^(tsconfig\.json|vitest\.config\.ts|package-lock\.json)$/
  expect(files.filter((f) => banned.test(f))).toEqual([])
  // Source maps would point at src/*.ts, which is not shipped.
  expect(files.filter((f) => f.endsWith('.map'))).toEqual([])
  // Only the listed top-level entries (npm adds package.json itself).
  const allowed = new Set(['dist', 'native', 'binding.gyp', 'prebuilds', 'docs', 'README.md', 'package.json', 'LICENSE'])
  expect(files.map((f) => f.split('/')[0]).filter((top) => !allowed.has(top))).toEqual([])
}

let tmp = ''
let staging = ''
let project = ''
let tarball = ''
let tarballFiles: string[] = []

beforeAll(() => {
  if (!fs.existsSync(path.join(ROOT, 'dist', 'index.js'))) run('npm', ['run', 'compile'], ROOT)
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-package-'))
  staging = path.join(tmp, 'staging')
  // The staging copy: exactly the files npm packs from the repo (prebuilds
  // left behind: they are made fresh below), plus node_modules for the tools.
  for (const f of packList(ROOT)) {
    if (f.startsWith('prebuilds/')) continue
    fs.mkdirSync(path.dirname(path.join(staging, f)), { recursive: true })
    fs.copyFileSync(path.join(ROOT, f), path.join(staging, f))
  }
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(staging, 'node_modules'), 'junction')
  run('npm', ['run', 'prebuild'], staging)
  tarballFiles = packList(staging)
  const packed = run('npm', ['pack', '--json', '--pack-destination', tmp], staging)
  tarball = path.join(tmp, (JSON.parse(packed.stdout) as PackResult[])[0].filename)

  project = path.join(tmp, 'project')
  fs.mkdirSync(project)
  fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'hr-prebuild-user', version: '1.0.0', private: true }, null, 2))
  // --ignore-scripts: no install script, so no compile; the prebuild must do.
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], project)
}, 180_000)

afterAll(() => {
  if (tmp && !KEEP) fs.rmSync(tmp, { recursive: true, force: true })
})

describe('npm pack', () => {
  test('the repo packs exactly what users need', () => {
    checkContents(packList(ROOT))
  }, 60_000)

  test('after `npm run prebuild` the tarball carries the prebuilt binary', () => {
    checkContents(tarballFiles)
    expect(tarballFiles.filter((f) => f.startsWith('prebuilds/'))).toEqual([`${PREBUILD_DIR}/handle-registry.node`])
  })
})

describe('installed from the tarball with --ignore-scripts (no compiler step)', () => {
  const installed = () => path.join(project, 'node_modules', 'handle-registry')

  test('nothing was compiled: the prebuild is the only binary', () => {
    expect(fs.existsSync(path.join(installed(), 'build'))).toBe(false)
    expect(fs.existsSync(path.join(installed(), PREBUILD_DIR, 'handle-registry.node'))).toBe(true)
    expect(fs.existsSync(path.join(installed(), 'native', 'include', 'handle_registry_napi.h'))).toBe(true)
  })

  for (const prebuildsOnly of [false, true]) {
    const env: Record<string, string> = prebuildsOnly ? { PREBUILDS_ONLY: '1' } : {}
    const label = prebuildsOnly ? ' (PREBUILDS_ONLY=1)' : ''

    test(`require() loads the prebuilt addon${label}`, () => {
      const script = `
        const hr = require('handle-registry')
        const r = new hr.HandleRegistry()
        const h = r.register({ ok: 1 })
        console.log(JSON.stringify({ native: hr.hasNative(), value: r.get(h), api: typeof r.nativeApi }))
      `
      const r = run(process.execPath, ['-e', script], project, env)
      expect(JSON.parse(r.stdout)).toEqual({ native: true, value: { ok: 1 }, api: 'object' })
    })

    test(`import from an .mjs file loads it too, same module instance${label}`, () => {
      fs.writeFileSync(path.join(project, 'check.mjs'), [
        "import { hasNative, HandleRegistry } from 'handle-registry'",
        "import { createRequire } from 'node:module'",
        'const cjs = createRequire(import.meta.url)(\'handle-registry\')',
        'console.log(JSON.stringify({ native: hasNative(), same: cjs.HandleRegistry === HandleRegistry }))',
        '',
      ].join('\n'))
      const r = run(process.execPath, ['check.mjs'], project, env)
      expect(JSON.parse(r.stdout)).toEqual({ native: true, same: true })
    })
  }

  test('the shipped types type-check a TypeScript user (tsc --noEmit, CommonJS and ESM)', () => {
    const user = `
      import { HandleRegistry, hasNative, type Handle, StaleHandleError, type EventHandler, type NativeApi } from 'handle-registry'
      interface Socket { name: string; bytes: number }
      const registry = new HandleRegistry<Socket>()
      const h: Handle<Socket> = registry.register({ name: 's', bytes: 0 })
      registry.get(h).bytes += 1
      const fromNative: number = h
      const s: Socket = registry.get(fromNative as Handle<Socket>)
      // @ts-expect-error a plain number is not a Handle
      registry.get(fromNative)
      // @ts-expect-error the registry holds Sockets
      registry.register('not a socket')
      const onEvent: EventHandler<Socket> = (value, kind, payload, handle) => {
        // payload: a number, or a Uint8Array for byte events (api->post_bytes)
        value.bytes += (typeof payload === 'number' ? payload : payload.length) + kind + handle
      }
      if (hasNative()) registry.onEvent(onEvent, { capacity: 1024, batch: 64 })
      const api: NativeApi = registry.nativeApi
      const e: StaleHandleError | undefined = undefined
      export { s, api, e }
    `
    fs.writeFileSync(path.join(project, 'user.ts'), user)
    fs.writeFileSync(path.join(project, 'user.mts'), user)
    fs.writeFileSync(path.join(project, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        module: 'node16',
        moduleResolution: 'node16',
        lib: ['ES2022', 'esnext.disposable'],
        strict: true,
        noEmit: true,
        skipLibCheck: false, // check the shipped .d.ts files themselves
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        types: ['node'],
      },
      files: ['user.ts', 'user.mts'],
    }, null, 2))
    run(process.execPath, [TSC, '-p', 'tsconfig.json'], project)
  }, 60_000)
})
