// Docs that run: every fenced code block of README.md and docs/*.md is run or
// compiled, as a reader would use it, against this package as installed.
//   - js: run with node (prelude blocks first); partial blocks: node --check.
//   - ts: one strict tsc program for all blocks, then the runnable ones run.
//   - cpp/c: g++ -fsyntax-only against native/include, node-addon-api and the
//     Node headers, with the defines of a real addon (NAPI_VERSION=8,
//     NAPI_DISABLE_CPP_EXCEPTIONS). Partial blocks of a document share one
//     translation unit, each in a namespace of its own, with #line pointing
//     errors at the Markdown line.
//   - file= blocks: a throwaway project (docs/native.md's round trip: its
//     binding.gyp and sensor.cc verbatim) built with node-gyp and run.
//   - python (gyp) fragments: parsed as gyp does, their <!(...) commands run.
//   - sh: every `npm run x` names a script of package.json, every `node f.js` a file.
// `require('handle-registry')` and `import ... from 'handle-registry'` resolve
// through a node_modules/handle-registry symlink to this repository (its
// package.json "exports": dist/), in a work folder under tmp/ (gitignored).
// A runnable JS block must also print what its `console.log(x)  // shown` comments
// show, in order (see shownOutputs).
// Marks: see test/fixtures/doc-blocks.ts. Also checked here: links in shipped
// documents resolve inside the package (or are absolute URLs), and the
// figures README quotes are the ones docs/benchmark.md reports.
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import {
  copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, writeFileSync,
} from 'node:fs'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { extractBlocks, shippedDocs, type DocBlock } from './fixtures/doc-blocks'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURES = path.join(ROOT, 'test', 'fixtures')
const req = createRequire(import.meta.url)
const PKG = JSON.parse(readFileSync(path.join(ROOT, 'package.json'), 'utf8'))
const NODE_GYP = req.resolve('node-gyp/bin/node-gyp.js')
const TSC = req.resolve('typescript/bin/tsc')
const NAPI_INCLUDE = path.dirname(req.resolve('node-addon-api/napi.h'))
const NODE_INCLUDE = [path.join(path.dirname(process.execPath), '..', 'include', 'node'), '/usr/include/node']
  .find((d) => existsSync(path.join(d, 'node_api.h')))
const KNOWN_MARKS = new Set(['partial', 'prelude', 'file', 'run'])

const BLOCKS: DocBlock[] = shippedDocs(ROOT).flatMap((doc) => extractBlocks(ROOT, doc))
const of = (lang: string, pick: (b: DocBlock) => boolean = () => true) =>
  BLOCKS.filter((b) => b.lang === lang && !b.marks.file && pick(b))
const where = (b: DocBlock) => `${b.doc}:${b.line}`

// --- processes -----------------------------------------------------------------

interface Ran { code: number | null; out: string; stdout: string }

function run(cmd: string, args: string[],
  opts: { cwd: string; env?: NodeJS.ProcessEnv; timeout?: number; input?: string }): Promise<Ran> {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: opts.cwd, env: { ...process.env, ...opts.env } })
    child.stdin.end(opts.input ?? '')
    let out = ''
    let stdout = ''
    child.stdout.on('data', (d) => { out += d; stdout += d })
    child.stderr.on('data', (d) => { out += d })
    const timer = setTimeout(() => {
      out += `\n(killed after ${opts.timeout} ms)`
      child.kill('SIGKILL')
    }, opts.timeout ?? 60_000)
    child.on('close', (code) => {
      clearTimeout(timer)
      resolve({ code, out, stdout })
    })
  })
}

/** Memoises an async step shared by several tests. */
function once<T>(fn: () => Promise<T>): () => Promise<T> {
  let p: Promise<T> | undefined
  return () => (p ??= fn())
}

// --- the work folder: a project that has handle-registry installed -------------

let WORK = ''
beforeAll(() => {
  mkdirSync(path.join(ROOT, 'tmp'), { recursive: true })
  WORK = mkdtempSync(path.join(ROOT, 'tmp', 'doc-test-'))
  linkPackages(WORK)
  for (const d of ['js', 'ts', 'cpp']) mkdirSync(path.join(WORK, d))
})
// Failures print the output they need; the built addons stay in tmp/doc-test-cache/.
afterAll(() => { if (WORK) rmSync(WORK, { recursive: true, force: true }) })

function linkPackages(dir: string): void {
  mkdirSync(path.join(dir, 'node_modules'), { recursive: true })
  symlinkSync(ROOT, path.join(dir, 'node_modules', 'handle-registry'), 'dir')
  symlinkSync(path.join(ROOT, 'node_modules', 'node-addon-api'), path.join(dir, 'node_modules', 'node-addon-api'), 'dir')
}

// --- marks -----------------------------------------------------------------------

test('every code block has a language and only known doc-test marks', () => {
  expect(BLOCKS.length).toBeGreaterThan(50)
  const bad = BLOCKS.flatMap((b) => Object.keys(b.marks).filter((m) => !KNOWN_MARKS.has(m)).map((m) => `${where(b)}: ${m}`))
  expect(bad).toEqual([])
})

// --- JavaScript --------------------------------------------------------------------

const isEsm = (code: string) => /^\s*(import\s[^(]|export\s)/m.test(code)

/** The source a JS block runs as: after its document's prelude, in a scope of its own. */
function jsSource(b: DocBlock): { file: string; source: string } {
  const esm = isEsm(b.code)
  const prelude = BLOCKS.find((p) => p.doc === b.doc && p.lang === 'js' && p.marks.prelude && p.line < b.line)
  const source = esm || !prelude || b.marks.prelude
    ? b.code
    : `${prelude.code}{\n${b.code}}\n`
  return { file: path.join(WORK, 'js', `${b.id}.${esm ? 'mjs' : 'js'}`), source }
}

/**
 * The outputs a block shows: the comment after each `console.log(...)`, with
 * its continuation comment lines, without a trailing "(explanation)". Not
 * checked: comments whose explanation says "for example" or "varies", and
 * blocks that branch on hasNative() (their output depends on the mode).
 */
function shownOutputs(code: string): string[] {
  if (/hasNative\(\)/.test(code)) return []
  const lines = code.split('\n')
  const shown: string[] = []
  for (let i = 0; i < lines.length; i++) {
    const m = /console\.log\(.*\)\s*\/\/\s*(.*)$/.exec(lines[i])
    if (!m) continue
    let text = m[1]
    while (i + 1 < lines.length && /^\s*\/\/\s/.test(lines[i + 1])) text += ' ' + lines[++i].replace(/^\s*\/\/\s*/, '')
    const note = /\s+\(([^()]*)\)\s*$/.exec(text)
    if (note && /for example|varies/.test(note[1])) continue
    if (note) text = text.slice(0, note.index)
    shown.push(text.replace(/\s+/g, ' ').trim())
  }
  return shown
}

describe.concurrent('JavaScript blocks', () => {
  for (const b of of('js')) {
    test(`${where(b)}${b.marks.partial ? ' (partial: syntax)' : ''}`, async () => {
      const { file, source } = jsSource(b)
      writeFileSync(file, source)
      const r = b.marks.partial
        ? await run(process.execPath, ['--check', file], { cwd: path.dirname(file) })
        : await run(process.execPath, [file], { cwd: path.dirname(file), timeout: 30_000 })
      expect(r.code, `${where(b)} ${b.marks.partial ? 'does not parse' : 'failed'}:\n${r.out}`).toBe(0)
      if (b.marks.partial) return
      // What the block says it prints, it prints, in that order (whitespace aside).
      const printed = r.stdout.replace(/\s+/g, ' ')
      let at = 0
      for (const want of shownOutputs(b.code)) {
        const found = printed.indexOf(want, at)
        expect(found, `${where(b)} shows "${want}" but printed:\n${r.stdout}`).toBeGreaterThanOrEqual(0)
        at = found + want.length
      }
    })
  }
})

// --- TypeScript: one strict program, then the runnable blocks run ------------------

const tsProgram = once(async () => {
  const dir = path.join(WORK, 'ts')
  for (const b of of('ts')) {
    // Each block is a module of its own, like a file of the reader's project.
    const module = /^\s*(import|export)\s/m.test(b.code) ? '' : 'export {}\n'
    writeFileSync(path.join(dir, `${b.id}.ts`), b.code + module)
  }
  writeFileSync(path.join(WORK, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'commonjs', lib: ['ES2022', 'esnext.disposable'], strict: true,
      types: ['node'], outDir: 'ts-out', rootDir: 'ts', skipLibCheck: true, esModuleInterop: true,
    },
    include: ['ts'],
  }))
  return run(process.execPath, [TSC, '-p', WORK, '--pretty', 'false'], { cwd: WORK, timeout: 120_000 })
})

describe.concurrent('TypeScript blocks', () => {
  for (const b of of('ts')) {
    test(`${where(b)}${b.marks.partial ? ' (partial: type-checked)' : ''}`, async () => {
      const tsc = await tsProgram()
      const mine = tsc.out.split('\n').filter((l) => l.startsWith(`ts/${b.id}.ts(`))
        .map((l) => l.replace(/^ts\/[^(]+\((\d+),/, (_, n) => `${b.doc}(${b.line + Number(n) - 1},`))
      expect(mine, `${where(b)} does not type-check`).toEqual([])
      if (b.marks.partial) return
      const js = path.join(WORK, 'ts-out', `${b.id}.js`)
      const r = await run(process.execPath, [js], { cwd: path.dirname(js), timeout: 30_000 })
      expect(r.code, `${where(b)} failed:\n${r.out}`).toBe(0)
    })
  }
})

// --- C and C++ ----------------------------------------------------------------------

const CXX_FLAGS = [
  '-std=c++17', '-fsyntax-only', '-Wall', '-Wextra',
  `-I${path.join(ROOT, 'native', 'include')}`, `-I${NAPI_INCLUDE}`, `-I${NODE_INCLUDE}`, `-I${FIXTURES}`,
  '-DNAPI_VERSION=8', '-DNAPI_DISABLE_CPP_EXCEPTIONS',
]

/** A partial block in a namespace of its own; `partial=body` blocks inside a function. */
function fragment(b: DocBlock): string {
  const ns = `doc_${b.line}`
  if (b.marks.partial === 'body') {
    return `namespace ${ns} {\nvoid body() {\n#line ${b.line} "${b.doc}"\n${b.code}}\n}  // namespace ${ns}\n`
  }
  // Declarations of the header's own API are written as the reader sees them
  // (hr::attach(...)); redeclared here, unqualified, in a namespace that sees hr.
  const code = b.code.replace(/\bhr::(?=\w)/g, '')
  return `namespace ${ns} {\nusing namespace hr;\n#line ${b.line} "${b.doc}"\n${code}}  // namespace ${ns}\n`
}

/** One g++ per document over all its partial C/C++ blocks. */
const cxxFragments = new Map<string, () => Promise<Ran>>()
function compileFragments(doc: string): Promise<Ran> {
  if (!cxxFragments.has(doc)) {
    cxxFragments.set(doc, once(() => {
      const parts = BLOCKS.filter((b) => b.doc === doc && (b.lang === 'cpp' || b.lang === 'c') && b.marks.partial)
      const file = path.join(WORK, 'cpp', `${doc.replace(/\W+/g, '-')}-fragments.cc`)
      writeFileSync(file, `#include "doc-context.h"\n${parts.map(fragment).join('\n')}`)
      return run('g++', [...CXX_FLAGS, file], { cwd: WORK, timeout: 120_000 })
    }))
  }
  return cxxFragments.get(doc)!()
}

describe.concurrent('C and C++ blocks', () => {
  for (const b of [...of('cpp'), ...of('c')]) {
    test(`${where(b)}${b.marks.partial ? ` (partial${b.marks.partial === 'body' ? ', in a function' : ''})` : ''}`, async () => {
      if (b.marks.partial) {
        const r = await compileFragments(b.doc)
        const last = b.line + b.code.split('\n').length - 1
        const errors = r.out.split('\n').filter((l) => {
          const m = /^([^:]+):(\d+):\d+: (?:fatal )?error/.exec(l)
          return m && m[1] === b.doc && Number(m[2]) >= b.line && Number(m[2]) < last
        })
        expect(errors, `${where(b)} does not compile:\n${r.out.slice(0, 6000)}`).toEqual([])
        // An error that no block's lines explain fails every block of the document.
        expect(r.code === 0 || /error/.test(r.out.split('\n').filter((l) => l.startsWith(`${b.doc}:`)).join('\n')),
          `${b.doc}: the fragments' translation unit failed:\n${r.out.slice(0, 6000)}`).toBe(true)
        return
      }
      const file = path.join(WORK, 'cpp', `${b.id}.cc`)
      writeFileSync(file, `#line ${b.line} "${b.doc}"\n${b.code}`)
      const r = await run('g++', [...CXX_FLAGS, file], { cwd: WORK, timeout: 120_000 })
      expect(r.code, `${where(b)} does not compile:\n${r.out.slice(0, 6000)}`).toBe(0)
    })
  }
})

// --- file= projects: built verbatim with node-gyp, then run -------------------------

const projectDocs = [...new Set(BLOCKS.filter((b) => b.marks.file).map((b) => b.doc))]

/** Builds the project once per content: the .node files are cached under tmp/doc-test-cache/. */
async function buildProject(dir: string, files: string[]): Promise<Ran> {
  const hash = createHash('sha256')
  for (const f of files.sort()) hash.update(f).update(readFileSync(path.join(dir, f)))
  const include = path.join(ROOT, 'native', 'include')
  for (const f of readdirSync(include).sort()) hash.update(f).update(readFileSync(path.join(include, f)))
  hash.update(process.version)
  const cache = path.join(ROOT, 'tmp', 'doc-test-cache', hash.digest('hex').slice(0, 16))
  const release = path.join(dir, 'build', 'Release')
  if (existsSync(cache)) {
    mkdirSync(release, { recursive: true })
    for (const f of readdirSync(cache)) copyFileSync(path.join(cache, f), path.join(release, f))
    return { code: 0, out: `(cached build ${cache})`, stdout: '' }
  }
  const env: NodeJS.ProcessEnv = {}
  if (!process.env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr'
  const r = await run(process.execPath, [NODE_GYP, 'rebuild'], { cwd: dir, env, timeout: 240_000 })
  if (r.code === 0) {
    const tmp = `${cache}.${process.pid}`
    mkdirSync(tmp, { recursive: true })
    for (const f of readdirSync(release).filter((f) => f.endsWith('.node'))) copyFileSync(path.join(release, f), path.join(tmp, f))
    try { renameSync(tmp, cache) } catch { /* another run cached it first */ }
  }
  return r
}

describe('projects made of file= blocks', () => {
  for (const doc of projectDocs) {
    test(`${doc}: its files build and run`, async () => {
      const dir = path.join(WORK, `project-${doc.replace(/\W+/g, '-')}`)
      mkdirSync(dir)
      linkPackages(dir)
      const blocks = BLOCKS.filter((b) => b.doc === doc && b.marks.file)
      const files: string[] = []
      for (const b of blocks) {
        writeFileSync(path.join(dir, String(b.marks.file)), b.code)
        files.push(String(b.marks.file))
      }
      // What the document says the reader has beside its files (the C library).
      for (const f of readdirSync(path.join(FIXTURES, 'doc-project'))) {
        if (!files.includes(f)) copyFileSync(path.join(FIXTURES, 'doc-project', f), path.join(dir, f))
      }
      if (files.includes('binding.gyp')) {
        const built = await buildProject(dir, files)
        expect(built.code, `${doc}: node-gyp rebuild of its binding.gyp failed:\n${built.out.slice(-6000)}`).toBe(0)
      }
      const runs = [...blocks.filter((b) => b.marks.run).map((b) => String(b.marks.file)), 'check.js']
      for (const f of runs) {
        const r = await run(process.execPath, [f], { cwd: dir, timeout: 30_000 })
        expect(r.code, `${doc}: node ${f} failed:\n${r.out}`).toBe(0)
      }
    }, 300_000)
  }
})

// --- gyp fragments -----------------------------------------------------------------

describe.concurrent('binding.gyp fragments', () => {
  for (const b of of('gyp')) {
    test(where(b), async () => {
      // gyp files are Python literals: a fragment is the inside of a target.
      const literal = b.marks.partial ? `{'targets': [{'target_name': 'x',\n${b.code}}]}` : b.code
      const py = await run('python3', ['-c', 'import ast,sys; ast.literal_eval(sys.stdin.read())'], { cwd: WORK, input: literal })
      expect(py.code, `${where(b)} is not a gyp (Python) literal:\n${py.out}`).toBe(0)
      // Each <!(command) must print a path that exists, as gyp would expand it.
      for (const m of b.code.matchAll(/<!\((.*?)\)"/g)) {
        const cmd = m[1].replace(/\\"/g, '"')
        const r = await run('sh', ['-c', cmd], { cwd: WORK })
        const out = r.out.trim().replace(/:[\w]+$/, '') // "file.gyp:target" names a target of a file
        expect(r.code === 0 && existsSync(out), `${where(b)}: ${cmd} gave ${r.out}`).toBe(true)
      }
    })
  }
})

// --- shell --------------------------------------------------------------------------

test('shell blocks name existing npm scripts and files', () => {
  const problems: string[] = []
  for (const b of of('sh')) {
    for (const raw of b.code.split('\n')) {
      const line = raw.replace(/\s#.*$/, '').trim()
      for (const command of line.split(/&&|\|\||;|\|/).map((c) => c.trim().split(/\s+/).filter((w) => !/^\w+=/.test(w)))) {
        if (command[0] === 'npm' && (command[1] === 'test' || command[1] === 't') && !PKG.scripts.test) problems.push(`${where(b)}: npm test`)
        if (command[0] === 'npm' && command[1] === 'run' && !PKG.scripts[command[2]]) problems.push(`${where(b)}: npm run ${command[2]}`)
        if (command[0] === 'node') {
          const file = command.slice(1).find((w) => !w.startsWith('-'))
          if (file && /\.[cm]?js$/.test(file) && !existsSync(path.join(ROOT, file))) problems.push(`${where(b)}: node ${file}`)
        }
      }
    }
  }
  expect(problems).toEqual([])
})

// --- links and figures --------------------------------------------------------------

/** The document's prose: its text without fenced blocks. */
function prose(doc: string): string {
  return readFileSync(path.join(ROOT, doc), 'utf8').replace(/^(\s*)(`{3,})[^\n]*\n[\s\S]*?^\1\2\s*$/gm, '')
}

test('links in shipped documents resolve inside the package, or are absolute URLs', () => {
  const shipped = (rel: string) => PKG.files.some((f: string) => !f.startsWith('!') && (rel === f || rel.startsWith(`${f}/`)))
  const bad: string[] = []
  for (const doc of shippedDocs(ROOT)) {
    for (const m of prose(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const target = m[1]
      if (/^(https?:|mailto:|#)/.test(target)) continue
      const rel = path.relative(ROOT, path.resolve(ROOT, path.dirname(doc), target.replace(/#.*$/, '')))
      if (!existsSync(path.join(ROOT, rel)) || !shipped(rel)) bad.push(`${doc}: ${target}`)
    }
  }
  expect(bad, 'links to files that are not in the tarball: use the repository URL').toEqual([])
})

/** GitHub's anchors for a document's headings: lowercase, punctuation dropped, spaces to '-', repeats -1, -2. */
function anchors(doc: string): Set<string> {
  const seen = new Map<string, number>()
  const out = new Set<string>()
  for (const m of prose(doc).matchAll(/^#{1,6}\s+(.*?)\s*#*\s*$/gm)) {
    const slug = m[1].toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, '').replace(/ /g, '-')
    const n = seen.get(slug) ?? 0
    seen.set(slug, n + 1)
    out.add(n === 0 ? slug : `${slug}-${n}`)
  }
  return out
}

test('links to a heading (#anchor) name a heading of the linked document', () => {
  const repo = /^https:\/\/github\.com\/handle-registry\/handle-registry\/blob\/main\/(.*)$/
  const bad: string[] = []
  for (const doc of shippedDocs(ROOT)) {
    for (const m of prose(doc).matchAll(/\]\(([^)\s]+)\)/g)) {
      const [target, anchor] = m[1].split('#')
      if (anchor === undefined) continue
      const inRepo = repo.exec(target)
      if (/^https?:/.test(target) && !inRepo) continue
      const file = inRepo ? inRepo[1] : target ? path.relative(ROOT, path.resolve(ROOT, path.dirname(doc), target)) : doc
      if (!file.endsWith('.md') || !existsSync(path.join(ROOT, file))) continue
      if (!anchors(file).has(anchor)) bad.push(`${doc}: ${m[1]}`)
    }
  }
  expect(bad, 'anchors that are not a heading of their document (GitHub style)').toEqual([])
})

test('the ratios README quotes are the ones docs/benchmark.md reports', () => {
  const bench = readFileSync(path.join(ROOT, 'docs', 'benchmark.md'), 'utf8')
  const quoted = [...prose('README.md').matchAll(/(\d+(?:\.\d+)?)x (?:faster|slower)/g)].map((m) => `${m[1]}x`)
  expect(quoted.length).toBeGreaterThan(0)
  expect(quoted.filter((q) => !bench.includes(q))).toEqual([])
  const times = [...prose('README.md').matchAll(/(\d+(?:\.\d+)?) ns\b/g)].map((m) => m[1])
  expect(times.filter((t) => !bench.includes(`| ${t} |`))).toEqual([])
})
