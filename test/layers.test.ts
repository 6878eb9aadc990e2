/**
 * The layers of the source tree, read from the imports themselves (type-only ones
 * included): every import points down the order below or stays in its folder, and no
 * chain of imports comes back to where it started. A new folder must be given its place
 * here. The order and its reasons are in docs/architecture.md.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { importsOf } from './imports.js'

/** Bottom first. Folders of one rank may not import each other. */
export const LAYERS: ReadonlyArray<{ rank: number; folders: string[] }> = [
  { rank: 0, folders: ['protocol'] },
  { rank: 1, folders: ['core', 'client', 'console'] },
  { rank: 2, folders: ['machines'] },
  { rank: 3, folders: ['actors'] },
  { rank: 4, folders: ['adapters'] },
  { rank: 5, folders: ['index.ts'] },
  { rank: 6, folders: ['cli', 'diagrams'] },
  { rank: 7, folders: ['cli.ts'] },
  { rank: 8, folders: ['test', 'bench', 'examples', 'scripts'] },
]

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const rankOf = new Map(LAYERS.flatMap((l) => l.folders.map((f) => [f, l.rank] as const)))

function sources(dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist' || name.startsWith('.')) continue
    const path = join(dir, name)
    if (statSync(path).isDirectory()) out.push(...sources(path))
    else if (/\.(ts|mts)$/.test(name) && !name.endsWith('.d.ts')) out.push(path)
  }
  return out
}

const files = LAYERS.flatMap((l) => l.folders).flatMap((f) => {
  const path = join(root, f)
  try {
    return statSync(path).isDirectory() ? sources(path) : [path]
  } catch {
    return []
  }
})
/** Imports by file, as paths relative to the root. */
type Graph = Map<string, string[]>

const graph: Graph = new Map()
for (const file of files) {
  const text = readFileSync(file, 'utf8')
  graph.set(
    relative(root, file),
    importsOf(text).map((spec) => relative(root, resolve(dirname(file), spec).replace(/\.js$/, '.ts'))),
  )
}
/** The layer a file belongs to: its top folder, or itself at the root. */
const layer = (file: string) => file.split(sep)[0].split('/')[0]

/** Imports that do not point down the order (or stay in their folder). */
export function upwardImports(g: Graph): string[] {
  const wrong: string[] = []
  for (const [file, imports] of g) {
    const from = layer(file)
    for (const target of imports) {
      const to = layer(target)
      if (to === from) continue
      const a = rankOf.get(from)
      const b = rankOf.get(to)
      if (a === undefined || b === undefined || b >= a) wrong.push(`${file} (${from}, rank ${a ?? 'none'}) imports ${target} (${to}, rank ${b ?? 'none'})`)
    }
  }
  return wrong
}

/** Chains of imports that come back to where they started. */
export function circles(g: Graph): string[] {
  const state = new Map<string, 'visiting' | 'done'>()
  const found: string[] = []
  const visit = (file: string, path: string[]) => {
    state.set(file, 'visiting')
    for (const next of g.get(file) ?? []) {
      if (!g.has(next)) continue
      if (state.get(next) === 'visiting') found.push([...path.slice(path.indexOf(next)), file, next].join(' → '))
      else if (!state.has(next)) visit(next, [...path, file])
    }
    state.set(file, 'done')
  }
  for (const file of g.keys()) if (!state.has(file)) visit(file, [])
  return found
}

const it = suite('layers')

it('the import reader finds static, type-only, re-exported, side-effect and dynamic imports', () => {
  const text = [
    "import { a } from './a.js'",
    "import type { B } from '../b/b.js'",
    "export { c } from './c.js'",
    "export * from './d.js'",
    "import './e.js'",
    "const f = await import('./f.js')",
    "import x from 'xstate'",
    "import {\n  g,\n  type H,\n} from './g.js'",
  ].join('\n')
  assert.equal(importsOf(text).sort(), ['../b/b.js', './a.js', './c.js', './d.js', './e.js', './f.js', './g.js'])
})

it('every top-level folder of the source has a place in the order', () => {
  const unplaced = readdirSync(root).filter((name) => {
    if (name.startsWith('.') || ['node_modules', 'dist', 'docs'].includes(name)) return false
    const path = join(root, name)
    return statSync(path).isDirectory() ? sources(path).length > 0 && !rankOf.has(name) : /\.ts$/.test(name) && !rankOf.has(name)
  })
  assert.equal(unplaced, [], `give these a rank in test/layers.test.ts (and docs/architecture.md): ${unplaced.join(', ')}`)
  assert.ok(graph.size > 50, `the source was read (${graph.size} files)`)
})

it('every import points down the order, or stays in its folder', () => {
  const wrong = upwardImports(graph)
  assert.equal(wrong, [], `imports against the layering:\n  ${wrong.join('\n  ')}`)
})

it('no chain of imports comes back to where it started', () => {
  const found = circles(graph)
  assert.equal(found, [], `import circles:\n  ${found.join('\n  ')}`)
})

it('console/ takes only types from outside itself: the browser loads nothing but its own files', () => {
  const outside: string[] = []
  for (const file of sources(join(root, 'console'))) {
    const text = readFileSync(file, 'utf8')
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)(\s+type)?\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/g)) {
      if (m[2].startsWith('../') && m[1] === undefined) outside.push(`${relative(root, file)} imports ${m[2]} (not \`import type\`)`)
    }
  }
  assert.equal(outside, [], outside.join('\n'))
  // What tsc made of it: the compiled page imports only its own modules.
  const compiled = readdirSync(join(root, 'dist', 'console')).filter((name) => name.endsWith('.js'))
  assert.ok(compiled.includes('app.js'), `the console was compiled (${compiled.join(', ')})`)
  const reaching = compiled.flatMap((name) => importsOf(readFileSync(join(root, 'dist', 'console', name), 'utf8')).filter((spec) => !spec.startsWith('./')).map((spec) => `dist/console/${name} imports ${spec}`))
  assert.equal(reaching, [], reaching.join('\n'))
})

it('the checks catch an upward import, a sideways one, and a circle', () => {
  const made: Graph = new Map([
    ['core/a.ts', ['machines/b.ts', 'client/x.ts', 'protocol/p.ts']],
    ['machines/b.ts', ['machines/c.ts']],
    ['machines/c.ts', ['machines/b.ts']],
  ])
  assert.equal(upwardImports(made), ['core/a.ts (core, rank 1) imports machines/b.ts (machines, rank 2)', 'core/a.ts (core, rank 1) imports client/x.ts (client, rank 1)'])
  assert.equal(circles(made), ['machines/b.ts → machines/c.ts → machines/b.ts'])
})

it.run()
