/**
 * What the user asked for, read from argv before @effect/cli parses it, for what @effect/cli gets
 * wrong or does not do: help asked with a global option first (`tank --data-dir D --help` was
 * "Invalid subcommand"), `tank help ps`, and a mistyped command (`tank pss`: it listed all 30
 * commands instead of suggesting `ps`). Pure: argv and the command tree in, a route out.
 */
import * as Command from "@effect/cli/Command"
import * as HashMap from "effect/HashMap"
import * as HashSet from "effect/HashSet"

/** Command names and their subcommands (`web` → `url`); a leaf has none. */
export type CommandTree = ReadonlyMap<string, CommandTree>

/**
 * The tree of the root's `commands`, from @effect/cli's own data (so it cannot drift from them).
 * Two levels (`web url`), as deep as Tank's commands go: @effect/cli names a subcommand's own
 * subcommands only through its parent Command, not through the descriptor it lists.
 */
export const treeOf = (
  commands: ReadonlyArray<Command.Command<string, never, unknown, unknown>>
): CommandTree =>
  new Map(commands.map((command) => {
    const name = [...HashSet.values(Command.getNames(command))][0]!
    // A leaf lists itself as its only subcommand.
    const children = [...HashMap.keys(Command.getSubcommands(command))].filter((c) => c !== name)
    return [name, new Map(children.map((c) => [c, new Map()]))]
  }))

export type Route =
  /** Hand `args` to @effect/cli; `path` is the command they name ("" for the root, "web url"). */
  | { readonly _tag: "Run"; readonly args: ReadonlyArray<string>; readonly path: string }
  /** `tank pss`, `tank web ur`, `tank help pss`: a usage error naming the word and the closest commands. */
  | { readonly _tag: "Unknown"; readonly command: string; readonly suggestions: ReadonlyArray<string> }

/**
 * Root options that take a value in the next word (`--data-dir DIR`); `--opt=value` is one word.
 * `--completions SHELL` is @effect/cli's (hidden from the help: `tank completion` is Tank's).
 */
const VALUED = new Set(["--data-dir", "--log-level", "--completions"])
const isHelp = (a: string) => a === "-h" || a === "--help"

/** Edit distance (insertions, deletions, substitutions, adjacent swaps): how far a typo is from a name. */
export const distance = (a: string, b: string): number => {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)])
  for (let j = 0; j <= b.length; j++) d[0]![j] = j
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1
      d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost)
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i]![j] = Math.min(d[i]![j]!, d[i - 2]![j - 2]! + 1)
      }
    }
  }
  return d[a.length]![b.length]!
}

/** The names closest to `word` (at most 2 edits, or `word` is a prefix), closest first. */
export const suggest = (word: string, names: Iterable<string>): ReadonlyArray<string> => {
  const scored = [...names]
    .map((name) => ({ name, d: name.startsWith(word) ? 1 : distance(word, name) }))
    .filter(({ d, name }) => d <= Math.min(2, Math.max(1, name.length - 1)))
  const best = Math.min(...scored.map((s) => s.d))
  return scored.filter((s) => s.d === best).map((s) => s.name).sort()
}

/** Where the command words start: after the root's own options (`--data-dir D`, `-h`, ...). */
const firstWord = (args: ReadonlyArray<string>): number => {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!
    if (a === "--") return -1
    if (!a.startsWith("-")) return i
    if (VALUED.has(a)) i++
  }
  return -1
}

/** The command path starting at `args[at]`, or the first word that names no command there. */
const walk = (
  args: ReadonlyArray<string>,
  at: number,
  tree: CommandTree
): { readonly path: ReadonlyArray<string> } | {
  readonly unknown: ReadonlyArray<string>
  readonly among: CommandTree
} => {
  const path: Array<string> = []
  let level = tree
  for (let i = at; i < args.length; i++) {
    const word = args[i]!
    // Only the word right after a command can name its subcommand (later ones are its arguments).
    if (word.startsWith("-")) break
    const next = level.get(word)
    if (next === undefined) {
      if (path.length === 0 || level.size > 0) return { unknown: [...path, word], among: level }
      break
    }
    path.push(word)
    level = next
    if (level.size === 0) break
  }
  return { path }
}

export const route = (args: ReadonlyArray<string>, tree: CommandTree): Route => {
  const end = args.indexOf("--")
  const before = end < 0 ? args : args.slice(0, end)
  const at = firstWord(args)
  const helpAsked = before.some(isHelp)
  // `tank help [COMMAND...]` is `tank COMMAND... --help`.
  if (at >= 0 && args[at] === "help" && !tree.has("help")) {
    return route([...args.slice(0, at), ...args.slice(at + 1), "--help"], tree)
  }
  if (at < 0) return { _tag: "Run", args: helpAsked ? ["--help"] : args, path: "" }
  const found = walk(args, at, tree)
  if ("unknown" in found) {
    // Two words (`nodes rmm`): the closest subcommands of the first.
    const last = found.unknown[found.unknown.length - 1]!
    const prefix = found.unknown.slice(0, -1).join(" ")
    return {
      _tag: "Unknown",
      command: found.unknown.join(" "),
      suggestions: suggest(last, found.among.keys()).map((s) => prefix ? `${prefix} ${s}` : s)
    }
  }
  // Help alone, as @effect/cli shows it for the command itself; the other words do not matter for help.
  return { _tag: "Run", args: helpAsked ? [...found.path, "--help"] : args, path: found.path.join(" ") }
}
