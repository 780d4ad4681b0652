/**
 * The quick path's parser (quick.ts says which lines it takes and why): pure, and free of Schema and
 * of Effect's runtime, so ps's lite bundle (quickPsLite.ts) parses with it as the heavy one does.
 */
import { Option } from "effect"
import * as path from "node:path"
import type { ExecOptions } from "./execRun.js"
import { type Format, FORMATS } from "./listingText.js"
import type { PsOptions } from "./psView.js"

export type QuickLine =
  | { readonly _tag: "ps"; readonly options: PsOptions }
  | { readonly _tag: "exec"; readonly options: ExecOptions }

/** One option: its spellings, and whether it takes the next word as its value. */
interface Flag {
  readonly key: string
  readonly names: ReadonlyArray<string>
  readonly value: boolean
}

const DATA_DIR: Flag = { key: "dataDir", names: ["--data-dir"], value: true }

const PS: ReadonlyArray<Flag> = [
  DATA_DIR,
  { key: "json", names: ["--json"], value: false },
  { key: "output", names: ["--output", "-o"], value: true },
  { key: "quiet", names: ["--quiet", "-q"], value: false },
  { key: "selector", names: ["--selector", "-l"], value: true }
]

const EXEC: ReadonlyArray<Flag> = [
  DATA_DIR,
  { key: "interactive", names: ["--interactive", "-i"], value: false },
  { key: "tty", names: ["--tty", "-t"], value: false },
  { key: "container", names: ["--container", "-c"], value: true },
  { key: "user", names: ["--user", "-u"], value: true },
  { key: "workdir", names: ["--workdir", "-w"], value: true }
]

type Parsed = Map<string, string | true>

/**
 * Options from `args[from]` up to the first word that is not one (its index returned), or undefined
 * for anything this parser leaves to @effect/cli: an unknown option, one given twice, a value that
 * looks like an option (`--data-dir -q`: @effect/cli's call), `--opt=value`, `-abc` clusters other
 * than exec's `-it`/`-ti`.
 */
const options = (
  args: ReadonlyArray<string>,
  from: number,
  flags: ReadonlyArray<Flag>,
  into: Parsed
): number | undefined => {
  let i = from
  for (; i < args.length; i++) {
    const word = args[i]!
    if (!word.startsWith("-") || word === "--") return i
    const cluster = (word === "-it" || word === "-ti") && flags.some((f) => f.key === "tty")
    const names = cluster ? ["-i", "-t"] : [word]
    for (const name of names) {
      const flag = flags.find((f) => f.names.includes(name))
      if (flag === undefined || into.has(flag.key)) return undefined
      if (!flag.value) {
        into.set(flag.key, true)
        continue
      }
      const value = args[i + 1]
      if (value === undefined || value.startsWith("-")) return undefined
      into.set(flag.key, value)
      i++
    }
  }
  return i
}

const text = (p: Parsed, key: string): Option.Option<string> => {
  const v = p.get(key)
  return typeof v === "string" ? Option.some(v) : Option.none()
}

/** The command's own `--data-dir`, else the root's, made absolute (as common.ts `resolveDataDir`). */
const dataDir = (own: Parsed, root: Parsed) =>
  Option.map(Option.orElse(text(own, "dataDir"), () => text(root, "dataDir")), (d) => path.resolve(d))

/** `args` (process.argv without node and the script) as a quick command line, or undefined. Pure. */
export const quickLine = (args: ReadonlyArray<string>): QuickLine | undefined => {
  const root: Parsed = new Map()
  const at = options(args, 0, [DATA_DIR], root)
  if (at === undefined || at >= args.length) return undefined
  const word = args[at]!
  if (word === "ps" || word === "list") {
    const own: Parsed = new Map()
    const end = options(args, at + 1, PS, own)
    // Nothing after the options (a word there is @effect/cli's error to report).
    if (end !== args.length) return undefined
    const output = text(own, "output")
    if (Option.isSome(output) && !(FORMATS as ReadonlyArray<string>).includes(output.value)) return undefined
    return {
      _tag: "ps",
      options: {
        dataDir: dataDir(own, root),
        json: own.has("json"),
        output: output as Option.Option<Format>,
        quiet: own.has("quiet"),
        selector: text(own, "selector"),
        watch: false
      }
    }
  }
  if (word === "exec") {
    const own: Parsed = new Map()
    const end = options(args, at + 1, EXEC, own)
    // POD -- CMD..., nothing else (the pod name cannot look like an option: options() stopped there).
    if (end === undefined || args[end] === "--" || args[end + 1] !== "--" || end + 2 >= args.length) return undefined
    return {
      _tag: "exec",
      options: {
        dataDir: dataDir(own, root),
        interactive: own.has("interactive"),
        tty: own.has("tty"),
        container: text(own, "container"),
        env: Option.none(),
        user: text(own, "user"),
        workdir: text(own, "workdir"),
        pod: args[end]!,
        command: args.slice(end + 2)
      }
    }
  }
  return undefined
}
