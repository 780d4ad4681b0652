/**
 * What every command shares: the global options (`--data-dir`, `--json`), the root command's tag
 * (so `tank --data-dir D ps` and `tank ps --data-dir D` both work), exit codes, and lazy access to the
 * store. Heavy modules (SQLite, the image client, the agent) are imported inside handlers so a
 * command loads only what it uses.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import type { Store } from "../store/Store.js"
import { loadConfigAt, withStoreAt } from "./base.js"

// What does not need @effect/cli lives in base.ts (the quick entry, quick.ts, loads only that).
export { CliExit, ensureOnThisNode, err, ExitCode, loadConfigAt, out, withStoreAt } from "./base.js"

export const dataDirOption = Options.text("data-dir").pipe(
  Options.withPseudoName("DIR"),
  Options.withDescription(
    "Tank's data directory (default: $TANK_DATA_DIR, else /var/lib/tank for root, ~/.cache/tank for others)."
  ),
  Options.optional
)

export const jsonOption = Options.boolean("json").pipe(Options.withDescription("Same as -o json."))

/** A pod name argument. Unknown flags would otherwise land here (`tank get --bogus`): usage error. */
export const podArg = Args.text({ name: "POD" }).pipe(
  Args.mapEffect((name) =>
    name.startsWith("-") ? Effect.fail(HelpDoc.p(`unknown option ${name}`)) : Effect.succeed(name)
  )
)

/** The root command before its subcommands are attached: subcommands read its `--data-dir`. */
export const tankRoot = Command.make("tank", { dataDir: dataDirOption })

/**
 * The data dir from the subcommand's own `--data-dir`, else the root's. Passed on explicitly (to
 * `Config.load`, the agent's options): the process's environment is an input, never written.
 */
export const resolveDataDir = (own: Option.Option<string>) =>
  Effect.map(tankRoot, (root) => Option.map(Option.orElse(own, () => root.dataDir), (d) => path.resolve(d)))

/** The resolved config (file + env + `--data-dir`). */
export const loadConfig = (
  own: Option.Option<string>
): Effect.Effect<TankConfigShape, unknown, Command.Command.Context<"tank">> =>
  Effect.flatMap(resolveDataDir(own), loadConfigAt)

/** `withStoreAt` on the data dir from the subcommand's own `--data-dir`, else the root's. */
export const withStore = <A, E>(
  own: Option.Option<string>,
  eff: (config: TankConfigShape) => Effect.Effect<A, E, Store>,
  options: { readonly readOnly?: boolean } = {}
): Effect.Effect<A, unknown, Command.Command.Context<"tank">> =>
  Effect.flatMap(resolveDataDir(own), (dataDir) => withStoreAt(dataDir, eff, options))

/** Examples and notes per command, printed after @effect/cli's help (its command list shows only
 * a description's first paragraph, so the examples cannot live in the description itself). */
export const helpExtras = new Map<string, string>()

/** A command's description (one paragraph: the summary listed by `tank --help`) plus its examples. */
export const describe = (
  name: string,
  summary: string,
  examples: ReadonlyArray<readonly [string, string]>,
  more?: string
) => {
  const text = [
    "EXAMPLES",
    "",
    ...examples.flatMap(([cmd, what]) => [`  ${cmd}`, `      ${what}`, ""]),
    ...(more ? ["NOTES", "", ...more.split("\n").map((l) => `  ${l}`), ""] : [])
  ].join("\n")
  helpExtras.set(name, text)
  return HelpDoc.p(summary)
}

/** `-l key=value,key!=value,key in (a,b)`: pods by their labels (src/spec/selector.ts). */
export const selectorOption = Options.text("selector").pipe(
  Options.withAlias("l"),
  Options.withPseudoName("SELECTOR"),
  Options.withDescription("Only pods whose labels match: app=web,tier!=db,env in (a,b),gpu,!legacy."),
  Options.optional
)

/**
 * The pods a command acts on: those named, plus those the selector picks (none picked is not an
 * error: nothing to do). Needs the store.
 */
export const selectNames = (named: ReadonlyArray<string>, selector: Option.Option<string>) =>
  Option.isNone(selector) ? Effect.succeed(named) : Effect.gen(function*() {
    const Api = yield* Effect.promise(() => import("../api/Api.js"))
    const picked = yield* Api.select(selector.value)
    return [...new Set([...named, ...picked.map((p) => p.name)])]
  })
