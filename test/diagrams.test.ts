/**
 * The diagrams in diagrams/ are generated from the machine definitions: a committed file
 * that no longer matches what the generator draws fails here, and each machine's diagram
 * must name every state, event, guard and action of its machine, so that the generator
 * cannot silently leave one out.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { AnyActorLogic, AnyStateMachine, AnyStateNode } from 'xstate'
import { label, readmePath, renderDiagrams, withSessionDiagram } from '../diagrams/generate.js'
import { engineMachine } from '../machines/engine.machine.js'
import { sessionMachine } from '../machines/session.machine.js'
import { triggerMachine } from '../machines/trigger.machine.js'

/** The source diagrams/ folder, from dist/test/. */
const dir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'diagrams')
const RUN = 'run `npm run diagrams` and commit the result'
const machines: Array<[string, AnyStateMachine]> = [
  ['engine.md', engineMachine],
  ['session.md', sessionMachine],
  ['trigger.md', triggerMachine],
]

const rendered = renderDiagrams()
const mermaidOf = (doc: string): string => {
  const block = /```mermaid\n([\s\S]*?)```/.exec(doc)
  assert.ok(block, 'a diagram file has a mermaid block')
  return block![1]!
}
const escapeRe = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
const nodesOf = (node: AnyStateNode): AnyStateNode[] => [node, ...Object.values(node.states).flatMap((n) => nodesOf(n as AnyStateNode))]
/** Names a guard or action was given, read straight off the definition; inline ones have none. */
const namesOf = (x: unknown): string[] => {
  if (typeof x === 'string') return [x]
  if (typeof x === 'function') return ((x as { guards?: unknown[] }).guards ?? []).flatMap(namesOf)
  if (x && typeof x === 'object' && typeof (x as { type?: unknown }).type === 'string') return [(x as { type: string }).type]
  return []
}

const committed = suite('committed diagrams')

committed('every committed diagram matches its machine', () => {
  for (const [name, expected] of Object.entries(rendered)) {
    const path = join(dir, name)
    assert.ok(existsSync(path), `diagrams/${name} is missing: ${RUN}`)
    const actual = readFileSync(path, 'utf8').replace(/\r\n/g, '\n')
    if (actual === expected) continue
    const a = actual.split('\n')
    const e = expected.split('\n')
    const line = e.findIndex((l, i) => l !== a[i])
    const at = line === -1 ? a.length : line
    assert.unreachable(
      `diagrams/${name} no longer matches its machine: ${RUN}.\n` +
        `  line ${at + 1}: committed ${JSON.stringify(a[at] ?? '(end of file)')}, generated ${JSON.stringify(e[at] ?? '(end of file)')}`,
    )
  }
})

committed('diagrams/ holds no diagram the generator no longer writes', () => {
  const stale = readdirSync(dir).filter((f) => f.endsWith('.md') && !(f in rendered))
  assert.equal(stale, [], `diagrams/ has files the generator does not write (${stale.join(', ')}): delete them and ${RUN}`)
})

committed('generating twice gives the same files', () => {
  assert.equal(renderDiagrams(), rendered)
})

committed('the README shows the session machine as it is', () => {
  const readme = readFileSync(readmePath, 'utf8').replace(/\r\n/g, '\n')
  if (withSessionDiagram(readme, rendered['session.md']) !== readme) {
    assert.unreachable('README.md shows an old session diagram: run `npm run diagrams` and commit the result.')
  }
})

const complete = suite('diagrams leave nothing out')

for (const [file, machine] of machines) {
  complete(`the ${machine.id} diagram names every state, event, guard and action`, () => {
    assert.ok(file in rendered, `${file} is generated`)
    const diagram = mermaidOf(rendered[file]!)
    const root = machine.root as AnyStateNode
    for (const node of nodesOf(root).filter((n) => n !== root)) {
      const declared = new RegExp(`^\\s*(${escapeRe(node.key)}|state "${escapeRe(label(node.key))}" as \\S+)( \\{)?$`, 'm')
      assert.ok(declared.test(diagram), `${file} declares state '${node.key}'`)
    }
    for (const node of nodesOf(root)) {
      const triggers = [...node.transitions.keys()].map((eventType) => {
        const delayed = node.after.find((t) => t.eventType === eventType)
        return delayed ? `after ${typeof delayed.delay === 'number' ? `${delayed.delay}ms` : delayed.delay}` : eventType
      })
      if (node.always?.length) triggers.push('always')
      for (const trigger of triggers) {
        // As an arrow's label (`a --> b : event …`) or a line of a state's note.
        const shown = new RegExp(`( : |^\\s+)${escapeRe(label(trigger))}( |$)`, 'm')
        assert.ok(shown.test(diagram), `${file} shows '${trigger}' handled in ${node.id}`)
      }
      const transitions = [...[...node.transitions.values()].flat(), ...(node.always ?? [])]
      const names = [
        ...node.entry.flatMap(namesOf),
        ...node.exit.flatMap(namesOf),
        ...transitions.flatMap((t) => [...namesOf(t.guard), ...t.actions.flatMap(namesOf)]),
      ]
      for (const name of names.filter((n) => !n.startsWith('xstate.'))) {
        assert.ok(new RegExp(`(^|[^\\w])${escapeRe(label(name))}($|[^\\w])`, 'm').test(diagram), `${file} names '${name}' (in ${node.id})`)
      }
    }
  })
}

complete('the actor tree shows every invoked actor and every actor source', () => {
  const tree = mermaidOf(rendered['actor-tree.md']!)
  for (const [, machine] of machines) {
    for (const node of nodesOf(machine.root as AnyStateNode)) {
      for (const inv of node.invoke) assert.ok(tree.includes(`"${label(inv.systemId ?? inv.id)}`), `the actor tree shows ${inv.systemId ?? inv.id}`)
    }
    for (const [src, logic] of Object.entries((machine.implementations.actors ?? {}) as Record<string, AnyActorLogic>)) {
      const shown = 'root' in logic ? `${(logic as AnyStateMachine).id} machine` : src
      assert.ok(tree.includes(label(shown)), `the actor tree shows ${machine.id}'s actor '${src}'`)
    }
  }
  for (const systemId of ['engine', 'session:<worker_id>', 'session:<worker_id>:<trigger type>', 'trigger:<worker_id>:<id>']) {
    assert.ok(tree.includes(`"${label(systemId)}`), `the actor tree shows ${systemId}`)
  }
})

committed.run()
complete.run()
