// The published package, made the way a publisher makes it: a clean checkout,
// `npm ci`, `npm pack` with no manual build (prepack builds dist/ and the
// prebuild), then installed into a fresh project and used from CommonJS, ESM
// and strict TypeScript (node16, nodenext and bundler resolution).
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import * as fs from 'node:fs'
import * as os from 'node:os'
import * as path from 'node:path'
import { run } from './fixtures/child-process'
import { ROOT, freshProject, packFromCleanCheckout, tarballFiles } from './fixtures/packed'

const TSC = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
const KEEP = process.env.HR_KEEP_TMP === '1' // keep the temp dirs for debugging
const PREBUILD = `prebuilds/${process.platform}-${process.arch}/handle-registry.node`

let tmp = ''
let project = ''
let files: string[] = []

beforeAll(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-package-'))
  const tarball = packFromCleanCheckout(tmp)
  files = tarballFiles(tarball)
  project = freshProject(path.join(tmp, 'project'), 'hr-package-user')
  // --ignore-scripts: no install hook, so no compile; the prebuild must do.
  run('npm', ['install', '--ignore-scripts', '--no-audit', '--no-fund', '--prefer-offline', tarball], project)
}, 240_000)

afterAll(() => {
  if (tmp && !KEEP) fs.rmSync(tmp, { recursive: true, force: true })
})

describe('npm pack from a clean checkout', () => {
  test('the tarball holds the built JavaScript, ESM entry and types', () => {
    for (const f of ['package.json', 'README.md', 'binding.gyp', 'native/handle_registry.gyp', 'scripts/install.js',
      'dist/index.js', 'dist/index.mjs', 'dist/index.d.ts', 'dist/index.d.mts', 'dist/registry.js', 'dist/registry.d.ts',
      'docs/native.md', 'docs/api.md']) {
      expect(files, f).toContain(f)
    }
  })

  test('it carries the public header, the addon sources and the docs', () => {
    for (const dir of ['native/include', 'native/src', 'docs']) {
      for (const e of fs.readdirSync(path.join(ROOT, dir), { withFileTypes: true })) {
        if (e.isFile()) expect(files, `${dir}/${e.name}`).toContain(`${dir}/${e.name}`)
      }
    }
  })

  test('it carries the prebuild for this platform, made by prepack', () => {
    expect(files.filter((f) => f.startsWith('prebuilds/'))).toEqual([PREBUILD])
  })

  test('no test sources, no source maps, no dev files', () => {
    const banned = /^(test|bench|build|examples|src|\.ci|\.github|\.git|native\/test)\/|(^|\/)node_modules\/|\.tgz$|^(tsconfig.*\.json|vitest\.config\.ts|package-lock\.json|build-error\.log)$/
    expect(files.filter((f) => banned.test(f))).toEqual([])
    expect(files.filter((f) => f.endsWith('.map'))).toEqual([])
    expect(files.filter((f) => f.startsWith('scripts/'))).toEqual(['scripts/install.js'])
    const allowed = new Set(['dist', 'native', 'binding.gyp', 'scripts', 'prebuilds', 'docs', 'README.md', 'package.json', 'LICENSE'])
    expect(files.map((f) => f.split('/')[0]).filter((top) => !allowed.has(top))).toEqual([])
  })

  test('the shipped .d.ts files hold no @internal member', () => {
    const dist = path.join(project, 'node_modules', 'handle-registry', 'dist')
    const leaks = fs.readdirSync(dist).filter((f) => /\.d\.m?ts$/.test(f))
      .filter((f) => fs.readFileSync(path.join(dist, f), 'utf8').includes('@internal'))
    expect(leaks).toEqual([])
  })
})

describe('installed from the tarball with --ignore-scripts', () => {
  const installed = () => path.join(project, 'node_modules', 'handle-registry')

  test('nothing was compiled: the prebuild is the only binary', () => {
    expect(fs.existsSync(path.join(installed(), 'build'))).toBe(false)
    expect(fs.existsSync(path.join(installed(), PREBUILD))).toBe(true)
  })

  for (const prebuildsOnly of [false, true]) {
    const env: Record<string, string> = prebuildsOnly ? { PREBUILDS_ONLY: '1' } : {}
    const label = prebuildsOnly ? ' (PREBUILDS_ONLY=1)' : ''

    test(`require() loads the prebuilt addon${label}`, () => {
      const script = `
        const hr = require('handle-registry')
        const r = new hr.HandleRegistry()
        const h = r.register({ ok: 1 })
        console.log(JSON.stringify({ native: hr.hasNative(), value: r.get(h), api: typeof r.nativeApi, include: hr.include_dir }))
      `
      const r = run(process.execPath, ['-e', script], project, env)
      expect(JSON.parse(r.stdout)).toEqual({ native: true, value: { ok: 1 }, api: 'object', include: path.join(installed(), 'native', 'include') })
    })

    test(`import from an .mjs file loads it too, same module instance${label}`, () => {
      fs.writeFileSync(path.join(project, 'check.mjs'), [
        "import hr, { hasNative, HandleRegistry } from 'handle-registry'",
        "import { createRequire } from 'node:module'",
        "const cjs = createRequire(import.meta.url)('handle-registry')",
        'const h = new HandleRegistry().register(7)',
        'console.log(JSON.stringify({ native: hasNative(), same: cjs.HandleRegistry === HandleRegistry && hr === cjs, h: typeof h }))',
        '',
      ].join('\n'))
      const r = run(process.execPath, ['check.mjs'], project, env)
      expect(JSON.parse(r.stdout)).toEqual({ native: true, same: true, h: 'number' })
    })
  }
})

describe('the shipped types, type-checked by the project\'s TypeScript (strict, skipLibCheck off)', () => {
  const user = `
    import { HandleRegistry, HandleDomain, hasNative, type Handle, StaleHandleError, type EventHandler, type NativeApi } from 'handle-registry'
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
    // @internal members are not part of the shipped types
    // @ts-expect-error blockMeta is @internal
    HandleDomain.default.blockMeta(1)
    export { s, api, e }
  `
  // Only an ESM importer sees the default export (the CommonJS module object).
  const esmOnly = `
    import hr from 'handle-registry'
    const viaDefault: typeof import('handle-registry').HandleRegistry = hr.HandleRegistry
    export { viaDefault }
  `

  /**
   * Runs tsc with these options over `sources`; returns, for each source, the
   * handle-registry file that `import ... from 'handle-registry'` resolved to.
   */
  function typeCheck(name: string, options: Record<string, unknown>, sources: Record<string, string>): Record<string, string> {
    const dir = path.join(project, `ts-${name}`)
    fs.mkdirSync(dir, { recursive: true })
    for (const [f, text] of Object.entries(sources)) fs.writeFileSync(path.join(dir, f), text)
    fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
      compilerOptions: {
        target: 'ES2022',
        lib: ['ES2022', 'esnext.disposable'],
        strict: true,
        noEmit: true,
        skipLibCheck: false, // check the shipped .d.ts files themselves
        typeRoots: [path.join(ROOT, 'node_modules', '@types')],
        types: ['node'],
        ...options,
      },
      files: Object.keys(sources),
    }, null, 2))
    const r = run(process.execPath, [TSC, '-p', 'tsconfig.json', '--explainFiles'], dir)
    // --explainFiles: a file's path, then indented lines saying why it was read.
    const resolved: Record<string, string> = {}
    let file = ''
    for (const line of r.stdout.split('\n')) {
      if (!line.startsWith(' ')) file = line.trim().split(path.sep).join('/')
      const m = /^\s+Imported via 'handle-registry' from file '([^']+)'/.exec(line)
      if (m) resolved[path.basename(m[1])] = file.slice(file.indexOf('node_modules/handle-registry/') + 'node_modules/handle-registry/'.length)
    }
    return resolved
  }

  for (const mode of ['node16', 'nodenext'] as const) {
    test(`module ${mode}: a CommonJS .ts and an ESM .mts user; ESM gets index.d.mts`, () => {
      const resolved = typeCheck(mode, { module: mode, moduleResolution: mode },
        { 'user.ts': user, 'user.mts': user + esmOnly })
      expect(resolved).toEqual({ 'user.ts': 'dist/index.d.ts', 'user.mts': 'dist/index.d.mts' })
    }, 60_000)

    test(`module ${mode}: an ESM-only user gets ESM types, not CJS types masquerading as ESM`, () => {
      const resolved = typeCheck(`${mode}-esm`, { module: mode, moduleResolution: mode }, { 'user.mts': user + esmOnly })
      // The import condition leads to index.d.mts (which re-exports index.d.ts).
      expect(resolved).toEqual({ 'user.mts': 'dist/index.d.mts' })
    }, 60_000)
  }

  test('moduleResolution bundler (module esnext) resolves the import condition', () => {
    const resolved = typeCheck('bundler', { module: 'esnext', moduleResolution: 'bundler' }, { 'user.ts': user + esmOnly })
    expect(resolved).toEqual({ 'user.ts': 'dist/index.d.mts' })
  }, 60_000)
})
