/**
 * RELIABILITY.md is what `npm run soak` made: the committed file is what the generator
 * (test/faults/reliability.ts) makes of the committed soak-results.json, that run was the
 * long one over every fault scenario, and it lost nothing; every scenario's short size is
 * a test file of `npm test`.
 */
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { renderReliability, type SoakResults } from './faults/reliability.js'
import { SCENARIOS } from './faults/scenarios/index.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const results = JSON.parse(readFileSync(join(root, 'soak-results.json'), 'utf8')) as SoakResults

const it = suite('RELIABILITY.md')

it('is what the generator makes of soak-results.json', () => {
  assert.fixture(readFileSync(join(root, 'RELIABILITY.md'), 'utf8'), renderReliability(results), 'run npm run soak to make both again')
})

it('comes from a long run of every fault scenario, each passed, nothing lost', () => {
  assert.is(results.size, 'long')
  assert.equal(results.results.map((r) => r.name), SCENARIOS.map((s) => s.name))
  for (const r of results.results) {
    assert.ok(r.ok, `${r.name} passed`)
    assert.match(r.outcome!.lost, /^nothing/, `${r.name} lost nothing`)
  }
})

it('names, for every scenario, the test file that runs it in npm test', () => {
  for (const s of SCENARIOS) assert.ok(existsSync(join(root, s.test)), s.test)
  for (const r of results.results) assert.is(r.test, SCENARIOS.find((s) => s.name === r.name)!.test)
})

it.run()
