// Model-based property test: the registry against a reference model
// (a Map of live handle -> value plus the set of released handles).
import { test, expect } from 'vitest'
import fc from 'fast-check'
import { HandleRegistry } from '../src/index'
import type { Handle } from '../src/index'
import { MALFORMED, codeOf, describeValue, sum } from './fixtures/helpers'

const GEN_UNIT = 2 ** 28

interface Model {
  shards: number
  live: Map<number, unknown>
  released: Set<number>
  issued: number[] // every handle ever issued, in order
  closed: boolean
  registrations: number
  releases: number
  staleLookups: number
  invalidLookups: number
}
type Real = HandleRegistry<unknown>
type Cmd = fc.Command<Model, Real>

function newModel(shards: number): Model {
  return {
    shards, live: new Map(), released: new Set(), issued: [], closed: false,
    registrations: 0, releases: 0, staleLookups: 0, invalidLookups: 0,
  }
}

function pick<T>(xs: readonly T[], i: number): T {
  return xs[i % xs.length]!
}

function checkSize(m: Model, r: Real): void {
  expect(r.closed).toBe(m.closed)
  expect(r.size).toBe(m.closed ? 0 : m.live.size)
}

function doRegister(m: Model, r: Real, value: unknown): void {
  if (m.closed) {
    expect(codeOf(() => r.register(value))).toBe('ERR_REGISTRY_CLOSED')
    return
  }
  const h = r.register(value)
  expect(Number.isSafeInteger(h) && h >= 1).toBe(true)
  // never issued before, not even a released one
  expect(m.live.has(h) || m.released.has(h)).toBe(false)
  m.live.set(h, value)
  m.issued.push(h)
  m.registrations++
}

function doRelease(m: Model, r: Real, h: number): void {
  if (m.closed) {
    expect(codeOf(() => r.release(h as Handle<unknown>))).toBe('ERR_REGISTRY_CLOSED')
  } else if (m.live.has(h)) {
    expect(r.release(h as Handle<unknown>)).toBe(m.live.get(h))
    m.live.delete(h)
    m.released.add(h)
    m.releases++
  } else {
    expect(codeOf(() => r.release(h as Handle<unknown>))).toBe('ERR_HANDLE_STALE')
    m.staleLookups++
  }
}

class RegisterCmd implements Cmd {
  constructor(readonly value: unknown) {}
  check(): boolean { return true }
  run(m: Model, r: Real): void {
    doRegister(m, r, this.value)
    checkSize(m, r)
  }
  toString(): string { return `register(${fc.stringify(this.value)})` }
}

class RegisterManyCmd implements Cmd {
  constructor(readonly n: number) {}
  check(): boolean { return true }
  run(m: Model, r: Real): void {
    for (let i = 0; i < this.n; i++) doRegister(m, r, { bulk: i })
    checkSize(m, r)
  }
  toString(): string { return `registerMany(${this.n})` }
}

class ReleaseCmd implements Cmd {
  constructor(readonly i: number) {}
  check(m: Readonly<Model>): boolean { return m.issued.length > 0 }
  run(m: Model, r: Real): void {
    doRelease(m, r, pick(m.issued, this.i))
    checkSize(m, r)
  }
  toString(): string { return `release(issued[${this.i}])` }
}

class ReleaseSomeCmd implements Cmd {
  // releases every `step`-th live handle
  constructor(readonly step: number) {}
  check(m: Readonly<Model>): boolean { return !m.closed && m.live.size > 0 }
  run(m: Model, r: Real): void {
    const hs = [...m.live.keys()].filter((_, i) => i % this.step === 0)
    for (const h of hs) doRelease(m, r, h)
    checkSize(m, r)
  }
  toString(): string { return `releaseEvery(${this.step})` }
}

class GetCmd implements Cmd {
  constructor(readonly i: number) {}
  check(m: Readonly<Model>): boolean { return m.issued.length > 0 }
  run(m: Model, r: Real): void {
    const h = pick(m.issued, this.i) as Handle<unknown>
    if (m.closed) {
      expect(codeOf(() => r.get(h))).toBe('ERR_REGISTRY_CLOSED')
    } else if (m.live.has(h)) {
      expect(r.get(h)).toBe(m.live.get(h))
    } else {
      expect(codeOf(() => r.get(h))).toBe('ERR_HANDLE_STALE')
      m.staleLookups++
    }
    checkSize(m, r)
  }
  toString(): string { return `get(issued[${this.i}])` }
}

class HasCmd implements Cmd {
  constructor(readonly i: number) {}
  check(m: Readonly<Model>): boolean { return m.issued.length > 0 }
  run(m: Model, r: Real): void {
    const h = pick(m.issued, this.i)
    const live = !m.closed && m.live.has(h)
    expect(r.has(h)).toBe(live)
    if (!m.closed && !live) m.staleLookups++
    checkSize(m, r)
  }
  toString(): string { return `has(issued[${this.i}])` }
}

class TryGetCmd implements Cmd {
  constructor(readonly i: number) {}
  check(m: Readonly<Model>): boolean { return m.issued.length > 0 }
  run(m: Model, r: Real): void {
    const h = pick(m.issued, this.i)
    const live = !m.closed && m.live.has(h)
    expect(r.tryGet(h)).toBe(live ? m.live.get(h) : undefined)
    if (!m.closed && !live) m.staleLookups++
    checkSize(m, r)
  }
  toString(): string { return `tryGet(issued[${this.i}])` }
}

type Op = 'get' | 'release' | 'has' | 'tryGet'

function expectInvalid(r: Real, op: Op, h: unknown): void {
  switch (op) {
    case 'get': expect(codeOf(() => r.get(h as Handle<unknown>))).toBe('ERR_HANDLE_INVALID'); break
    case 'release': expect(codeOf(() => r.release(h as Handle<unknown>))).toBe('ERR_HANDLE_INVALID'); break
    case 'has': expect(r.has(h)).toBe(false); break
    case 'tryGet': expect(r.tryGet(h)).toBeUndefined(); break
  }
}

class MalformedCmd implements Cmd {
  constructor(readonly bad: unknown, readonly op: Op) {}
  check(m: Readonly<Model>): boolean { return !m.closed }
  run(m: Model, r: Real): void {
    expectInvalid(r, this.op, this.bad)
    m.invalidLookups++
    checkSize(m, r)
  }
  toString(): string { return `${this.op}(${describeValue(this.bad)})` }
}

class NewerGenerationCmd implements Cmd {
  // a live handle's slot at a generation that was never issued
  constructor(readonly i: number, readonly op: Op) {}
  check(m: Readonly<Model>): boolean { return !m.closed && m.live.size > 0 }
  run(m: Model, r: Real): void {
    const h = pick([...m.live.keys()], this.i)
    expectInvalid(r, this.op, h + GEN_UNIT)
    m.invalidLookups++
    expect(r.get(h as Handle<unknown>)).toBe(m.live.get(h))
    checkSize(m, r)
  }
  toString(): string { return `${this.op}(live[${this.i}] + 2^28)` }
}

class StatsCmd implements Cmd {
  check(m: Readonly<Model>): boolean { return !m.closed }
  run(m: Model, r: Real): void {
    const s = r.stats()
    expect(s).toMatchObject({
      live: m.live.size,
      registrations: m.registrations,
      releases: m.releases,
      staleLookups: m.staleLookups,
      invalidLookups: m.invalidLookups,
      foreignLookups: 0,
      collected: 0,
      retired: 0,
    })
    expect(s.shards).toHaveLength(m.shards)
    expect(sum(s.shards)).toBe(m.live.size)
    checkSize(m, r)
  }
  toString(): string { return 'stats()' }
}

class IterateCmd implements Cmd {
  check(): boolean { return true }
  run(m: Model, r: Real): void {
    const entries = [...r]
    const expected = m.closed ? 0 : m.live.size
    expect(entries).toHaveLength(expected)
    for (const [h, v] of entries) {
      expect(m.live.has(h)).toBe(true)
      expect(v).toBe(m.live.get(h))
    }
    expect(new Set(entries.map(([h]) => h)).size).toBe(expected)
    checkSize(m, r)
  }
  toString(): string { return 'iterate' }
}

class CloseCmd implements Cmd {
  check(): boolean { return true }
  run(m: Model, r: Real): void {
    r.close()
    m.closed = true
    checkSize(m, r)
    for (const h of m.issued) {
      expect(r.has(h)).toBe(false)
      expect(r.tryGet(h)).toBeUndefined()
    }
  }
  toString(): string { return 'close()' }
}

const sharedObject = { shared: true }
const sharedFunction = (): number => 0
const valueArb: fc.Arbitrary<unknown> = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.string({ maxLength: 4 }),
  fc.boolean(),
  fc.bigInt(),
  fc.constant(null),
  fc.constant(undefined),
  fc.constantFrom<unknown>(sharedObject, sharedFunction),
  fc.record({ a: fc.integer() }),
  fc.func(fc.integer()),
)
const opArb = fc.constantFrom<Op>('get', 'release', 'has', 'tryGet')

const commandArbs = [
  valueArb.map((v) => new RegisterCmd(v)),
  valueArb.map((v) => new RegisterCmd(v)),
  fc.nat().map((i) => new GetCmd(i)),
  fc.nat().map((i) => new ReleaseCmd(i)),
  fc.nat().map((i) => new ReleaseCmd(i)),
  fc.nat().map((i) => new HasCmd(i)),
  fc.nat().map((i) => new TryGetCmd(i)),
  fc.tuple(fc.constantFrom(...MALFORMED), opArb).map(([bad, op]) => new MalformedCmd(bad, op)),
  fc.tuple(fc.nat(), opArb).map(([i, op]) => new NewerGenerationCmd(i, op)),
  // close is rare (1 in 12 of this arbitrary) so that most runs exercise an open registry for long
  fc.nat(11).map((n): Cmd => (n === 0 ? new CloseCmd() : n % 2 === 0 ? new StatsCmd() : new IterateCmd())),
]

function runModel(shards: number, cmds: Iterable<Cmd>): void {
  const real = new HandleRegistry<unknown>({ shards })
  const model = newModel(shards)
  try {
    fc.modelRun(() => ({ model, real }), cmds)
    // final full check of every counter before closing
    if (!model.closed) new StatsCmd().run(model, real)
  } finally {
    real.close()
  }
}

test('registry behaves like the reference model (2000 runs, short sequences, shards 1/2/16)', () => {
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 16), fc.commands(commandArbs, { maxCommands: 30 }), (shards, cmds) => {
      runModel(shards, cmds)
    }),
    { numRuns: 2000 },
  )
}, 60_000)

test('registry behaves like the reference model with bulk registrations crossing blocks (150 runs)', () => {
  const bulk = [
    ...commandArbs,
    fc.integer({ min: 1, max: 300 }).map((n) => new RegisterManyCmd(n)),
    fc.integer({ min: 1, max: 3 }).map((s) => new ReleaseSomeCmd(s)),
  ]
  fc.assert(
    fc.property(fc.constantFrom(1, 2, 16), fc.commands(bulk, { maxCommands: 60 }), (shards, cmds) => {
      runModel(shards, cmds)
    }),
    { numRuns: 150 },
  )
}, 60_000)
