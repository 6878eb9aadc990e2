/** Reading a module's imports from its text, for the tests of the layering and of the package. */

/** Every relative module a file imports: static, re-exported, side-effect and dynamic, type-only ones too. */
export function importsOf(text: string): string[] {
  const found = new Set<string>()
  const patterns = [/(?:^|\n)\s*(?:import|export)\s[^'"]*?\sfrom\s+['"]([^'"]+)['"]/g, /(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g, /\bimport\(\s*['"]([^'"]+)['"]\s*\)/g]
  for (const pattern of patterns) for (const m of text.matchAll(pattern)) if (m[1].startsWith('.')) found.add(m[1])
  return [...found]
}
