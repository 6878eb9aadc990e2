/**
 * The docs' tables come from the code's: docs/errors.md from the table of error codes,
 * the README's options table from the table of engine options (`npm run diagrams` writes
 * both). And the source keeps to the table of error codes: no code is written inline
 * outside protocol/errors.ts, and every code in the table is produced somewhere.
 */
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { ERROR_CODES } from '../protocol/errors.js'
import { errorsDoc, EXAMPLE_MARKER, optionsTable, OPTIONS_END, OPTIONS_START, withExamples, withSection } from '../diagrams/tables.js'
import { errorsDocPath, readmePath } from '../diagrams/generate.js'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
const RUN = 'run `npm run diagrams` and commit the result'

/** The engine's, the client's and the console's source files (not tests, benchmarks or generators). */
function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name)
    return statSync(path).isDirectory() ? sources(path) : name.endsWith('.ts') ? [path] : []
  })
}
const files = [...['protocol', 'core', 'machines', 'actors', 'client', 'adapters', 'cli', 'console'].flatMap((d) => sources(join(root, d))), join(root, 'cli.ts'), join(root, 'index.ts')]
const TABLE = join(root, 'protocol', 'errors.ts')

const it = suite('generated docs and the error table')

it('docs/errors.md is the table of error codes', () => {
  const committed = readFileSync(errorsDocPath, 'utf8').replace(/\r\n/g, '\n')
  assert.ok(committed === errorsDoc(), `docs/errors.md no longer matches protocol/errors.ts: ${RUN}`)
})

it("the README's options table is the table of engine options", () => {
  const readme = readFileSync(readmePath, 'utf8').replace(/\r\n/g, '\n')
  assert.ok(readme.includes(OPTIONS_START) && readme.includes(OPTIONS_END), 'the README has the options markers')
  assert.ok(withSection(readme, OPTIONS_START, OPTIONS_END, optionsTable()) === readme, `README.md shows an old options table: ${RUN}`)
})

it("the README's example blocks are the files of examples/ they name", () => {
  const readme = readFileSync(readmePath, 'utf8').replace(/\r\n/g, '\n')
  const named = [...readme.matchAll(EXAMPLE_MARKER)].map((m) => m[1])
  assert.ok(named.length >= 2, `the README shows examples: ${named.join(', ')}`)
  assert.ok(withExamples(readme, (path) => readFileSync(join(root, path), 'utf8')) === readme, `README.md shows an old copy of ${named.join(' or ')}: ${RUN}`)
})

it('no source file outside protocol/errors.ts writes an error code inline', () => {
  const inline: string[] = []
  for (const file of files) {
    if (file === TABLE) continue
    readFileSync(file, 'utf8')
      .split('\n')
      .forEach((line, i) => {
        if (/\bcode:\s*['"`]/.test(line) || /errorBody\(\s*['"`]/.test(line)) inline.push(`${relative(root, file)}:${i + 1}: ${line.trim()}`)
      })
  }
  assert.equal(inline, [], `write these through \`errors\` in protocol/errors.ts:\n  ${inline.join('\n  ')}`)
})

it('every code in the table is produced by the source', () => {
  const table = readFileSync(TABLE, 'utf8')
  const constructors = table.slice(table.indexOf('export const errors'))
  const elsewhere = files.filter((f) => f !== TABLE).map((f) => readFileSync(f, 'utf8')).join('\n')
  const unused = Object.keys(ERROR_CODES).filter((code) => !constructors.includes(`'${code}'`) && !elsewhere.includes(`'${code}'`))
  assert.equal(unused, [], `codes in the table that nothing produces: ${unused.join(', ')}`)
})

it('every document the source, the README and docs/ name is in the repository', () => {
  const named = new Map<string, string>()
  const everything = [...files, ...['test', 'bench', 'diagrams'].flatMap((d) => sources(join(root, d)))]
  for (const file of everything) {
    for (const m of readFileSync(file, 'utf8').matchAll(/(?<!['/\w])((?:docs|diagrams|bench)\/[\w.-]+\.md|[A-Z][A-Z_]+\.md)\b/g)) named.set(m[1], relative(root, file))
  }
  const pages = [join(root, 'README.md'), ...readdirSync(join(root, 'docs')).filter((f) => f.endsWith('.md')).map((f) => join(root, 'docs', f))]
  for (const page of pages) {
    const text = readFileSync(page, 'utf8')
    // Source files a page names by path (from the root), as in `see actors/http-stream.ts`.
    for (const m of text.matchAll(/(?<![\w/.-])((?:bench|test|adapters|core|actors|machines|protocol|client|cli|console|diagrams|examples)\/[\w./-]*[\w-]\.(?:ts|mjs))\b/g)) named.set(m[1], relative(root, page))
    for (const m of text.matchAll(/\]\(([^)#\s]+)(#[^)]*)?\)/g)) {
      if (/^[a-z]+:/.test(m[1])) continue
      named.set(relative(root, resolve(dirname(page), m[1])), relative(root, page))
    }
  }
  const missing = [...named].filter(([path]) => {
    try {
      statSync(join(root, path))
      return false
    } catch {
      return true
    }
  })
  assert.equal(missing.map(([path, by]) => `${path} (named in ${by})`), [])
  assert.ok(named.has('docs/errors.md'), 'the source names docs/errors.md')
})

it('the inline-code check sees what it must refuse', () => {
  assert.ok(/\bcode:\s*['"`]/.test("error: { code: 'oops', message: 'x' }"))
  assert.ok(/errorBody\(\s*['"`]/.test("errorBody('oops', 'x')"))
  assert.not.ok(/\bcode:\s*['"`]/.test('error: { code, message }'))
})

it.run()
