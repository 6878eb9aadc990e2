/**
 * The V8 flags `signalbox serve` runs node with: in the shebang of cli.ts (`env -S`) and in
 * package.json's `start` script, which a test holds to this list; bench/ runs its engine
 * with them too, and its baseline relays both with them and without (bench/lib/relays.ts).
 *
 * `--min-semi-space-size=8` starts V8's young generation at 8 MB a half instead of growing
 * it from 1 MB, which it does not do under a server's steady allocation: with one HTTP
 * request at a time, the engine's collections of young objects then came every few dozen
 * requests and made its p99 latency (0.57 ms against 0.29 ms, 2026-11-30, four rounds
 * each) and cost 5 to 8% more CPU per request. It costs about 14 MB of memory held from
 * the start. Node refuses it in NODE_OPTIONS: an embedder passes it on node's command line.
 */
export const SERVE_NODE_FLAGS: readonly string[] = ['--min-semi-space-size=8']
