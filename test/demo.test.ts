// `npm run demo` as a newcomer sees it: it exits 0, fits in 100 columns and
// about 60 lines, every ratio it prints says faster or slower, and the figures
// it quotes are the ones docs/benchmark.md reports (the demo measures nothing
// by default; `--bench` does, and is not run here: benchmarks are not tests).
import { test, expect } from 'vitest'
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import * as path from 'node:path'
import { fileURLToPath } from 'node:url'

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

function runDemo(): Promise<{ code: number | null; out: string; err: string }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env }
    if (!env.npm_config_nodedir) env.npm_config_nodedir = '/usr' // the demo builds the example addons when stale
    const child = spawn(process.execPath, [path.join(ROOT, 'examples', 'demo.js')], { cwd: ROOT, env })
    let out = ''
    let err = ''
    child.stdout.on('data', (d) => { out += d })
    child.stderr.on('data', (d) => { err += d })
    child.on('close', (code) => resolve({ code, out, err }))
  })
}

test('npm run demo: exits 0, one screen, ratios that say faster or slower, figures of docs/benchmark.md', async () => {
  const { code, out, err } = await runDemo()
  expect(code, `${out}\n${err}`).toBe(0)
  expect(err).toBe('')
  const lines = out.trimEnd().split('\n')
  expect(lines.filter((l) => l.length > 100), 'lines wider than 100 columns').toEqual([])
  expect(lines.length).toBeLessThanOrEqual(65)
  // Every section ran: the walkthrough, the C library on its own threads, the figures.
  expect(out).toMatch(/1\. Registry walkthrough/)
  expect(out).toMatch(/B\. handle released first\s+\d+\s+1\s+stale_handle x1\s+0/)
  expect(out).toMatch(/C\. registry closed first\s+\d+\s+1\s+registry_closed x1\s+0/)
  expect(out).toMatch(/expirations in order: yes/)
  // A bare "4.6x" says neither who is faster nor than what.
  const bare = [...out.matchAll(/\b\d+(?:\.\d+)?x\b(?! (?:faster|slower))/g)].map((m) => m[0])
  expect(bare, 'ratios without "faster" or "slower"').toEqual([])
  const bench = readFileSync(path.join(ROOT, 'docs', 'benchmark.md'), 'utf8')
  const quoted = [...out.matchAll(/\b(\d+(?:\.\d+)?x) (?:faster|slower)/g)].map((m) => m[1])
  expect(quoted.length).toBeGreaterThan(0)
  expect(quoted.filter((q) => !bench.includes(q)), 'figures docs/benchmark.md does not report').toEqual([])
  for (const ns of ['18.3', '20.9', '27.9', '592.7']) expect(bench).toContain(`| ${ns} |`)
}, 240_000)
