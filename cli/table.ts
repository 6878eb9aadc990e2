/** Renders rows as a plain-text table with a header, columns padded to their widest cell. */
export function formatTable(headers: string[], rows: Array<Array<unknown>>): string {
  const cells = rows.map((row) => row.map((c) => (c === undefined || c === null ? '-' : String(c))))
  const widths = headers.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)))
  const line = (r: string[]) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]))).join('  ')
  return [line(headers), ...cells.map(line)].join('\n') + '\n'
}
