/** `node dist/bench/profile-summary.js <file.cpuprofile> [top]`: where the time went, as markdown. */
import { summarise, summaryMarkdown } from './lib/profile-summary.js'

const [file, top] = process.argv.slice(2)
if (!file) {
  process.stderr.write('usage: node dist/bench/profile-summary.js <file.cpuprofile> [top]\n')
  process.exit(2)
}
process.stdout.write(summaryMarkdown(summarise(file), Number(top ?? 25)) + '\n')
