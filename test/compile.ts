/**
 * The TypeScript compiler on the type fixtures (test/fixtures/types), as a user's project
 * would compile them: used by test/types.test.ts (against this checkout) and
 * test/install.test.ts (against the package installed from its tarball).
 */
import { readFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import ts from 'typescript'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..')
export const FIXTURES = join(root, 'test', 'fixtures', 'types')

/** Compiler options a user of the package would have: strict, Node's ESM resolution. */
export const USER_OPTIONS: ts.CompilerOptions = {
  strict: true,
  noEmit: true,
  target: ts.ScriptTarget.ES2022,
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  types: ['node'],
  skipLibCheck: true,
}

/** Each error of compiling `file` (alone), as `line: text`. */
export function compileErrors(file: string, options: ts.CompilerOptions = USER_OPTIONS): Array<{ line: number; text: string }> {
  const program = ts.createProgram([file], options)
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    line: d.file && d.start !== undefined ? d.file.getLineAndCharacterOfPosition(d.start).line + 1 : 0,
    text: `${d.file ? d.file.fileName.split('/').pop() : ''}: ${ts.flattenDiagnosticMessageText(d.messageText, ' ')}`,
  }))
}

/** The lines of `file` marked `// error: <text>`, with their text. */
export function expectedErrors(file: string): Map<number, string> {
  const marked = new Map<number, string>()
  readFileSync(file, 'utf8')
    .split('\n')
    .forEach((line, i) => {
      const m = /\/\/ error: (.+)$/.exec(line)
      if (m) marked.set(i + 1, m[1].trim())
    })
  return marked
}
