/**
 * The entry of `dist/quick-ps.cjs` (scripts/build.mjs), which bin/tank starts for `tank ps`/`list`:
 * the quick path's ps lines (quick.ts) from a bundle whose graph holds only what they run — no
 * @effect/cli command tree, no Store layer or @effect/sql: the store's rows come through the narrow
 * read-only reader (src/store/psReader.ts, the Store's own row decoders) and run through the same
 * report, runPs, table and formats as the full CLI's. Everything else — a line the quick path leaves
 * to @effect/cli (help, an unknown option, `ps -w`), `-o yaml`, TANK_NO_QUICK=1, and whatever the
 * reader cannot read as the Store would (cluster mode, another schema version, a config error) —
 * runs the full CLI (fullCli.ts), which says it as every other command does.
 *
 * This graph must not import() a module of its own (the build stubs those out: a lazily required
 * module would make esbuild wrap Effect whole, ~35 ms of module evaluation at every start).
 */
import { Clock, Effect, Either, Option } from "effect"
import { buildReport } from "../api/report.js"
import { printableText } from "../spec/printable.js"
import { FullCliNeeded, readForPs } from "../store/psReader.js"
import { loadConfigAt } from "./base.js"
import { runFullCli } from "./fullCli.js"
import { type PsOptions, type PsRead, psRows, runPs } from "./psList.js"
import { quickLine } from "./quick.js"
import { finish, runCommand } from "./run.js"

/**
 * The config and ps's report through the narrow reader, or why the full CLI must run instead (a
 * config error, cluster mode, another schema version, a failed read: the full CLI reports those).
 */
const readNarrow = (options: PsOptions): Effect.Effect<PsRead, FullCliNeeded> =>
  Effect.gen(function*() {
    const config = yield* Effect.mapError(
      loadConfigAt(options.dataDir),
      (e) => new FullCliNeeded({ reason: `the config: ${e instanceof Error ? e.message : String(e)}` })
    )
    const read = yield* readForPs(config)
    const { invalid, statuses } = buildReport({
      pods: read.pods,
      badPods: read.badPods,
      observed: read.statuses,
      badStatus: read.badStatus,
      nodes: undefined,
      now: yield* Clock.currentTimeMillis
    })
    return { config, report: { rows: psRows(statuses, read.pods, read.badPods), invalid } }
  })

/**
 * The fallback is always correct (the full CLI reads the same store), so it is silent; TANK_DEBUG=1
 * says why it happened on stderr (a reader that keeps falling back would otherwise go unnoticed).
 */
const fallBack = (reason: string) => {
  if (process.env.TANK_DEBUG === "1") {
    process.stderr.write(printableText(`tank: debug: ps runs the full CLI: ${reason}\n`))
  }
  return runFullCli()
}

const main = async () => {
  const line = process.env.TANK_NO_QUICK === "1" ? undefined : quickLine(process.argv.slice(2))
  // -o yaml loads its printer lazily, which only the full bundle may.
  if (line?._tag !== "ps" || Option.getOrUndefined(line.options.output) === "yaml") return runFullCli()
  const read = await Effect.runPromise(Effect.either(readNarrow(line.options)))
  if (Either.isLeft(read)) return fallBack(read.left.reason)
  // Nothing outlives a listing (ps -w is the full CLI's): its output flushed, the process is done.
  runCommand(finish(runPs(line.options, () => Effect.succeed(read.right))), { exitWhenDone: true })
}

void main()
