/**
 * Draws the machines as Mermaid diagrams, from their definitions: one statechart per
 * machine (walking `machine.root`: states, initial and final states, transitions with
 * their guards and actions, delayed and eventless transitions, entry and exit actions,
 * invoked actors) and one actor tree (from `setup({ actors })` and the `invoke`
 * definitions). `renderDiagrams()` returns the Markdown files by name; run as a script
 * (`npm run diagrams`) it writes them into the source `diagrams/` folder, and
 * test/diagrams.test.ts fails when a committed file no longer matches its machine.
 *
 * Labels keep names as they are, except for the few characters that Mermaid (or the
 * Markdown it renders labels with) would read as syntax: they become look-alikes, see
 * `LOOKALIKES`.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { and, not, or, stateIn, StateMachine, type AnyActorLogic, type AnyStateMachine, type AnyStateNode } from 'xstate'
import { BUILTIN_TRIGGER_TYPES } from '../core/catalog.js'
import { engineMachine } from '../machines/engine.machine.js'
import { sessionMachine } from '../machines/session.machine.js'
import { actorIds } from '../machines/system.js'
import { errorsDoc, optionsTable, OPTIONS_END, OPTIONS_START, withExamples, withSection } from './tables.js'
import { triggerMachine } from '../machines/trigger.machine.js'

/** The machines drawn, each into its own file. */
export const diagrammedMachines: ReadonlyArray<{ file: string; source: string; machine: AnyStateMachine }> = [
  { file: 'engine.md', source: 'machines/engine.machine.ts', machine: engineMachine },
  { file: 'session.md', source: 'machines/session.machine.ts', machine: sessionMachine },
  { file: 'trigger.md', source: 'machines/trigger.machine.ts', machine: triggerMachine },
]

/** The root of the actor tree. */
const rootMachine: AnyStateMachine = engineMachine

/**
 * The one hand-written part. A spawned actor's systemId is computed in action code (the
 * engine's `spawnSession` and `startProviders`, the session's `admitTrigger`), which a walk
 * of the definition cannot see; this says, for each machine that spawns, which systemId each
 * of its `setup({ actors })` sources gets and how many there are. The patterns come from the
 * same helpers the machines use where there are some (`typeActorId`, `triggerActorId`).
 * An actor source that is neither invoked nor named here makes the generator throw, so a
 * new actor cannot be left out of the tree silently.
 */
const W = '<worker_id>'
const spawnedActors: Record<string, (src: string) => { systemId: string; count: string } | undefined> = {
  engine: (src) => {
    if (src === 'session') return { systemId: actorIds.session(W), count: 'one per connection' }
    if (src === 'httpProvider') return { systemId: actorIds.httpProvider, count: 'with an HTTP listener' }
    if (src === 'queueProvider') return { systemId: actorIds.queueProvider, count: 'always: the queue store' }
    if (src === 'cronProvider') return { systemId: actorIds.cronProvider, count: 'always: the clock' }
    if (src === 'pubsubProvider') return { systemId: actorIds.pubsubProvider, count: 'always: the topics of pub/sub' }
    if (src === 'cluster') return { systemId: actorIds.cluster, count: 'in a cluster (the cluster option)' }
    return undefined
  },
  session: (src) => {
    if (src === 'remoteTriggerType') return { systemId: actorIds.typeChild(W, '<trigger type>'), count: 'one per worker-provided trigger type used' }
    if (Object.hasOwn(BUILTIN_TRIGGER_TYPES, src)) return { systemId: actorIds.typeChild(W, src), count: `when it uses ${src}` }
    return undefined
  },
}

/**
 * Machines that actors which are not machines start themselves: each session child for a
 * trigger type creates one registration machine per trigger of its type
 * (actors/trigger-registrations.ts), keyed by the actor source that does it.
 */
const createdActors: Record<string, { systemId: string; machine: AnyStateMachine; count: string } | undefined> = Object.fromEntries(
  [...Object.keys(BUILTIN_TRIGGER_TYPES), 'remoteTriggerType'].map((src) => [src, { systemId: actorIds.trigger(W, '<id>'), machine: triggerMachine, count: 'one per trigger of its type' }]),
)

// ---------------------------------------------------------------------------------------
// Text

/**
 * Characters Mermaid or Markdown would take as syntax in a label, and what they are drawn
 * as: `;` ends a statement, `#…;` is an entity, `%%` a comment, `<…>` an HTML tag, `*` and
 * backticks Markdown emphasis and code, `"` ends a quoted name. Look-alikes render on every
 * Mermaid version, where entity codes (`#lt;`) and backslash escapes do not: Mermaid 11
 * leaves entity codes undecoded in state diagram labels, and older versions do not read
 * labels as Markdown, so they would show the backslashes.
 */
const LOOKALIKES: Record<string, string> = {
  ';': '；', '#': '＃', '%': '％', '<': '‹', '>': '›', '&': '＆', '{': '｛', '}': '｝',
  '"': '＂', '*': '∗', '`': 'ˋ', '\\': '＼', '\n': ' ', '\r': ' ',
}
/** A name as it may appear in a state diagram's label or note. */
export const label = (name: string): string => name.replace(/[;#%<>&{}"*`\\\r\n]/g, (c) => LOOKALIKES[c] ?? c)

/** Text in a flowchart box or on its arrows, where `|` also ends an arrow's label. */
const flowchartText = (text: string): string => label(text).replace(/\|/g, '¦')

/** Words a bare state id may not be in a state diagram. */
const RESERVED = new Set(['state', 'note', 'end', 'as', 'direction', 'class', 'classdef', 'style', 'click', 'hide', 'scale', 'left', 'right', 'of', 'root', 'fork', 'join', 'choice', 'acctitle', 'accdescr'])

// ---------------------------------------------------------------------------------------
// Reading a definition

type Guard = unknown
type Action = unknown
interface Transition {
  eventType: string
  target?: ReadonlyArray<AnyStateNode>
  guard?: Guard
  actions: ReadonlyArray<Action>
  reenter?: boolean
}

/** Higher-order guards are told apart by their `check` function, which their types do not show. */
const checkOf = (guard: unknown): unknown => (guard as { check?: unknown }).check
const NOT = checkOf(not('x'))
const AND = checkOf(and(['x']))
const OR = checkOf(or(['x']))
const IN = checkOf(stateIn('x'))

/** A guard as written: its name, or how a higher-order guard combines names. */
export function guardName(guard: Guard): string {
  if (typeof guard === 'string') return guard
  if (typeof guard === 'function') {
    const g = guard as { check?: unknown; guards?: Guard[]; stateValue?: unknown; name: string }
    const inner = (g.guards ?? []).map((x) => {
      const name = guardName(x)
      return / (and|or) /.test(name) ? `(${name})` : name
    })
    if (g.check === NOT) return `not ${inner[0]}`
    if (g.check === AND) return inner.join(' and ')
    if (g.check === OR) return inner.join(' or ')
    if (g.check === IN) return `in ${typeof g.stateValue === 'string' ? g.stateValue : JSON.stringify(g.stateValue)}`
    return g.name || 'inline guard'
  }
  if (guard && typeof guard === 'object' && typeof (guard as { type?: unknown }).type === 'string') return (guard as { type: string }).type
  return 'inline guard'
}

/** An action as written, or undefined for what XState adds itself (the timers of `after`). */
export function actionName(action: Action): string | undefined {
  if (typeof action === 'string') return action
  if (typeof action === 'function') {
    const a = action as { type?: unknown; id?: unknown; sendId?: unknown; name: string }
    if (a.type === 'xstate.raise' && String(a.id).startsWith('xstate.after.')) return undefined
    if (a.type === 'xstate.cancel' && String(a.sendId).startsWith('xstate.after.')) return undefined
    if (typeof a.type === 'string') return a.type.replace(/^xstate\./, '')
    return a.name && !['actions', 'entry', 'exit'].includes(a.name) ? a.name : 'inline action'
  }
  if (action && typeof action === 'object' && typeof (action as { type?: unknown }).type === 'string') return (action as { type: string }).type
  return 'inline action'
}

const actionNames = (actions: ReadonlyArray<Action>): string[] => actions.map(actionName).filter((a): a is string => a !== undefined)

const childrenOf = (node: AnyStateNode): AnyStateNode[] => Object.values(node.states) as AnyStateNode[]

/** Every state node under (and with) `node`, in document order. */
export function allStateNodes(node: AnyStateNode): AnyStateNode[] {
  return [node, ...childrenOf(node).flatMap(allStateNodes)]
}

/** How a transition's trigger reads: its event, `after <delay>` or `always`. */
function triggerOf(node: AnyStateNode, eventType: string): string {
  const delayed = node.after.find((t) => t.eventType === eventType)
  if (delayed) return `after ${typeof delayed.delay === 'number' ? `${delayed.delay}ms` : label(String(delayed.delay))}`
  return label(eventType)
}

/** `event [guard] / action, action` */
function transitionLabel(trigger: string, t: Transition): string {
  let text = trigger
  if (t.guard !== undefined) text += ` [${label(guardName(t.guard))}]`
  const actions = actionNames(t.actions)
  if (actions.length > 0) text += ` / ${actions.map(label).join(', ')}`
  return text
}

/** Every transition leaving `node`, with how it is triggered, in definition order. */
function transitionsOf(node: AnyStateNode): Array<{ trigger: string; t: Transition }> {
  const out: Array<{ trigger: string; t: Transition }> = []
  for (const [eventType, candidates] of node.transitions) {
    for (const t of candidates as unknown as Transition[]) out.push({ trigger: triggerOf(node, eventType), t })
  }
  for (const t of (node.always ?? []) as unknown as Transition[]) out.push({ trigger: 'always', t })
  return out
}

const srcName = (src: unknown, id: string): string => (typeof src === 'string' ? src : id)

// ---------------------------------------------------------------------------------------
// One machine's statechart

/** Whether the root has anything of its own to show, which needs a box to attach it to. */
const rootHasBehaviour = (root: AnyStateNode): boolean =>
  root.transitions.size > 0 || (root.always?.length ?? 0) > 0 || root.invoke.length > 0 || actionNames(root.entry).length > 0 || actionNames(root.exit).length > 0

function stateDiagram(machine: AnyStateMachine): string {
  const root = machine.root as AnyStateNode
  const wrapRoot = rootHasBehaviour(root)
  const ids = new Map<AnyStateNode, string>()
  const used = new Set<string>()
  const idOf = (node: AnyStateNode): string => {
    const known = ids.get(node)
    if (known) return known
    const base = node === root ? `${machine.id}_machine` : node.path.join('__')
    let id = /^[A-Za-z][A-Za-z0-9_]*$/.test(base) && !RESERVED.has(base.toLowerCase()) ? base : `s_${base.replace(/[^A-Za-z0-9_]/g, '_')}`
    for (let n = 2; used.has(id); n++) id = `${id.replace(/_\d+$/, '')}_${n}`
    used.add(id)
    ids.set(node, id)
    return id
  }
  const declare = (node: AnyStateNode): string => {
    const id = idOf(node)
    const name = node === root ? machine.id : node.key
    return name === id ? id : `state "${label(name)}" as ${id}`
  }

  /** The lowest state whose box holds both ends of an edge (the root when none does). */
  const boxOf = (source: AnyStateNode, target: AnyStateNode): AnyStateNode => {
    let box: AnyStateNode = root
    for (let i = 0; i < Math.min(source.path.length, target.path.length) - 1; i++) {
      if (source.path[i] !== target.path[i]) break
      box = box.states[source.path[i]!] as AnyStateNode
    }
    return box
  }
  const edges = new Map<AnyStateNode, string[]>()
  const notes = new Map<AnyStateNode, string[]>()
  for (const node of allStateNodes(root)) {
    const lines: string[] = []
    const entry = actionNames(node.entry)
    if (entry.length > 0) lines.push(`entry / ${entry.map(label).join(', ')}`)
    const exit = actionNames(node.exit)
    if (exit.length > 0) lines.push(`exit / ${exit.map(label).join(', ')}`)
    for (const inv of node.invoke) lines.push(`invoke ${label(srcName(inv.src, inv.id))}`)
    for (const { trigger, t } of transitionsOf(node)) {
      const text = transitionLabel(trigger, t)
      const targets = t.target ?? []
      if (targets.length === 0) lines.push(text)
      for (const target of targets) {
        const box = boxOf(node, target)
        const list = edges.get(box) ?? []
        list.push(`${idOf(node)} --> ${idOf(target)} : ${text}`)
        edges.set(box, list)
      }
    }
    if (lines.length > 0) notes.set(node, lines)
  }

  const out: string[] = ['stateDiagram-v2']
  const noteLines = (node: AnyStateNode, pad: string): string[] => {
    const lines = notes.get(node)
    if (!lines) return []
    return [`${pad}note right of ${idOf(node)}`, ...lines.map((l) => `${pad}  ${l}`), `${pad}end note`]
  }
  /** The inside of a box: its states, initial and final markers, edges and notes. */
  const body = (box: AnyStateNode, pad: string): string[] => {
    const lines: string[] = []
    const children = childrenOf(box)
    if (box.type === 'compound') {
      for (const target of box.initial.target as ReadonlyArray<AnyStateNode>) lines.push(`${pad}[*] --> ${idOf(target)}`)
    }
    children.forEach((child, i) => {
      if (box.type === 'parallel' && i > 0) lines.push(`${pad}--`)
      if (child.type === 'compound' || child.type === 'parallel') {
        lines.push(`${pad}${declare(child)} {`, ...body(child, `${pad}  `), `${pad}}`)
      } else if (child.type === 'history') {
        lines.push(`${pad}state "${child.history === 'deep' ? 'H*' : 'H'}" as ${idOf(child)}`)
      } else {
        // Declared before any edge mentions it, so that states are laid out in definition order.
        lines.push(`${pad}${declare(child)}`)
      }
    })
    for (const child of children) if (child.type === 'final') lines.push(`${pad}${idOf(child)} --> [*]`)
    lines.push(...(edges.get(box) ?? []).map((e) => `${pad}${e}`))
    for (const child of children) lines.push(...noteLines(child, pad))
    return lines
  }
  if (wrapRoot) {
    out.push(`  ${declare(root)} {`, ...body(root, '    '), '  }', ...noteLines(root, '  '))
  } else {
    out.push(...body(root, '  '))
  }
  return out.join('\n')
}

function machineDoc(entry: { file: string; source: string; machine: AnyStateMachine }): string {
  const { machine, source } = entry
  const root = machine.root as AnyStateNode
  const states = allStateNodes(root).filter((n) => n !== root)
  const finals = states.filter((n) => n.type === 'final').map((n) => `\`${n.key}\``)
  const initial = (root.initial.target as ReadonlyArray<AnyStateNode>).map((n) => `\`${n.key}\``).join(', ')
  const events = new Set(allStateNodes(root).flatMap((n) => [...n.transitions.keys()].filter((e) => !n.after.some((t) => t.eventType === e))))
  const description =
    root.description?.trim().replace(/\s+/g, ' ') ??
    `The \`${machine.id}\` state machine of [\`${source}\`](../${source}): it starts in ${initial}, has ${states.length} states` +
      (finals.length > 0 ? ` (final: ${finals.join(', ')})` : '') +
      ` and handles ${events.size} events.`
  return [
    `<!-- Generated by \`npm run diagrams\` from ${source}: do not edit by hand. -->`,
    `# The ${machine.id} machine`,
    '',
    description,
    '',
    '```mermaid',
    stateDiagram(machine),
    '```',
    '',
    'Arrows read `event [guard] / actions`; `after <delay>` is a delayed transition and `always` an eventless one. ' +
      'A note lists what a state does without leaving it: entry and exit actions, invoked actors, and the events it handles in place.',
    '',
    'See also: [the actor tree](actor-tree.md).',
    '',
  ].join('\n')
}

// ---------------------------------------------------------------------------------------
// The actor tree

interface ActorNode {
  systemId: string
  /** What runs: the machine's id, or the actor source's name. */
  logic: string
  edge: string
  children: ActorNode[]
}

const isMachine = (logic: unknown): logic is AnyStateMachine => logic instanceof StateMachine

/** The actors a machine starts: invoked ones from its states, spawned ones from `spawnedActors`. */
export function actorChildren(machine: AnyStateMachine, seen: ReadonlySet<AnyStateMachine> = new Set()): ActorNode[] {
  const sources = (machine.implementations.actors ?? {}) as Record<string, AnyActorLogic>
  const children: ActorNode[] = []
  const invoked = new Set<string>()
  const below = new Set([...seen, machine])
  const grow = (logic: unknown): ActorNode[] => (isMachine(logic) && !below.has(logic) ? actorChildren(logic, below) : [])
  for (const node of allStateNodes(machine.root as AnyStateNode)) {
    for (const inv of node.invoke) {
      const src = srcName(inv.src, inv.id)
      invoked.add(src)
      const logic = typeof inv.src === 'string' ? sources[inv.src] : inv.src
      children.push({ systemId: inv.systemId ?? inv.id, logic: isMachine(logic) ? `${logic.id} machine` : src, edge: 'invokes', children: grow(logic) })
    }
  }
  const spawnable = Object.keys(sources).filter((src) => !invoked.has(src) && !src.startsWith('xstate.')).sort()
  for (const src of spawnable) {
    const spawned = spawnedActors[machine.id]?.(src)
    if (!spawned) {
      throw new Error(`diagrams: the ${machine.id} machine can spawn '${src}', but diagrams/generate.ts does not say which systemId it gets: add it to spawnedActors`)
    }
    const logic = sources[src]
    const created = createdActors[src]
    const createdNodes = created ? [{ systemId: created.systemId, logic: `${created.machine.id} machine`, edge: `creates, ${created.count}`, children: grow(created.machine) }] : []
    children.push({ systemId: spawned.systemId, logic: isMachine(logic) ? `${logic.id} machine` : src, edge: `spawns, ${spawned.count}`, children: [...grow(logic), ...createdNodes] })
  }
  return children
}

function actorTreeDoc(): string {
  const ids = new Set<string>()
  const idOf = (systemId: string): string => {
    let id = systemId.replace(/[^A-Za-z0-9]+/g, '_').replace(/^_|_$/g, '') || 'actor'
    if (RESERVED.has(id.toLowerCase()) || /^\d/.test(id)) id = `a_${id}`
    for (let n = 2; ids.has(id); n++) id = `${id.replace(/_\d+$/, '')}_${n}`
    ids.add(id)
    return id
  }
  /** A box showing the systemId, and what runs under it when that is not the same name. */
  const nodeLine = (id: string, a: { systemId: string; logic: string }): string =>
    `  ${id}["${flowchartText(a.systemId)}${a.logic === a.systemId ? '' : `<br/>${flowchartText(a.logic)}`}"]`
  const lines = ['flowchart TD']
  const rootId = idOf(rootMachine.id)
  lines.push(nodeLine(rootId, { systemId: rootMachine.id, logic: `${rootMachine.id} machine` }))
  const walk = (parentId: string, children: ActorNode[]) => {
    for (const child of children) {
      const id = idOf(child.systemId)
      lines.push(nodeLine(id, child), `  ${parentId} -->|${flowchartText(child.edge)}| ${id}`)
      walk(id, child.children)
    }
  }
  walk(rootId, actorChildren(rootMachine))
  return [
    '<!-- Generated by `npm run diagrams` from the machine definitions: do not edit by hand. -->',
    '# The actor tree',
    '',
    'Every actor an engine runs, by systemId, with what it runs. Invoked actors and their systemIds come from the ' +
      "machines' `invoke` definitions, and which actors a machine can spawn from its `setup({ actors })`; a spawned " +
      "actor's systemId is computed in action code, so it comes from the one hand-written table in " +
      '[`diagrams/generate.ts`](generate.ts) (`spawnedActors`).',
    '',
    '```mermaid',
    lines.join('\n'),
    '```',
    '',
    `State machines: ${diagrammedMachines.map((m) => `[${m.machine.id}](${m.file})`).join(', ')}.`,
    '',
  ].join('\n')
}

// ---------------------------------------------------------------------------------------

/** Every diagram file, by name under `diagrams/`. */
export function renderDiagrams(): Record<string, string> {
  const files: Record<string, string> = {}
  files['actor-tree.md'] = actorTreeDoc()
  for (const entry of diagrammedMachines) files[entry.file] = machineDoc(entry)
  return files
}

/** The source `diagrams/` folder, from dist/diagrams/generate.js. */
export const diagramsDir = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'diagrams')
/** The README, which shows the session machine's diagram between these markers. */
export const readmePath = join(diagramsDir, '..', 'README.md')
const README_START = '<!-- session diagram: generated by npm run diagrams -->'
const README_END = '<!-- end of session diagram -->'

/** `readme` with the session machine's Mermaid block (from `session.md`) put between the markers. */
export function withSessionDiagram(readme: string, sessionDoc: string = renderDiagrams()['session.md']): string {
  const start = sessionDoc.indexOf('```mermaid')
  const block = sessionDoc.slice(start, sessionDoc.indexOf('```', start + 3) + 3)
  const a = readme.indexOf(README_START)
  const b = readme.indexOf(README_END)
  if (a < 0 || b < a) throw new Error(`README.md lacks the markers ${README_START} … ${README_END}`)
  return readme.slice(0, a + README_START.length) + '\n' + block + '\n' + readme.slice(b)
}

/** docs/errors.md, from the table of error codes. */
export const errorsDocPath = join(diagramsDir, '..', 'docs', 'errors.md')

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  mkdirSync(diagramsDir, { recursive: true })
  for (const [name, content] of Object.entries(renderDiagrams())) {
    writeFileSync(join(diagramsDir, name), content)
    process.stdout.write(`wrote diagrams/${name}\n`)
  }
  writeFileSync(errorsDocPath, errorsDoc())
  process.stdout.write('wrote docs/errors.md\n')
  const readme = withSessionDiagram(readFileSync(readmePath, 'utf8'))
  const examples = withExamples(readme, (path) => readFileSync(join(diagramsDir, '..', path), 'utf8'))
  writeFileSync(readmePath, withSection(examples, OPTIONS_START, OPTIONS_END, optionsTable()))
  process.stdout.write('wrote the session diagram, the options table and the examples into README.md\n')
}
