/**
 * "Did you mean": the closest known word to a mistyped one (core/closest.ts), as the CLI
 * and the engine's refusals use it.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { closest, didYouMean, editDistance } from '../core/closest.js'

const it = suite('closest')

it('edit distance counts insertions, deletions, substitutions and swaps of neighbours', () => {
  assert.is(editDistance('serve', 'serve'), 0)
  assert.is(editDistance('serv', 'serve'), 1)
  assert.is(editDistance('sreve', 'serve'), 1, 'a swap is one edit')
  assert.is(editDistance('server', 'serve'), 1)
  assert.is(editDistance('invoek', 'invoke'), 1)
  assert.is(editDistance('kitten', 'sitting'), 3)
  assert.is(editDistance('', 'abc'), 3)
  assert.is(editDistance('abcdef', 'uvwxyz', 2), 3, 'stops once past the limit')
})

it('closest: a typo finds its word; nothing close finds nothing', () => {
  const commands = ['serve', 'ls', 'invoke', 'help']
  assert.is(closest('sevre', commands), 'serve')
  assert.is(closest('invok', commands), 'invoke')
  assert.is(closest('SERVE', commands), 'serve', 'case does not count')
  assert.is(closest('deploy', commands), undefined)
  assert.is(closest('', commands), undefined)
  assert.is(closest('htpp', ['http', 'cron', 'queue']), 'http')
  assert.is(closest('work', ['workers', 'functions']), 'workers', 'a prefix of a word')
  assert.is(closest('x', ['y', 'z']), undefined, 'one letter is not a typo of another letter')
  assert.is(closest('--http-prot', ['--http-port', '--port', '--host']), '--http-port')
  assert.is(closest('inspec', ['inspect-port', 'inspect']), 'inspect', 'a typo wins over a prefix')
})

it('didYouMean says it in a sentence, or nothing', () => {
  assert.is(didYouMean('triggres', ['workers', 'functions', 'triggers', 'types']), "Did you mean 'triggers'?")
  assert.is(didYouMean('zzz', ['workers']), '')
})

it.run()
