// The consumer addons of examples/, built and run as a user would: each
// example's files are copied next to a node_modules/ that links this package
// (the layout `npm install` creates in an example folder), built there with
// node-gyp through the one-line include of its binding.gyp, then run:
//   - examples/uv-timer: libuv timers and uv_queue_work (threadpool threads);
//   - examples/posix-timer: glibc POSIX timers calling back on threads glibc
//     creates (SIGEV_THREAD), plus the throughput producers of the demo.
// Checked: events reach registry.onEvent with the right values and order; a
// callback that fires after JS released its handle gets "stale_handle" and
// the handler is not called; one whose registry closed gets
// "registry_closed"; nothing crashes, not even a process that exits with
// timers still armed.
import { describe, test, expect, beforeAll, afterAll } from 'vitest'
import { spawn, spawnSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { createRequire } from 'node:module'
import * as os from 'node:os'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const EXAMPLES = path.join(ROOT, 'examples')
const req = createRequire(import.meta.url)
const NODE_GYP = req.resolve('node-gyp/bin/node-gyp.js')
const LINUX = process.platform === 'linux'

interface Post { handle: number; kind: number; payload: number; status: string; source?: string; jsThread?: boolean; tid?: number }
interface Received { kind: number; payload: number; handle?: number }
interface Case {
  id: string
  posts: Post[]
  received: Received[]
  statuses: Record<string, number>
  values?: Array<{ handle: number; received: Received[] }>
  handlerCalls?: number
  isLive?: { beforeRelease: boolean; afterRelease: boolean }
  threads?: number
  onJsThread?: number
}
interface RunResult { cases: Case[]; stats: Record<string, number>; kinds: Record<string, number> }

let work = '' // temporary folder: node_modules/ with the two links, and a copy of each example
const builds: Record<string, { ok: boolean; output: string; ms: number }> = {}
const dirOf = (name: string) => path.join(work, name)

/**
 * Copies examples/<name> (its files, not build/ or node_modules/) next to a
 * node_modules/ that links handle-registry (this repository) and
 * node-addon-api: the layout `npm install` gives a user, in which the
 * one-line include of binding.gyp (require('handle-registry').include_dir)
 * and index.js's require('handle-registry') resolve. Building a copy keeps
 * this file independent of examples/<name>/build, which `npm run demo` (or
 * another test run) may be rebuilding at the same moment. Then
 * `node-gyp rebuild` in that folder, against the installed Node headers when
 * present (they cannot be downloaded here).
 */
function build(name: string): Promise<void> {
  const dir = dirOf(name)
  mkdirSync(dir)
  for (const f of readdirSync(path.join(EXAMPLES, name), { withFileTypes: true })) {
    if (f.isFile()) copyFileSync(path.join(EXAMPLES, name, f.name), path.join(dir, f.name))
  }
  const env: NodeJS.ProcessEnv = { ...process.env }
  if (!env.npm_config_nodedir && existsSync('/usr/include/node/node_api.h')) env.npm_config_nodedir = '/usr'
  const t0 = Date.now()
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [NODE_GYP, 'rebuild'], { cwd: dir, env })
    let output = ''
    child.stdout.on('data', (d) => { output += d })
    child.stderr.on('data', (d) => { output += d })
    child.on('close', (code) => {
      builds[name] = { ok: code === 0, output, ms: Date.now() - t0 }
      resolve()
    })
  })
}

function expectBuilt(name: string): void {
  const b = builds[name]
  if (!b?.ok) throw new Error(`examples/${name} did not build:\n${b?.output.slice(-4000) ?? '(not attempted)'}`)
}

const byId = (r: RunResult, id: string): Case => {
  const c = r.cases.find((k) => k.id === id)
  if (!c) throw new Error(`no case ${id}`)
  return c
}

/** Runs `node <file>` (or -e code) with the examples' module resolution; returns status and output. */
function runNode(args: string[], cwd: string) {
  const r = spawnSync(process.execPath, args, { cwd, encoding: 'utf8', timeout: 60_000 })
  return { status: r.status, signal: r.signal, out: `${r.stdout}\n${r.stderr}` }
}

beforeAll(async () => {
  work = mkdtempSync(path.join(os.tmpdir(), 'hr-examples-'))
  mkdirSync(path.join(work, 'node_modules'))
  const link = process.platform === 'win32' ? 'junction' : 'dir'
  symlinkSync(ROOT, path.join(work, 'node_modules', 'handle-registry'), link)
  symlinkSync(path.dirname(req.resolve('node-addon-api/package.json')), path.join(work, 'node_modules', 'node-addon-api'), link)
  await Promise.all(['uv-timer', ...(LINUX ? ['posix-timer'] : [])].map(build))
}, 180_000)

afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true })
})

describe('examples/uv-timer (libuv: uv_timer_t, uv_queue_work)', { timeout: 60_000 }, () => {
  let r: RunResult
  beforeAll(async () => {
    expectBuilt('uv-timer')
    r = await req(path.join(dirOf('uv-timer'), 'index.js')).run()
  }, 60_000)

  test('builds from its folder with the one-line include of its binding.gyp', () => {
    expect(builds['uv-timer'].ok).toBe(true)
    expect(existsSync(path.join(dirOf('uv-timer'), 'build', 'Release', 'uv_timer.node'))).toBe(true)
  })

  test('A: a live timer: every tick reaches the handler, in order, posted from the loop thread', () => {
    const a = byId(r, 'A')
    const { TICK, TIMER_DONE } = r.kinds
    expect(a.received).toEqual([1, 2, 3, 4, 5].map((n) => ({ kind: TICK, payload: n })).concat({ kind: TIMER_DONE, payload: 5 }))
    expect(a.statuses).toEqual({ ok: 6 })
    expect(a.posts.every((p) => p.source === 'timer' && p.jsThread === true)).toBe(true)
  })

  test('B: live work: progress posted from a threadpool thread, done from the loop thread', () => {
    const b = byId(r, 'B')
    const { PROGRESS, WORK_DONE } = r.kinds
    expect(b.received).toEqual([
      { kind: PROGRESS, payload: 1 }, { kind: PROGRESS, payload: 2 }, { kind: PROGRESS, payload: 3 },
      { kind: WORK_DONE, payload: 3 },
    ])
    expect(b.statuses).toEqual({ ok: 4 })
    const work = b.posts.filter((p) => p.source === 'work')
    expect(work).toHaveLength(3)
    expect(work.every((p) => p.jsThread === false)).toBe(true)
    expect(b.posts.filter((p) => p.source === 'after_work').map((p) => p.jsThread)).toEqual([true])
  })

  test('C: a timer whose handle was released before it fired gets stale_handle, and stops', () => {
    const c = byId(r, 'C')
    expect(c.posts.map((p) => p.status)).toEqual(['stale_handle'])
    expect(c.received).toEqual([])
  })

  test('D: work whose handle the handler released gets stale_handle on the threadpool and in after-work', () => {
    const d = byId(r, 'D')
    expect(d.received).toEqual([{ kind: r.kinds.PROGRESS, payload: 1 }])
    const work = d.posts.filter((p) => p.source === 'work')
    expect(work[0].status).toBe('ok')
    expect(work.some((p) => p.status === 'stale_handle')).toBe(true)
    expect(work.length).toBeLessThan(3) // the work stopped early
    expect(d.posts.filter((p) => p.source === 'after_work').map((p) => p.status)).toEqual(['stale_handle'])
  })

  test('E: a timer and work of a closed registry get registry_closed', () => {
    const e = byId(r, 'E')
    expect(e.posts.length).toBe(3) // timer tick, first work step, after-work
    expect(e.statuses).toEqual({ registry_closed: 3 })
    expect(e.received).toEqual([])
    expect(e.handlerCalls).toBe(0)
  })

  test('the registry counts match: every delivered event handled, refused posts counted', () => {
    const s = r.stats
    expect(s.delivered).toBe(s.handled + s.droppedReleased)
    expect(s.handled).toBe(11) // A 6 + B 4 + D 1
    expect(s.droppedStale).toBeGreaterThanOrEqual(3) // C, D work, D after-work
    expect(s.pending).toBe(0)
  })

  test('index.js runs as a program and exits cleanly', () => {
    const p = runNode(['index.js'], dirOf('uv-timer'))
    expect(p.signal, p.out).toBeNull()
    expect(p.status, p.out).toBe(0)
    expect(p.out).toContain('stale_handle')
    expect(p.out).toContain('registry_closed')
  })
})

describe.runIf(LINUX)('examples/posix-timer (glibc timer_create, SIGEV_THREAD)', { timeout: 60_000 }, () => {
  let r: RunResult
  let lib: any
  beforeAll(async () => {
    expectBuilt('posix-timer')
    const example = req(path.join(dirOf('posix-timer'), 'index.js'))
    lib = example.load()
    r = await example.run({ timers: 4, ticks: 10, intervalMs: 5 })
  }, 60_000)

  test('builds from its folder with the one-line include of its binding.gyp', () => {
    expect(builds['posix-timer'].ok).toBe(true)
    expect(existsSync(path.join(dirOf('posix-timer'), 'build', 'Release', 'posix_timer.node'))).toBe(true)
  })

  test('A: every expiration reaches the handler with its own value, in order, from glibc threads', () => {
    const a = byId(r, 'A')
    const { TICK, DONE } = r.kinds
    expect(a.values).toHaveLength(4)
    for (const v of a.values!) {
      const expected = Array.from({ length: 10 }, (_, i) => ({ kind: TICK, payload: i + 1, handle: v.handle }))
      expect(v.received).toEqual([...expected, { kind: DONE, payload: 10, handle: v.handle }])
    }
    expect(a.statuses).toEqual({ ok: 44 })
    expect(a.onJsThread).toBe(0) // glibc's threads, never the JS thread
    expect(a.threads).toBeGreaterThan(1) // a new thread per expiration
  })

  test('B: a timer whose handle was released before it fired gets stale_handle; the addon deletes it', () => {
    const b = byId(r, 'B')
    expect(b.posts.map((p) => p.status)).toEqual(['stale_handle'])
    expect(b.posts[0].tid).not.toBe(process.pid)
    expect(b.received).toEqual([])
    expect(b.isLive).toEqual({ beforeRelease: true, afterRelease: false })
    expect(lib.active()).toBe(0)
  })

  test('C: a timer of a registry closed before it fired gets registry_closed', () => {
    const c = byId(r, 'C')
    expect(c.posts.map((p) => p.status)).toEqual(['registry_closed'])
    expect(c.received).toEqual([])
    expect(c.handlerCalls).toBe(0)
  })

  test('the registry counts match', () => {
    const s = r.stats
    expect(s.handled).toBe(44)
    expect(s.droppedStale).toBe(1)
    expect(s.delivered).toBe(s.handled + s.droppedReleased)
    expect(s.pending).toBe(0)
  })

  test('throughput producers: post, post_many and both TSFN baselines deliver every event in order', async () => {
    const { compareThroughput } = req(path.join(dirOf('posix-timer'), 'index.js'))
    const { methods } = await compareThroughput({ events: 50_000, rounds: 1 })
    expect(methods.map((m: any) => m.id)).toEqual(['tsfn', 'tsfn_typed', 'post', 'post_many'])
    for (const m of methods) {
      expect({ id: m.id, received: m.received, sumOk: m.sumOk, inOrder: m.inOrder, failed: m.producer.failed })
        .toEqual({ id: m.id, received: 50_000, sumOk: true, inOrder: true, failed: 0 })
      expect(m.nsPerEvent).toBeGreaterThan(0)
    }
  })

  test('a process that exits with timers still armed and handles released exits cleanly', () => {
    const code = `
      const { HandleRegistry } = require(${JSON.stringify(path.join(ROOT, 'dist', 'index.js'))})
      const lib = require(${JSON.stringify(path.join(dirOf('posix-timer'), 'build', 'Release', 'posix_timer.node'))})
      const registry = new HandleRegistry()
      // Closes and exits once 32 timer events arrived: the timers are still armed.
      const keepAlive = setInterval(() => {}, 1000)
      let events = 0
      registry.onEvent(() => {
        if (++events !== 32) return
        clearInterval(keepAlive)
        setImmediate(() => { registry.close(); setImmediate(() => process.exit(0)) })
      })
      lib.attach(registry)
      for (let i = 0; i < 32; i++) {
        const h = registry.register({ i })
        lib.start(h, 1, 1, 1000000)
        if (i % 2) registry.release(h)
      }
    `
    const p = runNode(['-e', code], ROOT)
    expect(p.signal, p.out).toBeNull()
    expect(p.status, p.out).toBe(0)
  })

  test('index.js runs as a program and exits cleanly', () => {
    const p = runNode(['index.js'], dirOf('posix-timer'))
    expect(p.signal, p.out).toBeNull()
    expect(p.status, p.out).toBe(0)
    expect(p.out).toContain('stale_handle')
    expect(p.out).toContain('registry_closed')
  })
})
