'use strict'
// Turns bench/results/*.json into self-contained SVG bar charts in docs/:
//   registry.json   -> docs/bench-registry.svg, and (issue 11 regimes, if
//                      present) docs/bench-lifecycle.svg, docs/bench-weak.svg
//   producers.json  -> docs/bench-producers.svg    (if present)
//   memory.json     -> docs/bench-memory.svg
//   native-map.json -> docs/bench-native-map.svg   (if present)
//   events.json     -> docs/bench-events.svg       (if present)
//   calls.json      -> docs/bench-calls.svg        (if present)
// Hand-written SVG strings, no dependency. Missing inputs are skipped.
//   node scripts/render-charts.js [--results=bench/results] [--out=docs]
const fs = require('fs')
const path = require('path')

const root = path.join(__dirname, '..')
const arg = (name) => { const a = process.argv.find((x) => x.startsWith(`--${name}=`)); return a && path.resolve(a.slice(name.length + 3)) }
const RESULTS = arg('results') ?? path.join(root, 'bench', 'results')
const DOCS = arg('out') ?? path.join(root, 'docs')

const COLORS = ['#d9480f', '#1c7ed6', '#74c0fc', '#868e96', '#2f9e44', '#ae3ec9', '#f59f00', '#495057']
const IMPL_COLOR = { registry: COLORS[0], genslab: COLORS[1], bareslab: COLORS[2], map: COLORS[3], native: COLORS[6], weakmap: COLORS[3], deref: COLORS[2], strong: COLORS[5] }

const esc = (s) => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;')
const fmt = (v) => {
  if (!Number.isFinite(v)) return String(v)
  const a = Math.abs(v)
  if (a >= 1e9) return (v / 1e9).toFixed(a >= 1e10 ? 0 : 1) + 'G'
  if (a >= 1e6) return (v / 1e6).toFixed(a >= 1e7 ? 0 : 1) + 'M'
  if (a >= 1e4) return (v / 1e3).toFixed(0) + 'K'
  if (a >= 100) return v.toFixed(0)
  if (a >= 10) return v.toFixed(1)
  return v.toFixed(2)
}
const fmtSize = (n) => (n >= 1e6 ? `${n / 1e6}M` : n >= 1e3 ? `${n / 1e3}K` : String(n))

/**
 * Horizontal grouped bar chart.
 * groups: [{ label, bars: [{ label, value, color, note }] }]
 * opts: { title, subtitle, unit, log, refLine: { value, label }, legend: [{label, color}] }
 */
function barChart (groups, opts) {
  const W = 860
  const labelW = 250
  const valueW = 110
  const plotW = W - labelW - valueW - 20
  const barH = 16
  const gap = 4
  const groupGap = 14
  const top = 58 + (opts.subtitle ? 16 : 0)
  const all = groups.flatMap((g) => g.bars.map((b) => b.value)).filter((v) => Number.isFinite(v) && v > 0)
  if (opts.refLine) all.push(opts.refLine.value)
  const max = Math.max(...all)
  const min = Math.min(...all)
  let x
  let ticks
  if (opts.log) {
    const lo = 10 ** Math.floor(Math.log10(min))
    const hi = 10 ** Math.ceil(Math.log10(max))
    x = (v) => labelW + (plotW * (Math.log10(Math.max(v, lo)) - Math.log10(lo))) / (Math.log10(hi) - Math.log10(lo))
    ticks = []
    for (let t = lo; t <= hi * 1.0001; t *= 10) ticks.push(t)
  } else {
    const step = 10 ** Math.floor(Math.log10(max / 2))
    const hi = Math.ceil((max * 1.05) / step) * step
    x = (v) => labelW + (plotW * v) / hi
    ticks = []
    const n = Math.round(hi / step)
    const every = n > 8 ? Math.ceil(n / 8) : 1
    for (let i = 0; i <= n; i += every) ticks.push(i * step)
  }
  let y = top
  const body = []
  for (const g of groups) {
    body.push(`<text x="8" y="${y + 11}" class="group">${esc(g.label)}</text>`)
    y += 16
    for (const b of g.bars) {
      const w = Number.isFinite(b.value) && b.value > 0 ? Math.max(1, x(b.value) - labelW) : 0
      body.push(`<text x="${labelW - 8}" y="${y + barH - 4}" class="label" text-anchor="end">${esc(b.label)}</text>`)
      body.push(`<rect x="${labelW}" y="${y}" width="${w.toFixed(1)}" height="${barH}" fill="${b.color}"><title>${esc(b.label)}: ${esc(fmt(b.value))} ${esc(opts.unit)}</title></rect>`)
      body.push(`<text x="${(labelW + w + 5).toFixed(1)}" y="${y + barH - 4}" class="value">${esc(fmt(b.value))}${b.note ? ' ' + esc(b.note) : ''}</text>`)
      y += barH + gap
    }
    y += groupGap
  }
  const bottom = y
  const grid = ticks.map((t) => {
    const xx = x(t).toFixed(1)
    return `<line x1="${xx}" y1="${top - 4}" x2="${xx}" y2="${bottom - groupGap}" class="grid"/>` +
      `<text x="${xx}" y="${bottom - groupGap + 14}" class="tick" text-anchor="middle">${esc(Number.isInteger(t) && t < 1e4 ? String(t) : fmt(t))}</text>`
  })
  if (opts.refLine) {
    const xx = x(opts.refLine.value).toFixed(1)
    grid.push(`<line x1="${xx}" y1="${top - 4}" x2="${xx}" y2="${bottom - groupGap}" class="ref"/>` +
      `<text x="${xx}" y="${top - 8}" class="reftext" text-anchor="middle">${esc(opts.refLine.label)}</text>`)
  }
  const axisLabel = `<text x="${labelW + plotW / 2}" y="${bottom - groupGap + 30}" class="tick" text-anchor="middle">${esc(opts.unit)}${opts.log ? ' (log scale)' : ''}</text>`
  let legend = ''
  if (opts.legend) {
    let lx = labelW
    legend = opts.legend.map((l) => {
      const s = `<rect x="${lx}" y="${bottom - groupGap + 40}" width="12" height="12" fill="${l.color}"/>` +
        `<text x="${lx + 16}" y="${bottom - groupGap + 50}" class="label">${esc(l.label)}</text>`
      lx += 24 + l.label.length * 6.6
      return s
    }).join('\n')
  }
  const H = bottom - groupGap + (opts.legend ? 64 : 42)
  return `<?xml version="1.0" encoding="UTF-8"?>
<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">
<style>
.title { font-size: 16px; font-weight: 600; fill: #212529 }
.subtitle { font-size: 11px; fill: #495057 }
.group { font-size: 12px; font-weight: 600; fill: #212529 }
.label { font-size: 11px; fill: #343a40 }
.value { font-size: 11px; fill: #212529 }
.tick { font-size: 10px; fill: #868e96 }
.grid { stroke: #e9ecef; stroke-width: 1 }
.ref { stroke: #e03131; stroke-width: 1.5; stroke-dasharray: 4 3 }
.reftext { font-size: 10px; fill: #e03131 }
</style>
<rect width="100%" height="100%" fill="#ffffff"/>
<text x="8" y="22" class="title">${esc(opts.title)}</text>
${opts.subtitle ? `<text x="8" y="40" class="subtitle">${esc(opts.subtitle)}</text>` : ''}
${grid.join('\n')}
${body.join('\n')}
${axisLabel}
${legend}
</svg>
`
}

function read (name) {
  const f = path.join(RESULTS, name)
  if (!fs.existsSync(f)) return null
  try {
    return JSON.parse(fs.readFileSync(f, 'utf8'))
  } catch (err) {
    console.error(`skipping ${name}: ${err.message}`)
    return null
  }
}

function write (name, svg) {
  fs.mkdirSync(DOCS, { recursive: true })
  fs.writeFileSync(path.join(DOCS, name), svg)
  console.log(`wrote ${path.relative(process.cwd(), path.join(DOCS, name))}`)
}

function renderRegistry (r) {
  const OPS = { rgr: 'register + get + release', get: 'get (random live handle)' }
  const groups = []
  for (const op of ['rgr', 'get']) {
    for (const regime of ['fresh', 'sustained']) {
      for (const size of [...new Set(r.rows.map((x) => x.size))].sort((a, b) => a - b)) {
        const rows = r.rows.filter((x) => x.op === op && x.regime === regime && x.size === size)
        if (!rows.length) continue
        groups.push({
          label: `${OPS[op]}, ${fmtSize(size)} live, ${regime}${regime === 'sustained' ? ' (heap-number handles)' : ''}`,
          bars: rows.map((x) => ({
            label: x.name,
            value: x.nsPerOp,
            color: IMPL_COLOR[x.impl] ?? COLORS[5],
            note: x.impl === 'registry' ? '' : `(${x.ratioVsRegistry >= 1 ? x.ratioVsRegistry.toFixed(1) + 'x slower' : (1 / x.ratioVsRegistry).toFixed(1) + 'x faster'})`,
          })),
        })
      }
    }
  }
  write('bench-registry.svg', barChart(groups, {
    title: 'HandleRegistry vs baselines: ns per operation (lower is better)',
    subtitle: `Node ${r.node}, ${r.cpus}-core shared machine, ${r.rounds} round(s), ${r.date.slice(0, 10)}; ratios vs HandleRegistry in the same run`,
    unit: 'ns per operation',
    log: true,
  }))
}

// Lifecycle regime (bench/registry/lifecycle.js): fill from empty, get each,
// release each, per size; then register into a growing instance vs into reused slots.
function renderLifecycle (r) {
  const rows = r.rows.filter((x) => x.op === 'life')
  if (!rows.length) return
  const groups = []
  for (const size of [...new Set(rows.map((x) => x.size))].sort((a, b) => a - b)) {
    const rs = rows.filter((x) => x.size === size)
    const gs = rs.find((x) => x.impl === 'genslab')
    groups.push({
      label: `lifecycle (fill from empty + get + release), ${fmtSize(size)} handles`,
      bars: rs.map((x) => ({ label: x.name, value: x.nsPerOp, color: IMPL_COLOR[x.impl] ?? COLORS[5], note: gs ? `(${(x.nsPerOp / gs.nsPerOp).toFixed(2)}x gen-slab)` : '' })),
    })
  }
  for (const size of [...new Set(rows.map((x) => x.size))].sort((a, b) => a - b)) {
    const rs = rows.filter((x) => x.size === size)
    groups.push({
      label: `register: into a growing instance vs into a reused slot, ${fmtSize(size)}`,
      bars: rs.flatMap((x) => [
        { label: `${x.name}, growing`, value: x.phases.grow, color: IMPL_COLOR[x.impl] ?? COLORS[5], note: `(${(x.phases.grow / x.phases.reuse).toFixed(1)}x reused)` },
        { label: `${x.name}, reused`, value: x.phases.reuse, color: IMPL_COLOR[x.impl] ?? COLORS[5] },
      ]),
    })
  }
  write('bench-lifecycle.svg', barChart(groups, {
    title: 'Lifecycle: ns per handle from an empty instance (lower is better)',
    subtitle: `Node ${r.node}, ${r.cpus}-core shared machine, ${r.rounds} round(s), ${r.date.slice(0, 10)}; ratios in the same run`,
    unit: 'ns per handle',
    log: true,
  }))
}

// Weak regime (bench/registry/weak.js): register / get / release of 200K weak handles.
function renderWeak (r) {
  const rows = r.rows.filter((x) => x.op === 'weak')
  if (!rows.length) return
  const groups = ['register', 'get', 'release'].map((phase) => ({
    label: `weak ${phase}, ${fmtSize(rows[0].size)} live`,
    bars: rows.map((x) => ({ label: x.name, value: x.phases[phase], color: IMPL_COLOR[x.impl] ?? COLORS[5] })),
  }))
  write('bench-weak.svg', barChart(groups, {
    title: 'Weak handles: ns per handle (lower is better)',
    subtitle: `Node ${r.node}, ${r.cpus}-core shared machine, ${r.rounds} round(s), ${r.date.slice(0, 10)}`,
    unit: 'ns per handle',
    log: true,
  }))
}

// Many producers (bench/events/producers.js): events per second by thread count.
function renderProducers (p) {
  const groups = []
  for (const impl of [...new Set(p.rows.map((x) => x.impl))]) {
    for (const registries of [1, 4]) {
      const rs = p.rows.filter((x) => x.impl === impl && x.registries === registries)
      if (!rs.length) continue
      groups.push({
        label: `${rs[0].name}, ${registries} registr${registries === 1 ? 'y' : 'ies'}`,
        bars: rs.map((x) => ({ label: `${x.threads} producer thread${x.threads === 1 ? '' : 's'}`, value: x.eventsPerSec, color: COLORS[[1, 2, 4].indexOf(x.threads)], note: `(${x.vsOneThread.toFixed(2)}x of 1)` })),
      })
    }
  }
  write('bench-producers.svg', barChart(groups, {
    title: 'Many producer threads to JS: events per second (higher is better)',
    subtitle: `Node ${p.node}, ${p.cpus}-core shared machine (threads time-share cores), ${p.rounds} round(s), ${p.date.slice(0, 10)}`,
    unit: 'events/s',
    log: true,
  }))
}

function renderMemory (m) {
  const groups = []
  for (const size of [...new Set(m.rows.map((x) => x.size))].sort((a, b) => a - b)) {
    groups.push({
      label: `${fmtSize(size)} live handles`,
      bars: m.rows.filter((x) => x.size === size).map((x) => ({ label: x.name, value: x.bytesPerHandle, color: IMPL_COLOR[x.impl] ?? COLORS[5] })),
    })
  }
  write('bench-memory.svg', barChart(groups, {
    title: 'Bytes per live handle beyond the value (lower is better)',
    subtitle: `Node ${m.node}, heapUsed + arrayBuffers delta / N, ${m.date.slice(0, 10)}`,
    unit: 'bytes per live handle',
    refLine: { value: 16, label: 'target 16' },
  }))
}

function renderNativeMap (n) {
  const rows = n.rows ?? n
  const names = [...new Set(rows.map((x) => x.name))]
  const groups = []
  // One group per (workload, thread count): rows of fresh and reused handles
  // are separate measurements.
  const keys = [...new Set(rows.map((x) => `${x.workload ?? ''}|${x.threads}`))]
  for (const key of keys) {
    const [workload, t] = key.split('|')
    const threads = Number(t)
    groups.push({
      label: `${workload ? workload + ' handles, ' : ''}${threads} thread${threads === 1 ? '' : 's'}`,
      bars: rows.filter((x) => (x.workload ?? '') === workload && x.threads === threads).map((x) => ({
        label: x.name,
        value: x.opsPerSec,
        color: COLORS[names.indexOf(x.name) % COLORS.length],
        note: x.ratio != null ? `(${Number(x.ratio).toFixed(2)}x)` : '',
      })),
    })
  }
  write('bench-native-map.svg', barChart(groups, {
    title: 'Native sharded map: operations per second (higher is better)',
    subtitle: n.node ? `Node ${n.node}${n.date ? ', ' + String(n.date).slice(0, 10) : ''}` : '',
    unit: 'ops/s',
  }))
}

// events.json: schema owned by the native benchmark; draw rows with a name and
// the first numeric field among the usual ones.
function renderEvents (e) {
  const rows = e.rows ?? (Array.isArray(e) ? e : [])
  const KEYS = ['nsPerEvent', 'nsPerOp', 'ns', 'eventsPerSec', 'opsPerSec']
  const key = KEYS.find((k) => rows.some((r) => Number.isFinite(r[k])))
  if (!key) {
    console.error('skipping events.json: no rows with ' + KEYS.join('/'))
    return
  }
  const higherBetter = /PerSec$/.test(key)
  const byGroup = new Map()
  for (const r of rows.filter((x) => Number.isFinite(x[key]))) {
    const g = r.group ?? r.batch ?? r.scenario ?? ''
    if (!byGroup.has(g)) byGroup.set(g, [])
    byGroup.get(g).push(r)
  }
  const names = [...new Set(rows.map((x) => x.name))]
  const groups = [...byGroup].map(([g, rs]) => ({
    label: g === '' ? 'native to JS' : String(g),
    bars: rs.map((r) => ({ label: r.name, value: r[key], color: COLORS[names.indexOf(r.name) % COLORS.length], note: r.ratio != null ? `(${Number(r.ratio).toFixed(1)}x)` : '' })),
  }))
  const values = rows.map((r) => r[key]).filter((v) => v > 0)
  write('bench-events.svg', barChart(groups, {
    title: `Native to JS events: ${key} (${higherBetter ? 'higher' : 'lower'} is better)`,
    subtitle: e.node ? `Node ${e.node}${e.date ? ', ' + String(e.date).slice(0, 10) : ''}` : '',
    unit: key,
    log: Math.max(...values) / Math.min(...values) > 30,
  }))
}

// Blocking calls with a reply (bench/calls/run.js): calls per second by thread count.
function renderCalls (c) {
  const groups = c.rows.map((r) => ({
    label: `${r.threads} calling thread${r.threads === 1 ? '' : 's'}`,
    bars: [
      { label: 'handle-registry api->call', value: r.lib, color: COLORS[0], note: `(${r.ratio.toFixed(2)}x)` },
      { label: 'TSFN blocking round trip', value: r.tsfn, color: COLORS[3] },
    ],
  }))
  write('bench-calls.svg', barChart(groups, {
    title: 'Blocking calls with a reply, native threads to JS: calls per second (higher is better)',
    subtitle: `Node ${c.node}, ${c.cpus}-core shared machine, median of ${c.rounds} rounds, ${String(c.date).slice(0, 10)}`,
    unit: 'calls/s',
  }))
}

const jobs = [
  ['registry.json', (r) => { renderRegistry(r); renderLifecycle(r); renderWeak(r) }],
  ['producers.json', renderProducers],
  ['memory.json', renderMemory],
  ['native-map.json', renderNativeMap],
  ['events.json', renderEvents],
  ['calls.json', renderCalls],
]
for (const [file, render] of jobs) {
  const data = read(file)
  if (data == null) {
    console.log(`no bench/results/${file}: skipped`)
    continue
  }
  render(data)
}
