/**
 * Runs every test file (each in its own process, with a time limit), prints their
 * output, and ends with one line: `N passed, M failed`.
 */
import { spawn } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const uvu = join(here, '..', '..', 'node_modules', 'uvu', 'bin.js')
const only = process.argv.slice(2)
const files = readdirSync(here)
  .filter((f) => f.endsWith('.test.js'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)))
  .sort()
const FILE_LIMIT_MS = 300_000

let passed = 0
let failed = 0
for (const file of files) {
  const output = await new Promise<{ text: string; code: number | null }>((resolve) => {
    const child = spawn(process.execPath, [uvu, here, `^${file.replace(/\./g, '\\.')}$`, '-c', 'false'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let text = ''
    child.stdout.on('data', (d) => (text += d))
    child.stderr.on('data', (d) => (text += d))
    const timer = setTimeout(() => {
      text += `\n${file}: killed after ${FILE_LIMIT_MS} ms\n`
      child.kill('SIGKILL')
    }, FILE_LIMIT_MS)
    child.on('close', (code) => (clearTimeout(timer), resolve({ text, code })))
  })
  process.stdout.write(output.text)
  const total = Number(/Total:\s+(\d+)/.exec(output.text)?.[1] ?? NaN)
  const done = Number(/Passed:\s+(\d+)/.exec(output.text)?.[1] ?? NaN)
  if (Number.isNaN(total) || Number.isNaN(done)) {
    process.stdout.write(`${file}: ended without a summary (exit ${output.code})\n`)
    failed += 1
    continue
  }
  passed += done
  // uvu's Total leaves skipped tests out already.
  failed += total - done
  if (output.code !== 0 && total - done === 0) failed += 1
}
process.stdout.write(`\n${passed} passed, ${failed} failed\n`)
process.exitCode = failed === 0 && files.length > 0 ? 0 : 1
