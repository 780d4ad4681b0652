/**
 * Issue 20: help as a docker/kubectl user expects it, run as the real CLI. Every command and
 * subcommand (walked from `tank --help`, so a new command is covered without editing this file)
 * shows at least one example and none of @effect/cli's filler; help asked in every usual way
 * (`tank --data-dir D --help`, `tank help ps`, `-h`) shows the right page; a mistyped command
 * suggests the right one and exits 2.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, runCli } from "./harness.js"

let cli: ReturnType<typeof buildCli>
beforeAll(() => {
  cli = buildCli()
})
afterAll(() => cli?.cleanup())

const tank = (...args: ReadonlyArray<string>) => runCli(cli.entry, args)

/** The names listed under COMMANDS (first word of each entry: the root lists `nodes ... rm` too). */
const commandsOf = (help: string): ReadonlyArray<string> => {
  const section = help.split(/^COMMANDS$/m)[1]?.split(/^[A-Z][A-Z ]+$/m)[0] ?? ""
  return [...new Set([...section.matchAll(/^ {2}- (\S+)/gm)].map((m) => m[1]!))]
}

/** What is wrong with a help page (empty when nothing): an example is a line `  ... tank PATH ...`. */
const problems = (path: string, text: string): ReadonlyArray<string> => {
  const found: Array<string> = []
  const filler = text.match(
    /A user-defined piece of text|A true or false value|An integer\.|This setting is optional|One of the following|--wizard|--completions/
  )
  if (filler) found.push(`filler: ${filler[0]}`)
  const examples = text.split(/^EXAMPLES$/m)[1]?.split(/^[A-Z][A-Z ]+$/m)[0] ?? ""
  // `list` is `ps` under another name: its examples are ps's.
  const shown = path === "list" ? "ps" : path
  if (!new RegExp(`^ {2}.*\\btank ${shown}\\b`, "m").test(examples)) found.push("no example")
  if (!text.includes(`\n$ tank ${path}`)) found.push("usage line does not name the command")
  if (/^tank$/m.test(text)) found.push("banner")
  return found
}

describe("every command's help", () => {
  it("shows an example and no @effect/cli filler (the whole command tree, walked from tank --help)", async () => {
    const root = await tank("--help")
    expect(root.code).toBe(0)
    expect(problems("", root.stdout).filter((p) => p !== "no example")).toEqual([])
    expect(root.stdout).toContain("QUICK START")
    const bad: Record<string, ReadonlyArray<string>> = {}
    const seen: Array<string> = []
    let level: ReadonlyArray<ReadonlyArray<string>> = commandsOf(root.stdout).map((c) => [c])
    while (level.length > 0) {
      const next: Array<ReadonlyArray<string>> = []
      // A few at a time: 2 cores, shared.
      for (let i = 0; i < level.length; i += 4) {
        const pages = await Promise.all(
          level.slice(i, i + 4).map(async (p) => [p, await tank(...p, "--help")] as const)
        )
        for (const [p, r] of pages) {
          const path = p.join(" ")
          seen.push(path)
          const found = [...problems(path, r.stdout), ...(r.code === 0 ? [] : [`exit ${r.code}`])]
          if (found.length) bad[path] = found
          next.push(...commandsOf(r.stdout).map((c) => [...p, c]))
        }
      }
      level = next
    }
    expect(bad).toEqual({})
    // The walk really walked: every top-level command and the subcommands.
    expect(seen).toEqual(
      expect.arrayContaining(["ps", "apply", "exec", "version", "web url", "nodes rm", "network cleanup"])
    )
    expect(seen.length).toBeGreaterThanOrEqual(33)
  }, 60_000)
})

describe("asking for help", () => {
  it("with a global option first, -h, help COMMAND: the same pages as --help", async () => {
    const rootHelp = (await tank("--help")).stdout
    const psHelp = (await tank("ps", "--help")).stdout
    expect(psHelp).toContain("$ tank ps")
    expect(psHelp).toContain("EXAMPLES")
    for (
      const [args, page] of [
        [["--data-dir", "/nonexistent/tank", "--help"], rootHelp],
        [["--data-dir=/nonexistent/tank", "--help"], rootHelp],
        [["-h"], rootHelp],
        [["help"], rootHelp],
        [["ps", "-h"], psHelp],
        [["help", "ps"], psHelp],
        [["--data-dir", "/nonexistent/tank", "ps", "--help"], psHelp],
        [["ps", "-o", "json", "--help"], psHelp]
      ] as const
    ) {
      const r = await tank(...args)
      expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: "" })
      expect(r.stdout, args.join(" ")).toBe(page)
    }
    // A subcommand's page is its own: its usage and its examples, not its parent's.
    const url = await tank("help", "web", "url")
    expect(url.stdout).toContain("$ tank web url")
    expect(url.stdout).toContain("xdg-open")
    // A group without its subcommand shows the group's page, examples included.
    const network = await tank("network")
    expect(network.code).toBe(0)
    expect(network.stdout).toContain("$ tank network")
    expect(network.stdout).toContain("sudo tank network cleanup")
  }, 60_000)

  it("a mistyped command: exit 2, the closest command suggested, nothing on stdout", async () => {
    for (
      const [args, said] of [
        [["pss"], `unknown command "pss"; did you mean "ps"?`],
        [["--data-dir", "/nonexistent/tank", "aply", "-f", "x.yaml"], `unknown command "aply"; did you mean "apply"?`],
        [["help", "lgos"], `unknown command "lgos"; did you mean "logs"?`],
        [["web", "ur"], `unknown command "web ur"; did you mean "web url"?`],
        [["nodes", "rmm"], `unknown command "nodes rmm"; did you mean "nodes rm"?`],
        [["frobnicate"], `unknown command "frobnicate" (tank --help lists the commands)`]
      ] as const
    ) {
      const r = await tank(...args)
      expect({ args, code: r.code, stdout: r.stdout }).toEqual({ args, code: 2, stdout: "" })
      expect(r.stderr).toContain(`tank: ${said}`)
    }
    // A root option's value is not a command: @effect/cli's own `--completions SHELL` still works.
    const completions = await tank("--completions", "bash")
    expect(completions.code).toBe(0)
    expect(completions.stdout).toContain("complete -F")
  }, 60_000)
})
