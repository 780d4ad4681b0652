/**
 * The quick path of `tank ps` / `tank list` and `tank exec`: their plain command lines (the options a
 * script or a user types every day) go straight to the commands' handlers (psList.ts, execRun.ts),
 * without @effect/cli building and running its parser (~30 ms of every run: most of what these
 * commands cost above Node's own start). Anything else — help, an option this parser does not know, a
 * value it would have to judge, `ps -w` — returns undefined and runs through @effect/cli, so usage
 * errors and help stay @effect/cli's own: this parser only ever accepts lines @effect/cli accepts the
 * same way (test/cli/quick.test.ts runs both on the same lines).
 */
import type { Effect } from "effect"
import type { CliExit } from "./base.js"
import { runExec } from "./execRun.js"
import { runPs } from "./psList.js"
import { quickLine } from "./quickLine.js"
import { finish } from "./run.js"

// The parser itself is pure and Schema-free (quickLine.ts: ps's lite path parses with it).
export { type QuickLine, quickLine } from "./quickLine.js"

/** The quick line's command, run to its exit code as main.ts runs any command (run.ts), or undefined. */
export const quickCommand = (args: ReadonlyArray<string>): Effect.Effect<void, CliExit> | undefined => {
  const line = quickLine(args)
  if (line === undefined) return undefined
  return finish(line._tag === "ps" ? runPs(line.options) : runExec(line.options))
}
