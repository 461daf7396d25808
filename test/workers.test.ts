// Registries on several worker_threads joined to one domain mint distinct
// handles and reject each other's as foreign. Workers run the built package.
import { describe, test, expect } from 'vitest'
import { Worker } from 'node:worker_threads'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HandleDomain, HandleRegistry, InvalidOptionError } from '../src/index'
import type { Handle } from '../src/index'
import { codeOf, errorOf } from './fixtures/helpers'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURE = path.join(ROOT, 'test', 'fixtures', 'worker-register.js')
const WORKERS = 4
const PER_THREAD = 100_000

type Msg = { type: string; [k: string]: unknown }

/** Queue of a worker's messages; rejects on worker error or early exit. */
class Channel {
  private queue: Msg[] = []
  private waiters: Array<{ resolve: (m: Msg) => void; reject: (e: unknown) => void }> = []
  private failure: unknown
  readonly exited: Promise<number>

  constructor(readonly worker: Worker) {
    worker.on('message', (m: Msg) => {
      const w = this.waiters.shift()
      if (w) w.resolve(m)
      else this.queue.push(m)
    })
    worker.on('error', (e) => this.fail(e))
    this.exited = new Promise((resolve) => worker.on('exit', (code) => {
      this.fail(new Error(`worker exited with code ${code} while a message was awaited`))
      resolve(code)
    }))
  }

  private fail(e: unknown): void {
    this.failure ??= e
    for (const w of this.waiters.splice(0)) w.reject(e)
  }

  async next(type: string): Promise<Msg> {
    const m = this.queue.shift() ?? await new Promise<Msg>((resolve, reject) => {
      if (this.failure !== undefined) reject(this.failure)
      else this.waiters.push({ resolve, reject })
    })
    if (m.type !== type) throw new Error(`expected a '${type}' message, got ${JSON.stringify(m)}`)
    return m
  }
}

describe('worker_threads sharing one domain', () => {
  test('4 workers + main register 100k each: 500k distinct handles, each registry rejects the others\' as ERR_HANDLE_FOREIGN', async () => {
    const domain = HandleDomain.create()
    const main = new HandleRegistry<{ main: number }>({ domain })
    const channels = Array.from({ length: WORKERS }, (_, id) =>
      new Channel(new Worker(FIXTURE, { workerData: { buffer: domain.buffer, count: PER_THREAD, id } })))
    try {
      const ready = await Promise.all(channels.map((c) => c.next('ready')))
      const workerOwners = ready.map((m) => m.ownerId as number)
      expect(new Set([main.ownerId, ...workerOwners]).size).toBe(WORKERS + 1)
      expect(domain.stats().liveOwners).toBe(WORKERS + 1)

      // all threads register at the same time
      for (const c of channels) c.worker.postMessage({ type: 'go' })
      const mainHandles = new Float64Array(PER_THREAD)
      for (let i = 0; i < PER_THREAD; i++) mainHandles[i] = main.register({ main: i })
      const done = await Promise.all(channels.map((c) => c.next('done')))

      const all = new Set<number>(mainHandles)
      for (const [w, m] of done.entries()) {
        const hs = m.handles as Float64Array
        expect(hs).toBeInstanceOf(Float64Array)
        expect(hs.length).toBe(PER_THREAD)
        expect(m.ownOk).toBe(m.ownChecked)
        expect(m.ownerId).toBe(workerOwners[w])
        for (const h of hs) all.add(h)
      }
      expect(all.size).toBe((WORKERS + 1) * PER_THREAD)
      for (const h of all) {
        if (!Number.isSafeInteger(h) || h < 1) expect(h).toBe('a positive safe integer')
      }

      // main rejects every worker handle; the domain knows which worker minted each
      for (const [w, m] of done.entries()) {
        const hs = m.handles as Float64Array
        let hasTrue = 0
        let ownerMismatch = 0
        for (const h of hs) {
          if (main.has(h)) hasTrue++
          if (domain.ownerOf(h) !== workerOwners[w]) ownerMismatch++
        }
        expect({ w, hasTrue, ownerMismatch }).toEqual({ w, hasTrue: 0, ownerMismatch: 0 })
        for (let i = 0; i < hs.length; i += 1000) {
          const h = hs[i]! as Handle<{ main: number }>
          expect(codeOf(() => main.get(h))).toBe('ERR_HANDLE_FOREIGN')
          expect(codeOf(() => main.release(h))).toBe('ERR_HANDLE_FOREIGN')
          expect(main.tryGet(h)).toBeUndefined()
        }
      }
      // main's own handles all resolve to its own values
      for (let i = 0; i < PER_THREAD; i++) {
        if (main.get(mainHandles[i] as Handle<{ main: number }>).main !== i) expect(i).toBe('resolvable')
      }

      // each worker checks a sample of the main thread's handles
      const sample = new Float64Array(1000)
      for (let i = 0; i < sample.length; i++) sample[i] = mainHandles[i * 100]!
      for (const c of channels) c.worker.postMessage({ type: 'check', sample, mainOwnerId: main.ownerId })
      const checked = await Promise.all(channels.map((c) => c.next('checked')))
      for (const r of checked) {
        expect(r).toMatchObject({
          n: 1000, codes: { ERR_HANDLE_FOREIGN: 1000 }, getForeign: 1000, releaseForeign: 1000,
          hasFalse: 1000, tryGetUndefined: 1000, ownerMatches: 1000, foreignLookups: 4000, closed: true,
        })
      }
      const exitCodes = await Promise.all(channels.map((c) => c.exited))
      expect(exitCodes).toEqual(new Array(WORKERS).fill(0))

      // worker registries are closed now: their handles stay foreign for ever
      expect(domain.stats().liveOwners).toBe(1)
      for (const m of done) {
        const hs = m.handles as Float64Array
        for (let i = 0; i < hs.length; i += 5000) {
          expect(codeOf(() => main.get(hs[i]! as Handle<{ main: number }>))).toBe('ERR_HANDLE_FOREIGN')
          expect(main.has(hs[i]!)).toBe(false)
        }
      }
      expect(main.size).toBe(PER_THREAD)
    } finally {
      await Promise.all(channels.map((c) => c.worker.terminate()))
      main.close()
    }
  }, 60_000)
})

describe('HandleDomain.attach', () => {
  test('a non-domain buffer throws InvalidOptionError (ERR_INVALID_OPTION)', () => {
    const real = HandleDomain.create()
    const sameSizeZeroed = new SharedArrayBuffer(real.buffer.byteLength)
    const wrongVersion = new SharedArrayBuffer(real.buffer.byteLength)
    new Int32Array(wrongVersion).set(new Int32Array(real.buffer, 0, 16))
    new Int32Array(wrongVersion)[1] = 999 // LAYOUT_VERSION
    const truncated = new SharedArrayBuffer(64 * 1024)
    new Int32Array(truncated).set(new Int32Array(real.buffer, 0, 16))
    const notDomains: Array<[string, unknown]> = [
      ['small SharedArrayBuffer', new SharedArrayBuffer(1024)],
      ['empty SharedArrayBuffer', new SharedArrayBuffer(0)],
      ['zeroed SharedArrayBuffer of the domain size', sameSizeZeroed],
      ['domain header with another layout version', wrongVersion],
      ['truncated copy of a domain header', truncated],
      ['ArrayBuffer', new ArrayBuffer(real.buffer.byteLength)],
      ['plain object', {}],
      ['undefined', undefined],
    ]
    for (const [name, buf] of notDomains) {
      const e = errorOf(() => HandleDomain.attach(buf as SharedArrayBuffer))
      expect({ name, code: e.code }).toEqual({ name, code: 'ERR_INVALID_OPTION' })
      expect(e).toBeInstanceOf(InvalidOptionError)
      expect(e.message.startsWith('handle-registry: ')).toBe(true)
    }
  })

  test('attaching a real domain buffer in the same thread joins that domain', () => {
    const d = HandleDomain.create()
    const view = HandleDomain.attach(d.buffer)
    expect(view.buffer).toBe(d.buffer)
    const a = new HandleRegistry({ domain: d })
    const b = new HandleRegistry({ domain: view })
    expect(a.ownerId).not.toBe(b.ownerId)
    expect(d.stats().liveOwners).toBe(2)
    expect(view.stats().liveOwners).toBe(2)
    const ha = Array.from({ length: 1000 }, (_, i) => a.register(i))
    const hb = Array.from({ length: 1000 }, (_, i) => b.register(i))
    expect(new Set([...ha, ...hb]).size).toBe(2000)
    expect(codeOf(() => b.get(ha[0]!))).toBe('ERR_HANDLE_FOREIGN')
    expect(codeOf(() => a.get(hb[0]!))).toBe('ERR_HANDLE_FOREIGN')
    expect(view.ownerOf(ha[0]!)).toBe(a.ownerId)
    expect(d.ownerOf(hb[0]!)).toBe(b.ownerId)
    a.close()
    b.close()
    expect(d.stats().liveOwners).toBe(0)
  })
})
