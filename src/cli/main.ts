/**
 * The `tank` command line: kubectl/podman-like verbs over the store, the image cache and the agent.
 *
 * Exit codes: 0 ok (also when the output's reader went away early: stdio.ts), 1 error, 2 usage; `exec` passes the
 * command's own status through.
 * This file stays light: each command imports what it needs when it runs, so `tank ps` starts fast.
 */
import * as Args from "@effect/cli/Args"
import type * as CliApp from "@effect/cli/CliApp"
import * as Command from "@effect/cli/Command"
import * as HelpDoc from "@effect/cli/HelpDoc"
import * as NodeContext from "@effect/platform-node/NodeContext"
import * as NodeFileSystem from "@effect/platform-node/NodeFileSystem"
import * as NodePath from "@effect/platform-node/NodePath"
import * as Terminal from "@effect/platform/Terminal"
import { Console, Effect, Layer } from "effect"
import { apply } from "./apply.js"
import { load, save } from "./archive.js"
import { route, treeOf } from "./argv.js"
import { attach } from "./attach.js"
import { CliExit, describe, ExitCode, helpExtras, out, tankRoot } from "./common.js"
import { cp } from "./cp.js"
import { daemon } from "./daemon.js"
import { del } from "./delete.js"
import { diff } from "./diff.js"
import { doctor } from "./doctor.js"
import { events } from "./events.js"
import { exec } from "./exec.js"
import { get } from "./get.js"
import { cleanHelp } from "./help.js"
import { images, prune } from "./images.js"
import { logs } from "./logs.js"
import { network, networks, port } from "./network.js"
import { nodes } from "./nodes.js"
import { list, ps } from "./ps.js"
import { pull } from "./pull.js"
import { quickCommand } from "./quick.js"
import { restart } from "./restart.js"
import { finish, runCommand } from "./run.js"
import { schema } from "./schema.js"
import { stats } from "./stats.js"
import { status } from "./status.js"
import { top } from "./top.js"
import { wait } from "./wait.js"
import { web } from "./web.js"

export const VERSION = "0.1.0"

const version = Command.make("version", {}, () => out(`tank ${VERSION}`)).pipe(
  Command.withDescription(describe("version", "Print Tank's version.", [
    ["tank version", "prints `tank 0.1.0` (`tank --version` prints the number alone)"]
  ]))
)

// `completion` needs the finished command tree; it is filled in below (the tree contains `completion`).
const tree: { current?: Command.Command<"tank", never, unknown, unknown> } = {}

const completion = Command.make(
  "completion",
  { shell: Args.choice([["bash", "bash"], ["zsh", "zsh"], ["fish", "fish"]] as const, { name: "SHELL" }) },
  ({ shell }) =>
    Effect.gen(function*() {
      const t = tree.current!
      const lines = shell === "bash"
        ? yield* Command.getBashCompletions(t, "tank")
        : shell === "zsh"
        ? yield* Command.getZshCompletions(t, "tank")
        : yield* Command.getFishCompletions(t, "tank")
      yield* out(lines.join("\n"))
    })
).pipe(Command.withDescription(describe("completion", "Print a shell completion script.", [
  ["source <(tank completion bash)", "completions in the current bash"],
  ["tank completion zsh > \"${fpath[1]}/_tank\"", "install for zsh"],
  ["tank completion fish > ~/.config/fish/completions/tank.fish", "install for fish"]
])))

const commands = [
  daemon,
  apply,
  diff,
  get,
  ps,
  list,
  status,
  del,
  restart,
  wait,
  exec,
  cp,
  attach,
  logs,
  stats,
  top,
  events,
  doctor,
  nodes,
  networks,
  network,
  port,
  pull,
  images,
  prune,
  save,
  load,
  web,
  schema,
  completion,
  version
] as const

const root = tankRoot.pipe(
  Command.withDescription(HelpDoc.p(
    "Tank: declarative pods on one machine. Declare pods with `tank apply`, run the agent with `tank daemon`, " +
      "watch them with `tank ps`. Every command takes --data-dir (or $TANK_DATA_DIR)."
  )),
  Command.withSubcommands(commands)
)
tree.current = root as unknown as Command.Command<"tank", never, unknown, unknown>

const cli = Command.run(root, { name: "tank", version: VERSION })

helpExtras.set(
  "",
  [
    "QUICK START",
    "",
    "  sudo tank daemon &                 run the agent (one per data dir)",
    "  tank apply -f busybox.yaml         declare pods (YAML or JSON)",
    "  tank ps                            see them converge",
    "  tank exec -it sleeper -- sh        a shell inside a pod",
    "  tank delete sleeper                remove it",
    "",
    "  tank COMMAND --help                every command's options and examples",
    "",
    "EXIT STATUS",
    "",
    "  0 success, 1 error, 2 usage error; exec passes the command's status through",
    "  (125 could not enter the pod, 126 not executable, 127 not found);",
    "  A reader that stops early (| head) ends any command quietly with status 0.",
    "  ps, status, get and events list what they can read and name each unreadable stored",
    "  record on stderr (still 0); tank doctor exits 1 while any remains.",
    ""
  ].join("\n")
)

/** What argv asks for (argv.ts): the args @effect/cli gets, or a mistyped command. */
const routed = Effect.sync(() =>
  route(
    process.argv.slice(2),
    treeOf(commands as unknown as ReadonlyArray<Command.Command<string, never, unknown, unknown>>)
  )
)

const quoted = (names: ReadonlyArray<string>) => names.map((n) => `"${n}"`).join(" or ")

/** `tank pss`: a usage error suggesting `ps`, instead of @effect/cli's list of every command. */
const unknownCommand = (command: string, suggestions: ReadonlyArray<string>) =>
  new CliExit({
    code: ExitCode.usage,
    message: `unknown command "${command}"` + (suggestions.length ? `; did you mean ${quoted(suggestions)}?` : "") +
      " (tank --help lists the commands)"
  })

/** The examples and notes after @effect/cli's help of `path` ("" for the root; `list` is `ps`). */
const printHelpExtras = (path: string) => {
  const text = helpExtras.get(path === "list" ? "ps" : path)
  return text ? out(text) : Effect.void
}

/**
 * @effect/cli colours its help unconditionally: plain text on pipes and with NO_COLOR; never its filler
 * (help.ts). `onHelp` hears when the text was a help page (asked, or `tank web` without its subcommand).
 */
const plainOnPipes = (path: string, onHelp: () => void) => <A, E, R>(eff: Effect.Effect<A, E, R>) => {
  const colour = process.stdout.isTTY === true && !process.env.NO_COLOR
  // Only @effect/cli writes through Console (results go through stdio.ts): its help, less its filler.
  const strip = (a: unknown) => {
    if (typeof a !== "string") return a
    // eslint-disable-next-line no-control-regex
    const plain = cleanHelp(a, path).replace(/\x1b\[[0-9;]*m/g, "")
    if (/^USAGE$/m.test(plain)) onHelp()
    return colour ? cleanHelp(a, path) : plain
  }
  return Console.consoleWith((c) =>
    Effect.withConsole(eff, {
      ...c,
      log: (...args: ReadonlyArray<unknown>) => c.log(...args.map(strip)),
      error: (...args: ReadonlyArray<unknown>) => c.error(...args.map(strip))
    })
  )
}

/** What argv asks for, run by @effect/cli; its outcome as run.ts `finish` makes it. */
const program = Effect.flatMap(routed, (r) => {
  const help = { shown: false }
  return (r._tag === "Unknown"
    ? Effect.fail(unknownCommand(r.command, r.suggestions))
    : cli([...process.argv.slice(0, 2), ...r.args]).pipe(
      Effect.zipRight(Effect.suspend(() => help.shown ? printHelpExtras(r.path) : Effect.void))
    )).pipe(
      finish,
      plainOnPipes(r._tag === "Run" ? r.path : "", () => (help.shown = true))
    )
}).pipe(Effect.provide(NodeContext.layer))

/** The output of a rehearsal goes nowhere; it has no terminal (that would open stdin while a snapshot is built). */
const rehearsalContext = Layer.mergeAll(
  NodeFileSystem.layer,
  NodePath.layer,
  Layer.succeed(
    Terminal.Terminal,
    Terminal.Terminal.of({
      columns: Effect.succeed(80),
      rows: Effect.succeed(24),
      isTTY: Effect.succeed(false),
      readInput: Effect.dieMessage("no terminal in a rehearsal"),
      readLine: Effect.dieMessage("no terminal in a rehearsal"),
      display: () => Effect.void
    })
  )
)

const silent = (eff: Effect.Effect<void, unknown, CliApp.CliApp.Environment>) =>
  Console.consoleWith((c) =>
    Effect.withConsole(eff, { ...c, log: () => Effect.void, error: () => Effect.void, info: () => Effect.void })
  )

/**
 * Runs each command line of `lines` once, its output dropped (help pages, `--version`) or written to the
 * process's stdout and stderr (commands), its outcome ignored. Called only while a startup snapshot is
 * built (entry.ts): V8 keeps the compiled code of what ran, so the paths every command takes (Effect's
 * runtime, @effect/cli's parser and help, Schema, the config, the store) start compiled.
 */
export const rehearse = (lines: ReadonlyArray<ReadonlyArray<string>>): Effect.Effect<void> =>
  Effect.forEach(lines, (args) =>
    // A quick line (quick.ts) runs both ways: its own path, and @effect/cli's that other commands share.
    Effect.zipRight(
      Effect.exit(quickCommand(args) ?? Effect.void),
      Effect.exit(silent(cli(["node", "tank", ...args])))
    ), { discard: true }).pipe(
      Effect.provide(rehearsalContext)
    )

/**
 * Runs the command line (process.argv); called at once, or after a startup snapshot is deserialized
 * (entry.ts). `tank ps` and `tank exec` in their plain forms skip @effect/cli's parser (quick.ts: the
 * same handlers, the same output and exit codes).
 */
export const main = () => {
  // TANK_NO_QUICK=1: every line through @effect/cli (tests and benches compare both paths).
  const quick = process.env.TANK_NO_QUICK === "1" ? undefined : quickCommand(process.argv.slice(2))
  runCommand(quick ?? program)
}
