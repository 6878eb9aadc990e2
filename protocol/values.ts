/**
 * Values as error texts show them. Every refusal the engine writes names the field, what
 * was expected and what came; these helpers say "what came" the same way everywhere.
 */

/** Longest id (function, trigger, trigger type, invocation) the engine accepts. */
export const MAX_ID_LENGTH = 1024

/** What a value's JSON type is, in words: `null`, `an array`, `a string`, `nothing`, … */
export function describeValue(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : value.length > MAX_ID_LENGTH ? `a string of ${value.length} characters` : 'a string'
  if (typeof value === 'undefined') return 'nothing'
  return typeof value === 'object' ? 'an object' : `a ${typeof value}`
}

/**
 * A value as a refusal shows it: strings quoted (cut at `max` characters, default 200),
 * numbers and booleans as they are, anything else described (`an object`, `null`, …).
 */
export function shown(value: unknown, max = 200): string {
  if (typeof value === 'string') return `'${value.length > max ? value.slice(0, max) + '…' : value}'`
  if (typeof value === 'number' || typeof value === 'boolean') return String(value)
  return describeValue(value)
}
