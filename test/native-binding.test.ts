// The raw functions of the native addon (native/src), driven by hand the way
// the registry drives them: claim an owner and blocks, publish slot states,
// make handles, post from JS and from real native threads, close under load,
// terminate workers mid-flight, tear down the process's env.
import { describe, test, expect, afterEach, beforeAll } from 'vitest'
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createRequire } from 'node:module'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'
import { Worker } from 'node:worker_threads'
import type { NativeBinding, OwnerToken } from '../src/native'
import {
  B_CLAIMED, B_RETIRED, BLOCKS_BASE, DOMAIN_WORDS, LAYOUT_VERSION, MAGIC, OWNERS_BASE,
  MAX_BLOCKS, PAGE_BITS, SLOT_SPAN, W_LIVE_OWNERS, W_MAGIC, W_NEXT_BLOCK, W_VERSION,
} from '../src/layout'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const FIXTURES = path.join(ROOT, 'test', 'fixtures')

interface ProducerTotals {
  ok: number
  stale: number
  closed: number
  full: number
  invalid: number
  other: number
  posted: number
  retries: number
}
interface Binding extends NativeBinding {
  event_stats(owner: number): ReturnType<NativeBinding['event_stats']> & { pending: number }
}
/** The test-only producer addon (test/producers), attached through the C ABI. */
interface Producers {
  start_producers(handles: Float64Array, threads: number, eventsPerThread: number, kindBase: number,
    retryFull?: boolean, chunk?: number, bytes?: number): number
  post_bytes(handle: number, kind: number, bytes: Uint8Array): number
  producers_done(id: number): boolean
  join_producers(id: number): ProducerTotals
  /** hr::resolve on this thread (resolve_calls.cc). */
  resolve(handle: number): { status: string; value?: unknown; sameEnv: boolean }
}

// hr::Status
const OK = 0
const INVALID = 1
const STALE = 2
const CLOSED = 4
const FULL = 5
const TOO_LARGE = 8
const MAX_BYTES = 65536 // HR_MAX_BYTES

// HANDLE_REGISTRY_ADDON: path of another build of the addon (e.g. the
// sanitizer build of scripts/build-sanitized.sh), used here, by the fixtures
// and by src/native.ts.
const ADDON = process.env.HANDLE_REGISTRY_ADDON
let b: Binding
let p: Producers
let loadError: unknown
try {
  const req = createRequire(import.meta.url)
  b = (ADDON ? req(ADDON) : req('node-gyp-build')(ROOT)) as Binding
  p = req('./fixtures/producers').loadProducers(b.native_api()) as Producers
} catch (err) {
  loadError = err
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms))
const tick = () => new Promise<void>((resolve) => setImmediate(resolve))

async function until(cond: () => boolean, what: string, ms = 10_000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await sleep(1)
  }
}

/** Waits for native producers to finish while the event loop runs, then joins. */
async function finish(id: number): Promise<ProducerTotals> {
  await until(() => p.producers_done(id), 'the producer threads')
  return p.join_producers(id)
}

const handleOf = (block: number, offset: number, gen = 0) => gen * SLOT_SPAN + block * 256 + offset

/** An owner as the registry sets one up: blocks (pages 0..n-1) and a state region. */
interface Owner {
  owner: number
  /** The owner token (claim_owner): what every call that touches the owner's memory takes. */
  token: OwnerToken
  blocks: number[]
  state: Int32Array
  /** Marks (page, offset) live with generation gen (strong, or weak) and returns its handle. */
  live(page: number, offset: number, gen?: number, weak?: boolean): number
  release(): void
}

const open: Owner[] = []

function makeOwner(pages = 1, shard = 0): Owner {
  const { owner, token } = b.claim_owner()
  expect(owner).toBeGreaterThan(0)
  const blocks: number[] = []
  // claim_block answers block + base * 2^20 (base: the first generation to issue).
  for (let p = 0; p < pages; p++) blocks.push(b.claim_block(token, shard, p) % MAX_BLOCKS)
  const o: Owner = {
    owner,
    token,
    blocks,
    state: pages > 0 ? new Int32Array(b.alloc_state(token, pages * 256)) : new Int32Array(0),
    live(page, offset, gen = 0, weak = false) {
      o.state[page * 256 + offset] = (gen << 2) | (weak ? 3 : 1)
      return handleOf(blocks[page]!, offset, gen)
    },
    release() {
      const i = open.indexOf(o)
      if (i >= 0) {
        open.splice(i, 1)
        b.release_owner(token)
      }
    },
  }
  open.push(o)
  return o
}

/** open_events with a recorder of every delivered [handle, kind, payload] (records are [handle, kind, payload, size]). */
function record(o: Owner, capacity = 1024, batchEvents = 256) {
  const batch = new Float64Array(4 * batchEvents)
  const rec = { calls: [] as number[], events: [] as [number, number, number][] }
  b.open_events(o.token, capacity, batch, (n) => {
    rec.calls.push(n)
    for (let i = 0; i < n; i++) rec.events.push([batch[4 * i]!, batch[4 * i + 1]!, batch[4 * i + 2]!])
  })
  return rec
}

function totalDropped(s: ReturnType<Binding['event_stats']>): number {
  return s.droppedStale + s.droppedClosed + s.droppedFull + s.droppedAtClose + s.droppedInvalid + s.droppedTooLarge + s.droppedTimeout
}

afterEach(() => {
  while (open.length > 0) open[open.length - 1]!.release()
})

test('the addon loads (build it with `npx node-gyp rebuild`)', () => {
  if (loadError !== undefined) throw loadError
})

describe.runIf(loadError === undefined)('native binding (raw functions)', () => {
  let words: Int32Array
  beforeAll(() => {
    words = new Int32Array(b.domain_buffer())
  })

  describe('exports and domain', () => {
    test('exports exactly the documented functions', () => {
      // The build without external ArrayBuffers (Electron) adds domain_sync.
      const noExternal = process.env.HANDLE_REGISTRY_NO_EXTERNAL_BUFFERS === '1' ? ['domain_sync'] : []
      expect(Object.keys(b).sort()).toEqual([
        'abi_version', 'alloc_state', 'call_reply', 'cancel_calls', 'claim_block', 'claim_owner', 'close_events',
        'domain_buffer', ...noExternal, 'event_stats', 'is_live', 'native_api', 'note_weak', 'open_events', 'post',
        'publish_values', 'release_owner', 'set_ref', 'set_when_full',
      ])
      expect(b.abi_version).toBe(1)
      const api = b.native_api()
      // An opaque external (typeof 'object', no keys, no prototype): no address is shown to JS.
      expect(typeof api).toBe('object')
      expect(Object.getPrototypeOf(api)).toBe(null)
      expect(Reflect.ownKeys(api)).toEqual([])
      expect(b.native_api()).toBe(api)
    })

    test('domain_buffer: process-wide words, initialised once (MAGIC, LAYOUT_VERSION, NEXT_BLOCK >= 1)', () => {
      const buf = b.domain_buffer()
      expect(buf).toBeInstanceOf(ArrayBuffer)
      expect(buf.byteLength).toBe(DOMAIN_WORDS * 4)
      expect(b.domain_buffer()).toBe(buf) // cached per thread
      expect(Atomics.load(words, W_MAGIC)).toBe(MAGIC)
      expect(Atomics.load(words, W_VERSION)).toBe(LAYOUT_VERSION)
      expect(Atomics.load(words, W_NEXT_BLOCK)).toBeGreaterThanOrEqual(1)
    })

    test('claim_owner / claim_block / release_owner write the documented words', () => {
      const live0 = Atomics.load(words, W_LIVE_OWNERS)
      const next0 = Atomics.load(words, W_NEXT_BLOCK)
      const o = makeOwner(0)
      expect(Atomics.load(words, OWNERS_BASE + o.owner)).toBe(1)
      expect(Atomics.load(words, W_LIVE_OWNERS)).toBe(live0 + 1)
      const blk = b.claim_block(o.token, 5, 7)
      o.blocks.push(blk)
      expect(blk).toBe(next0)
      expect(Atomics.load(words, W_NEXT_BLOCK)).toBe(next0 + 1)
      expect(Atomics.load(words, BLOCKS_BASE + 2 * blk)).toBe((o.owner << PAGE_BITS) | 7)
      expect(Atomics.load(words, BLOCKS_BASE + 2 * blk + 1)).toBe(B_CLAIMED | (5 << 12) | o.owner)
      o.release()
      expect(Atomics.load(words, OWNERS_BASE + o.owner)).toBe(0)
      expect(Atomics.load(words, W_LIVE_OWNERS)).toBe(live0)
      expect(Atomics.load(words, BLOCKS_BASE + 2 * blk)).toBe(0)
      expect(Atomics.load(words, BLOCKS_BASE + 2 * blk + 1)).toBe(B_CLAIMED | B_RETIRED | (5 << 12) | o.owner)
    })

    test('functions taking an owner reject owners that are not open in this thread', () => {
      const o = makeOwner()
      o.release()
      // A released claim's token stays dead, even once its owner index is claimed again.
      const again: Owner[] = []
      while (again.length < 4096 && (again.length === 0 || again[again.length - 1]!.owner !== o.owner)) again.push(makeOwner(0))
      expect(again[again.length - 1]!.owner).toBe(o.owner)
      for (const bad of [() => b.claim_block(o.token, 0, 0), () => b.alloc_state(o.token, 256),
        () => b.close_events(o.token), () => b.release_owner(o.token), () => b.publish_values(o.token, []),
        () => b.note_weak(o.token, 1, {}), () => b.set_ref(o.token, false),
        () => b.call_reply(o.token, 1, 0, 1), () => b.cancel_calls(o.token), () => b.set_when_full(o.token, 1, 0, 0)]) {
        expect(bad).toThrow(expect.objectContaining({ code: 'ERR_REGISTRY_CLOSED' }))
      }
      for (const a of again) a.release()
      // An owner index is not a token: knowing registry.ownerId gives no access to its memory.
      for (const forged of [0, 1, o.owner, 4096, 1n, {}, null, new ArrayBuffer(8), b.native_api()]) {
        for (const bad of [() => b.claim_block(forged as never, 0, 0), () => b.alloc_state(forged as never, 256),
          () => b.close_events(forged as never), () => b.release_owner(forged as never),
          () => b.open_events(forged as never, 64, new Float64Array(4), () => {}),
          () => b.publish_values(forged as never, []), () => b.note_weak(forged as never, 1, {}),
          () => b.set_ref(forged as never, false), () => b.call_reply(forged as never, 1, 0, 1),
          () => b.cancel_calls(forged as never), () => b.set_when_full(forged as never, 1, 0, 0)]) {
          expect(bad).toThrow(expect.objectContaining({ code: 'ERR_INVALID_ARG_TYPE', name: 'TypeError' }))
        }
      }
      const p = makeOwner(0)
      expect(() => b.claim_block(p.token, 256, 0)).toThrow(RangeError)
      expect(() => b.claim_block(p.token, 0, 2 ** 19)).toThrow(RangeError)
      expect(() => b.alloc_state(p.token, 0)).toThrow(RangeError)
      expect(() => b.open_events(p.token, 1, new Float64Array(4), () => {})).toThrow(RangeError)
      expect(() => b.open_events(p.token, 64, new Float64Array(3), () => {})).toThrow(TypeError)
      expect(() => b.open_events(p.token, 64, new Float64Array(4), 5 as never)).toThrow(TypeError)
      expect(() => b.open_events(p.token, 64, new Float64Array(4), () => {}, new Uint8Array(0))).toThrow(TypeError)
      expect(() => b.open_events(p.token, 64, new Float64Array(4), () => {}, new Int8Array(8) as never)).toThrow(TypeError)
      b.open_events(p.token, 64, new Float64Array(4), () => {})
      expect(() => b.open_events(p.token, 64, new Float64Array(4), () => {}))
        .toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }))
      // call_reply: ids JS makes up answer nobody; bad replies and statuses are refused.
      for (const id of [0, 1, 2 ** 53, -1, 0.5, NaN, Infinity]) expect(b.call_reply(p.token, id, 0, 1)).toBe(false)
      expect(b.call_reply(p.token, 7, 0, new Uint8Array(3))).toBe(false)
      expect(b.call_reply(p.token, 7, 14)).toBe(false)
      expect(() => b.call_reply(p.token, 7, 0, 'x' as never)).toThrow(TypeError)
      expect(() => b.call_reply(p.token, 7, 0)).toThrow(TypeError)
      expect(() => b.call_reply(p.token, 7, 99)).toThrow(RangeError)
      expect(() => b.call_reply(p.token, '7' as never, 0, 1)).toThrow(TypeError)
      b.cancel_calls(p.token)
      // set_when_full: codes 0-2 only, integer timeouts and caps; an open path needed.
      for (const bad of [[3, 0, 0], [-1, 0, 0], [0.5, 0, 0], [1, -1, 0], [1, 2 ** 32, 0], [2, 0, -1], [2, 0, 2 ** 53], [NaN, 0, 0]]) {
        expect(() => b.set_when_full(p.token, ...(bad as [number, number, number]))).toThrow(RangeError)
      }
      expect(() => b.set_when_full(p.token, '1' as never, 0, 0)).toThrow(TypeError)
      b.set_when_full(p.token, 2, 0xffffffff, 2 ** 53 - 1)
      b.close_events(p.token)
      expect(() => b.set_when_full(p.token, 1, 0, 0)).toThrow(expect.objectContaining({ code: 'ERR_INVALID_STATE' }))
    })

    test('note_weak plants a weak target only for a handle of the token\'s own owner (api->resolve)', () => {
      const mine = makeOwner()
      const theirs = makeOwner()
      b.publish_values(mine.token, new Array(256).fill(undefined))
      b.publish_values(theirs.token, new Array(256).fill(undefined))
      const h = theirs.live(0, 5, 0, true)
      const planted = { planted: true }
      // Both owners are open on this thread; the handle routes (privately) to `theirs`.
      expect(b.note_weak(mine.token, h, planted)).toBe(INVALID)
      const refused = p.resolve(h)
      expect(refused.status).not.toBe('ok')
      expect(refused.value).toBeUndefined()
      expect(b.note_weak(theirs.token, mine.live(0, 5, 0, true), planted)).toBe(INVALID)
      const target = { target: true }
      expect(b.note_weak(theirs.token, h, target)).toBe(OK)
      expect(p.resolve(h)).toEqual({ status: 'ok', value: target, sameEnv: true })
      expect(b.note_weak(theirs.token, theirs.live(0, 6), {})).toBe(INVALID) // strong: no weak target
    })
  })

  describe('is_live and post statuses', () => {
    test('live strong and weak slots; stale, future and free generations', async () => {
      const o = makeOwner()
      const rec = record(o)
      const strong = o.live(0, 1, 0)
      const weak = o.live(0, 2, 5, true)
      expect(b.is_live(strong)).toBe(true)
      expect(b.is_live(weak)).toBe(true)
      expect(b.post(strong, 1, 10)).toBe(OK)
      expect(b.post(weak, 2, 20)).toBe(OK)

      o.state[1] = (1 << 2) // released: generation 1, free
      expect(b.is_live(strong)).toBe(false)
      expect(b.post(strong, 1, 11)).toBe(STALE)
      const reissued = o.live(0, 1, 1)
      expect(b.is_live(reissued)).toBe(true)
      expect(b.is_live(strong)).toBe(false) // the old generation never resolves again
      expect(b.post(handleOf(o.blocks[0]!, 2, 6), 0, 0)).toBe(STALE) // a generation not issued yet
      expect(b.post(handleOf(o.blocks[0]!, 3, 0), 0, 0)).toBe(STALE) // never-used slot: state 0
      await until(() => rec.events.length === 2, 'deliveries')
      expect(rec.events).toEqual([[strong, 1, 10], [weak, 2, 20]])
      const s = b.event_stats(o.owner)
      expect(s).toMatchObject({ delivered: 2, droppedStale: 3, droppedClosed: 0, droppedFull: 0, droppedInvalid: 0 })
      expect(s.posted).toBe(5)
    })

    test('malformed and never-issued handles are invalid', () => {
      const o = makeOwner()
      const inv0 = b.event_stats(0).droppedInvalid
      const next = Atomics.load(words, W_NEXT_BLOCK)
      const bad = [0, -1, 1.5, NaN, Infinity, 2 ** 53, 2 ** 60, 255, 5 * SLOT_SPAN + 17, handleOf(next + 1000, 0)]
      for (const h of bad) {
        expect(b.is_live(h)).toBe(false)
        expect(b.post(h, 0, 0)).toBe(INVALID)
      }
      expect(b.is_live('1' as never)).toBe(false)
      expect(b.event_stats(0).droppedInvalid).toBe(inv0 + bad.length) // counted process-wide
      // a slot beyond the published state region cannot have been issued
      const small = makeOwner(0)
      const blk = b.claim_block(small.token, 0, 3) % MAX_BLOCKS // page 3, but only 256 state slots
      small.blocks.push(blk)
      small.state = new Int32Array(b.alloc_state(small.token, 256))
      expect(b.post(handleOf(blk, 0), 0, 0)).toBe(INVALID)
      expect(b.event_stats(small.owner).droppedInvalid).toBe(1)
      expect(o.owner).not.toBe(small.owner)
    })

    test('no event path open: a live handle gets registry_closed (counted droppedClosed)', () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      expect(b.is_live(h)).toBe(true)
      expect(b.post(h, 0, 0)).toBe(CLOSED)
      expect(b.event_stats(o.owner)).toMatchObject({ posted: 1, droppedClosed: 1 })
    })

    test('closed registry: handles report registry_closed for ever, even after the owner index is reused', () => {
      const o = makeOwner()
      record(o)
      const h = o.live(0, 9)
      const owner = o.owner
      o.release()
      expect(b.is_live(h)).toBe(false)
      expect(b.post(h, 0, 0)).toBe(CLOSED)
      // Reuse owner indexes until `owner` comes back, with a slot at the same
      // local position live at the same generation: h must stay closed.
      const others: Owner[] = []
      let again: Owner | undefined
      for (let i = 0; i < 4095 && again === undefined; i++) {
        const n = makeOwner()
        n.live(0, 9)
        if (n.owner === owner) again = n
        else others.push(n)
      }
      expect(again).toBeDefined()
      expect(b.post(h, 0, 0)).toBe(CLOSED)
      expect(b.is_live(h)).toBe(false)
      for (const n of others) n.release()
    })

    test('foreign owner: a handle routes to the registry that claimed its block, never another', async () => {
      const a = makeOwner()
      const c = makeOwner()
      const recA = record(a)
      const recC = record(c)
      const ha = a.live(0, 4, 2)
      c.live(0, 4, 2) // same local slot and generation in the other registry
      const hc = handleOf(c.blocks[0]!, 4, 2)
      expect(b.post(ha, 1, 1)).toBe(OK)
      expect(b.post(hc, 2, 2)).toBe(OK)
      a.state[4] = 3 << 2 // a releases its slot: c's state must not keep ha alive
      expect(b.post(ha, 1, 3)).toBe(STALE)
      expect(b.is_live(hc)).toBe(true)
      await until(() => recA.events.length === 1 && recC.events.length === 1, 'deliveries')
      // A marker posted last to each: whatever else was queued arrives before it.
      expect(b.post(hc, 9, 9)).toBe(OK)
      const ha2 = a.live(0, 4, 4) // a reuses its slot: generation 4
      expect(b.post(ha2, 9, 9)).toBe(OK)
      await until(() => recA.events.length === 2 && recC.events.length === 2, 'the markers')
      expect(recA.events).toEqual([[ha, 1, 1], [ha2, 9, 9]])
      expect(recC.events).toEqual([[hc, 2, 2], [hc, 9, 9]])
    })
  })

  describe('events from JS', () => {
    test('posts from one turn arrive in one batch with the right triples', async () => {
      const o = makeOwner(2)
      const rec = record(o, 1024, 256)
      const hs = [o.live(0, 0), o.live(0, 255, 7), o.live(1, 3, 2 ** 25 - 1, true)]
      const sent: [number, number, number][] = [
        [hs[0]!, 0, 0], [hs[1]!, 4294967295, -1.5], [hs[2]!, 42, 1e300], [hs[0]!, 1, Number.MIN_VALUE],
        [hs[1]!, 2, -0], [hs[2]!, 3, NaN],
      ]
      for (const [h, k, p] of sent) expect(b.post(h, k, p)).toBe(OK)
      expect(hs[2]).toBeGreaterThan(2 ** 52) // a heap-number handle round-trips
      expect(rec.calls).toEqual([]) // never synchronously
      await until(() => rec.calls.length > 0, 'a batch')
      expect(rec.calls).toEqual([6]) // the first batch holds all six
      expect(rec.events).toEqual(sent)
      expect(Object.is(rec.events[4]![2], -0)).toBe(true)
      expect(b.event_stats(o.owner)).toMatchObject({ posted: 6, delivered: 6, pending: 0 })
    })

    test('a lone event is delivered within one event-loop turn', async () => {
      const o = makeOwner()
      const rec = record(o)
      const h = o.live(0, 0)
      for (let i = 0; i < 20; i++) {
        b.post(h, 0, i)
        await tick()
        await tick()
        expect(rec.events.length).toBe(i + 1)
      }
    })

    test('more events than the batch holds: several callbacks of at most batch.length/3', async () => {
      const o = makeOwner()
      const rec = record(o, 1024, 4)
      const h = o.live(0, 0)
      for (let i = 0; i < 10; i++) b.post(h, 0, i)
      await until(() => rec.events.length === 10, 'deliveries')
      expect(rec.calls).toEqual([4, 4, 2])
      expect(rec.events.map((e) => e[2])).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
    })

    test('a full queue refuses with queue_full, counted; nothing is lost that was accepted', async () => {
      const o = makeOwner()
      const rec = record(o, 64, 1024)
      const h = o.live(0, 0)
      const st = Array.from({ length: 100 }, (_, i) => b.post(h, 0, i))
      expect(st.slice(0, 64).every((s) => s === OK)).toBe(true)
      expect(st.slice(64).every((s) => s === FULL)).toBe(true)
      await until(() => rec.events.length === 64, 'deliveries')
      expect(b.event_stats(o.owner)).toMatchObject({ posted: 100, delivered: 64, droppedFull: 36 })
    })

    test('close_events drops queued events (droppedAtClose); later posts get registry_closed; reopen works', async () => {
      const o = makeOwner()
      const rec = record(o)
      const h = o.live(0, 0)
      for (let i = 0; i < 5; i++) b.post(h, 0, i)
      b.close_events(o.token)
      expect(b.post(h, 0, 5)).toBe(CLOSED)
      expect(b.event_stats(o.owner)).toMatchObject({ posted: 6, delivered: 0, droppedAtClose: 5, droppedClosed: 1 })
      const rec2 = record(o)
      expect(b.post(h, 0, 6)).toBe(OK)
      await until(() => rec2.events.length === 1, 'delivery after reopening')
      // The wake-up signalled for the closed path has run by now (its loop turn
      // came before the reopened path's): it delivered nothing.
      expect(rec.calls).toEqual([])
      expect(rec2.events).toEqual([[h, 0, 6]])
    })

    test('the callback may close the events or release the owner from inside a batch', async () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      const batch = new Float64Array(4)
      let calls = 0
      b.open_events(o.token, 64, batch, () => {
        calls++
        o.release()
      })
      for (let i = 0; i < 10; i++) b.post(h, 0, i)
      await until(() => calls === 1, 'the first batch')
      // The other 9 were dropped when the callback released the owner: none is left to deliver.
      expect(calls).toBe(1)
      expect(b.post(h, 0, 0)).toBe(CLOSED)
      const s = b.event_stats(o.owner)
      expect(s.delivered).toBe(1)
      expect(s.droppedAtClose).toBe(9)
    })

    test('a throwing callback raises uncaughtException and delivery goes on (child process)', () => {
      const r = spawnSync(process.execPath, [path.join(FIXTURES, 'native-child.js'), 'throw-handled'],
        { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
      expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: '' })
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!)
      expect(out).toMatchObject({ seen: [1, 2, 3, 4, 5], caught: 1, stats: { delivered: 5, posted: 5 } })
    })

    test('a throwing callback without a handler ends the process like any uncaught exception', () => {
      const r = spawnSync(process.execPath, [path.join(FIXTURES, 'native-child.js'), 'throw'],
        { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
      expect(r.signal).toBeNull()
      expect(r.status).toBe(1)
      expect(r.stderr).toContain('boom from the event callback')
    })
  })

  describe('alloc_state', () => {
    test('growing copies the states, detaches the old buffer, and native readers follow', () => {
      const o = makeOwner(2)
      const h = o.live(0, 17, 3)
      const old = o.state
      expect(old.length).toBe(512)
      const grown = new Int32Array(b.alloc_state(o.token, 4096))
      o.state = grown
      expect(old.length).toBe(0) // detached: stale views read nothing
      expect(old.buffer.byteLength).toBe(0)
      expect(grown.length).toBe(4096)
      expect(grown[17]).toBe((3 << 2) | 1)
      expect(b.is_live(h)).toBe(true)
      grown[17] = 4 << 2
      expect(b.is_live(h)).toBe(false)
      const h2 = o.live(1, 200)
      expect(b.is_live(h2)).toBe(true)
    })

    test('release_owner detaches the state buffer', () => {
      const o = makeOwner()
      const st = o.state
      o.release()
      expect(st.length).toBe(0)
    })
  })

  describe('native producer threads', () => {
    test('2 threads x 100k events: per-producer order, nothing lost (retry on full)', async () => {
      const o = makeOwner()
      const batch = new Float64Array(4 * 1024)
      const last = new Map<number, number>()
      let delivered = 0
      let disorder = 0
      b.open_events(o.token, 4096, batch, (n) => {
        delivered += n
        for (let i = 0; i < 4 * n; i += 4) {
          const kind = batch[i + 1]!
          const payload = batch[i + 2]!
          if (payload <= (last.get(kind) ?? -1)) disorder++
          last.set(kind, payload)
        }
      })
      const hs = Float64Array.from({ length: 256 }, (_, i) => o.live(0, i))
      const t = await finish(p.start_producers(hs, 2, 100_000, 10, true))
      expect(t).toMatchObject({ ok: 200_000, posted: 200_000, stale: 0, closed: 0, full: 0, invalid: 0 })
      await until(() => delivered === 200_000, 'all deliveries')
      expect(disorder).toBe(0)
      expect([...last.entries()].sort()).toEqual([[10, 99_999], [11, 99_999]])
      const s = b.event_stats(o.owner)
      expect(s.delivered).toBe(200_000)
      expect(s.droppedFull).toBe(t.retries)
      expect(s.delivered + totalDropped(s)).toBe(s.posted)
    })

    test('post_many (C ABI) in chunks keeps per-producer order under a full queue', async () => {
      const o = makeOwner()
      const batch = new Float64Array(4 * 100)
      const last = new Map<number, number>()
      let delivered = 0
      let disorder = 0
      b.open_events(o.token, 256, batch, (n) => {
        delivered += n
        for (let i = 0; i < 4 * n; i += 4) {
          if (batch[i + 2]! !== (last.get(batch[i + 1]!) ?? -1) + 1) disorder++
          last.set(batch[i + 1]!, batch[i + 2]!)
        }
      })
      const hs = Float64Array.from({ length: 16 }, (_, i) => o.live(0, i))
      const t = await finish(p.start_producers(hs, 2, 100_000, 0, true, 300))
      expect(t).toMatchObject({ ok: 200_000, full: 0 })
      await until(() => delivered === 200_000, 'all deliveries')
      expect(disorder).toBe(0) // with retry, every payload arrives, in order
    })

    test('full-queue policy: capacity 64, no retry: posted == ok + full, drops counted', async () => {
      const o = makeOwner()
      let delivered = 0
      const batch = new Float64Array(4 * 64)
      const last = new Map<number, number>()
      let disorder = 0
      b.open_events(o.token, 64, batch, (n) => {
        delivered += n
        for (let i = 0; i < 4 * n; i += 4) {
          if (batch[i + 2]! <= (last.get(batch[i + 1]!) ?? -1)) disorder++
          last.set(batch[i + 1]!, batch[i + 2]!)
        }
      })
      const hs = Float64Array.from({ length: 4 }, (_, i) => o.live(0, i))
      const t = await finish(p.start_producers(hs, 2, 100_000, 0, false))
      expect(t.posted).toBe(200_000)
      expect(t.ok + t.full).toBe(t.posted)
      expect(t.full).toBeGreaterThan(0)
      await until(() => delivered === t.ok, 'deliveries')
      const s = b.event_stats(o.owner)
      expect(s).toMatchObject({ posted: 200_000, delivered: t.ok, droppedFull: t.full, pending: 0 })
      expect(disorder).toBe(0) // what is delivered keeps its order
    })

    test('mixed handles: stale, invalid and live counted per status', async () => {
      const o = makeOwner()
      let delivered = 0
      b.open_events(o.token, 1 << 16, new Float64Array(4 * 4096), (n) => { delivered += n })
      const live = o.live(0, 1)
      const stale = handleOf(o.blocks[0]!, 1, 1) // generation 1 not issued
      const hs = Float64Array.of(live, stale, 0, live)
      const t = await finish(p.start_producers(hs, 2, 10_000, 0, true))
      expect(t).toMatchObject({ ok: 10_000, stale: 5_000, invalid: 5_000, closed: 0, posted: 20_000 })
      await until(() => delivered === 10_000, 'deliveries')
      expect(b.event_stats(o.owner)).toMatchObject({ delivered: 10_000, droppedStale: 5_000 })
    })

    test('release_owner while 2 threads post at full speed: no crash, registry_closed after, accounting adds up', async () => {
      for (let round = 0; round < 5; round++) {
        const o = makeOwner()
        let delivered = 0
        b.open_events(o.token, 1024, new Float64Array(4 * 256), (n) => { delivered += n })
        const hs = Float64Array.from({ length: 256 }, (_, i) => o.live(0, i))
        const unrouted0 = b.event_stats(0).droppedClosed
        const id = p.start_producers(hs, 2, 2_000_000, 0, false)
        await until(() => delivered > 1000, 'the first deliveries')
        o.release()
        expect(b.post(hs[0]!, 0, 0)).toBe(CLOSED)
        const t = await finish(id)
        expect(t.posted).toBe(4_000_000)
        expect(t.closed).toBeGreaterThan(0)
        expect({ ...t, sum: t.ok + t.full + t.closed }).toMatchObject({ sum: t.posted, stale: 0, invalid: 0, other: 0 })
        const s = b.event_stats(o.owner) // final counters stay readable after release
        expect(s.delivered).toBe(delivered)
        expect(s.delivered + s.droppedAtClose).toBe(t.ok)
        expect(s.droppedFull).toBe(t.full)
        // posts that saw the owner closing count there, later ones process-wide
        expect(s.droppedClosed + (b.event_stats(0).droppedClosed - unrouted0)).toBe(t.closed + 1)
      }
      const again = makeOwner()
      expect(again.owner).toBeGreaterThan(0)
    })
  })

  describe('byte events (post_bytes)', () => {
    /** open_events with an arena; records every event as [handle, kind, payload copy or number, offset]. */
    function recordBytes(o: Owner, arenaBytes = 1 << 20, batchEvents = 256, capacity = 1024) {
      const batch = new Float64Array(4 * batchEvents)
      const arena = new Uint8Array(arenaBytes)
      const rec = { calls: [] as number[], events: [] as { h: number; kind: number; payload: number | Uint8Array; offset?: number }[] }
      b.open_events(o.token, capacity, batch, (n) => {
        rec.calls.push(n)
        for (let i = 0; i < n; i++) {
          const [h, kind, payload, size] = [batch[4 * i]!, batch[4 * i + 1]!, batch[4 * i + 2]!, batch[4 * i + 3]!]
          rec.events.push(size === 0 ? { h, kind, payload }
            : { h, kind, payload: arena.slice(payload, payload + size), offset: payload })
        }
      }, arena)
      return rec
    }
    const bytes = (n: number, seed: number) => Uint8Array.from({ length: n }, (_, i) => (i * 7 + seed) & 255)

    test('bytes arrive intact and in order with numeric events; size 0 is a numeric 0', async () => {
      const o = makeOwner()
      const h = o.live(0, 3)
      const rec = recordBytes(o)
      expect(p.post_bytes(h, 1, bytes(5, 1))).toBe(OK)
      expect(b.post(h, 2, 7.5)).toBe(OK)
      expect(p.post_bytes(h, 3, bytes(MAX_BYTES, 3))).toBe(OK)
      expect(p.post_bytes(h, 4, new Uint8Array(0))).toBe(OK)
      expect(p.post_bytes(h, 5, bytes(1, 5))).toBe(OK)
      await until(() => rec.events.length === 5, 'deliveries')
      expect(rec.events).toEqual([
        { h, kind: 1, payload: bytes(5, 1), offset: 0 },
        { h, kind: 2, payload: 7.5 },
        { h, kind: 3, payload: bytes(MAX_BYTES, 3), offset: 8 }, // offsets are multiples of 8
        { h, kind: 4, payload: 0 },
        { h, kind: 5, payload: bytes(1, 5), offset: 8 + MAX_BYTES },
      ])
      expect(b.event_stats(o.owner)).toMatchObject({ posted: 5, delivered: 5, droppedTooLarge: 0 })
    })

    test('too large (> 64 KiB, or no arena): payload_too_large, counted; handle checks come first', async () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      recordBytes(o)
      expect(p.post_bytes(h, 0, new Uint8Array(MAX_BYTES + 1))).toBe(TOO_LARGE)
      expect(p.post_bytes(handleOf(o.blocks[0]!, 0, 1), 0, new Uint8Array(MAX_BYTES + 1))).toBe(STALE)
      expect(p.post_bytes(0, 0, new Uint8Array(4))).toBe(INVALID)
      expect(b.event_stats(o.owner)).toMatchObject({ droppedTooLarge: 1, droppedStale: 1, posted: 2 })
      // an arena smaller than 64 KiB bounds the size; without one, every byte event is too large
      const small = makeOwner()
      const hs = small.live(0, 0)
      recordBytes(small, 100)
      expect(p.post_bytes(hs, 0, new Uint8Array(100))).toBe(OK)
      expect(p.post_bytes(hs, 0, new Uint8Array(101))).toBe(TOO_LARGE)
      const none = makeOwner()
      const hn = none.live(0, 0)
      const rec = record(none)
      expect(p.post_bytes(hn, 0, new Uint8Array(1))).toBe(TOO_LARGE)
      expect(p.post_bytes(hn, 0, new Uint8Array(0))).toBe(OK)
      await until(() => rec.events.length === 1, 'the numeric event')
      expect(b.event_stats(none.owner)).toMatchObject({ droppedTooLarge: 1, delivered: 1 })
      b.close_events(none.token)
      expect(p.post_bytes(hn, 0, new Uint8Array(1))).toBe(CLOSED)
      none.release()
      expect(p.post_bytes(hn, 0, new Uint8Array(1))).toBe(CLOSED)
    })

    test('a full arena ends the batch; the rest follows in the same wake-up', async () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      const rec = recordBytes(o, 1000, 64) // 300-byte events take 304: three per batch
      for (let i = 0; i < 10; i++) expect(p.post_bytes(h, i, bytes(300, i))).toBe(OK)
      expect(b.post(h, 10, 10)).toBe(OK)
      await new Promise<void>((resolve) => setImmediate(resolve)) // one loop turn
      expect(rec.calls).toEqual([3, 3, 3, 2])
      expect(rec.events.map((e) => e.kind)).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10])
      for (let i = 0; i < 10; i++) expect(rec.events[i]!.payload).toEqual(bytes(300, i))
    })

    test('queued byte events are freed and counted when events close or the owner is released', async () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      recordBytes(o, 1 << 16, 16, 256)
      for (let i = 0; i < 200; i++) p.post_bytes(h, 0, bytes(1000, i))
      const s0 = b.event_stats(o.owner)
      expect(s0).toMatchObject({ pending: 200, droppedFull: 0 })
      expect(p.post_bytes(h, 0, bytes(10, 0))).toBe(OK)
      b.close_events(o.token) // before any delivery: nothing ran on the loop yet
      expect(b.event_stats(o.owner)).toMatchObject({ delivered: 0, droppedAtClose: 201, pending: 0 })
      recordBytes(o, 1 << 16, 16, 256)
      for (let i = 0; i < 300; i++) p.post_bytes(h, 0, bytes(500, i))
      o.release()
      expect(b.event_stats(o.owner)).toMatchObject({ delivered: 0, droppedAtClose: 201 + 256, droppedFull: 44 }) // counters add up per owner
    })

    test('2 threads x 30k mixed byte and numeric events (C ABI): intact, per-producer order', async () => {
      const o = makeOwner()
      const batch = new Float64Array(4 * 512)
      const arena = new Uint8Array(1 << 20)
      const next = [0, 0]
      let delivered = 0
      let bad = 0
      b.open_events(o.token, 1024, batch, (n) => {
        delivered += n
        for (let r = 0; r < 4 * n; r += 4) {
          const t = batch[r + 1]! - 20
          const i = next[t]!++
          const size = batch[r + 3]!
          if (i % 3 === 2) {
            if (size !== 0 || batch[r + 2] !== i) bad++
            continue
          }
          const at = batch[r + 2]!
          const v = arena.subarray(at, at + size)
          let ok = size === 40 && (v[0]! | v[1]! << 8 | v[2]! << 16 | v[3]! << 24) >>> 0 === i && v[4] === t
          for (let j = 5; ok && j < size; j++) ok = v[j] === ((i + j) & 255)
          if (!ok) bad++
        }
      }, arena)
      const hs = Float64Array.from({ length: 16 }, (_, i) => o.live(0, i))
      const t = await finish(p.start_producers(hs, 2, 30_000, 20, true, 1, 40))
      expect(t).toMatchObject({ ok: 60_000, posted: 60_000, other: 0 })
      await until(() => delivered === 60_000, 'all deliveries')
      expect(bad).toBe(0)
      expect(next).toEqual([30_000, 30_000])
    })

    test('posts that find the owner closing are refused and counted to it, never queued', async () => {
      // release_owner marks the owner CLOSED, waits out producers, then retires
      // its blocks in claim order and only then closes the event path. The
      // producers post to the last of 256 blocks: while the other 255 are
      // retired (microseconds), every post sees CLOSED with its block still
      // routed and must get registry_closed, counted in the owner's
      // droppedClosed. An owner admitted while closing would take those posts
      // (queued, then dropped at close) and count almost none there (measured:
      // at most 1 per round with that bug, tens of thousands without it).
      const drops: number[] = []
      for (let round = 0; round < 8; round++) {
        const o = makeOwner(256)
        let delivered = 0
        b.open_events(o.token, 4096, new Float64Array(4 * 1024), (n) => { delivered += n })
        const hs = Float64Array.from({ length: 16 }, (_, i) => o.live(255, i))
        const id = p.start_producers(hs, 2, 2_000_000, 0, false)
        await until(() => delivered > 0, 'the first deliveries')
        o.release()
        const t = await finish(id)
        const s = b.event_stats(o.owner)
        expect(t.ok + t.full + t.closed).toBe(t.posted)
        expect(s.delivered + s.droppedAtClose).toBe(t.ok)
        expect(s.droppedFull).toBe(t.full)
        expect(s.droppedClosed).toBeLessThanOrEqual(t.closed) // the rest found the block retired
        drops.push(s.droppedClosed)
      }
      expect(Math.max(...drops), `droppedClosed per round: ${drops.join(', ')}`).toBeGreaterThan(1000)
    })

    test('owner released while threads post byte events: accounting adds up', async () => {
      const o = makeOwner()
      let delivered = 0
      b.open_events(o.token, 1024, new Float64Array(4 * 256), (n) => { delivered += n }, new Uint8Array(1 << 20))
      const hs = Float64Array.from({ length: 64 }, (_, i) => o.live(0, i))
      const id = p.start_producers(hs, 2, 300_000, 0, false, 1, 64)
      await until(() => delivered > 1000, 'the first deliveries')
      o.release()
      const t = await finish(id)
      expect(t.ok + t.full + t.closed).toBe(t.posted)
      const s = b.event_stats(o.owner)
      expect(s.delivered + s.droppedAtClose).toBe(t.ok)
    })
  })

  describe('env teardown', () => {
    test('workers terminated mid-flight (20 times): owners freed, handles closed, process fine', async () => {
      const baseline = Atomics.load(words, W_LIVE_OWNERS)
      const seen: { owner: number; handle: number }[] = []
      for (let i = 0; i < 20; i++) {
        const w = new Worker(path.join(FIXTURES, 'native-worker.js'),
          { workerData: { mode: 'terminate', events: 3_000_000 } })
        const [info] = await once(w, 'message') as [{ owner: number; handle: number }]
        seen.push(info)
        expect(b.is_live(info.handle)).toBe(true)
        await sleep(i % 5)
        await w.terminate()
        expect(b.is_live(info.handle)).toBe(false)
        expect(b.post(info.handle, 0, 0)).toBe(CLOSED)
      }
      expect(Atomics.load(words, W_LIVE_OWNERS)).toBe(baseline)
      for (const { owner } of seen) expect(Atomics.load(words, OWNERS_BASE + owner)).toBe(0)
      const o = makeOwner()
      const rec = record(o)
      expect(b.post(o.live(0, 0), 3, 3)).toBe(OK)
      await until(() => rec.events.length === 1, 'a delivery after the workers')
    })

    test('workers that end on their own or call process.exit while producers run', async () => {
      const baseline = Atomics.load(words, W_LIVE_OWNERS)
      for (const mode of ['natural', 'exit', 'natural', 'exit']) {
        const w = new Worker(path.join(FIXTURES, 'native-worker.js'), { workerData: { mode, events: 1_000_000 } })
        // Node may emit 'message' and 'exit' in one tick (it drains the port on exit)
        const exited = once(w, 'exit')
        const [info] = await once(w, 'message') as [{ owner: number; handle: number }]
        await exited
        expect(b.post(info.handle, 0, 0)).toBe(CLOSED)
      }
      expect(Atomics.load(words, W_LIVE_OWNERS)).toBe(baseline)
    })

    test('the domain, owners and api table are process-wide (shared with workers)', async () => {
      const o = makeOwner()
      const h = o.live(0, 0)
      const w = new Worker(`
        const { parentPort, workerData } = require('worker_threads')
        const b = workerData.addon ? require(workerData.addon) : require(workerData.gyp)(workerData.root)
        const words = new Int32Array(b.domain_buffer())
        parentPort.postMessage({ api: typeof b.native_api(), owner: Atomics.load(words, workerData.ownerWord), isLive: b.is_live(workerData.h) })
      `, { eval: true, workerData: { addon: ADDON, gyp: createRequire(import.meta.url).resolve('node-gyp-build'), root: ROOT, h, ownerWord: OWNERS_BASE + o.owner } })
      const exited = once(w, 'exit')
      const [msg] = await once(w, 'message') as [{ api: string; owner: number; isLive: boolean }]
      expect(msg).toEqual({ api: 'object', owner: 1, isLive: true })
      await exited
      expect(b.is_live(h)).toBe(true) // the worker's env teardown leaves other threads' owners alone
    })

    test('only workers load the addon, and all end while producers run: the addon stays mapped (child process)', () => {
      const r = spawnSync(process.execPath, [path.join(FIXTURES, 'native-workers-only.js')],
        { cwd: ROOT, encoding: 'utf8', timeout: 60_000 })
      expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
      expect(JSON.parse(r.stdout.trim())).toEqual({ rounds: 30 })
    })

    for (const mode of ['natural', 'exit']) {
      test(`process ${mode === 'exit' ? 'calls process.exit' : 'ends'} while producers run: clean exit`, () => {
        const r = spawnSync(process.execPath, [path.join(FIXTURES, 'native-child.js'), mode],
          { cwd: ROOT, encoding: 'utf8', timeout: 30_000 })
        expect({ status: r.status, signal: r.signal, stderr: r.stderr }).toEqual({ status: 0, signal: null, stderr: '' })
        expect(JSON.parse(r.stdout.trim())).toEqual({ mode, delivered: true })
      })
    }
  })
})
