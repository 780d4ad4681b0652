/**
 * argv.ts: how `tank` reads its argv before @effect/cli does (help asked in every usual way, a
 * mistyped command). Pure: a small command tree, no process.
 */
import { describe, expect, it } from "vitest"
import { type CommandTree, distance, route, suggest } from "../../src/cli/argv.js"

const leaf: CommandTree = new Map()
const tree: CommandTree = new Map([
  ["ps", leaf],
  ["pull", leaf],
  ["apply", leaf],
  ["logs", leaf],
  ["exec", leaf],
  ["web", new Map([["url", leaf]])],
  ["nodes", new Map([["rm", leaf]])]
])

describe("route", () => {
  it("help with global options first, -h anywhere before --, and `help COMMAND`", () => {
    const root = { _tag: "Run", args: ["--help"], path: "" }
    expect(route(["--help"], tree)).toEqual(root)
    expect(route(["--data-dir", "/d", "--help"], tree)).toEqual(root)
    expect(route(["--data-dir=/d", "-h"], tree)).toEqual(root)
    expect(route(["--log-level", "debug", "--help"], tree)).toEqual(root)
    expect(route(["help"], tree)).toEqual(root)
    const ps = { _tag: "Run", args: ["ps", "--help"], path: "ps" }
    expect(route(["ps", "-h"], tree)).toEqual(ps)
    expect(route(["--data-dir", "/d", "ps", "-o", "json", "--help"], tree)).toEqual(ps)
    expect(route(["help", "ps"], tree)).toEqual(ps)
    expect(route(["--data-dir", "/d", "help", "ps"], tree)).toEqual(ps)
    expect(route(["help", "web", "url"], tree)).toEqual({
      _tag: "Run",
      args: ["web", "url", "--help"],
      path: "web url"
    })
    expect(route(["web", "url", "-h"], tree)).toEqual({ _tag: "Run", args: ["web", "url", "--help"], path: "web url" })
  })

  it("leaves everything else to @effect/cli, unchanged", () => {
    for (
      const args of [
        [],
        ["--version"],
        ["--completions", "bash"],
        ["--log-level", "debug", "ps"],
        ["ps"],
        ["--data-dir", "ps", "ps"],
        ["exec", "web", "--", "sh", "--help"],
        ["exec", "-it", "web", "--", "sh", "-h"],
        ["logs", "help"],
        ["nodes", "-o", "json"],
        ["web"]
      ]
    ) {
      const r = route(args, tree)
      expect(r, args.join(" ")).toMatchObject({ _tag: "Run", args })
    }
    expect(route(["exec", "web", "--", "sh", "--help"], tree)).toEqual({
      _tag: "Run",
      args: ["exec", "web", "--", "sh", "--help"],
      path: "exec"
    })
    expect(route(["nodes", "rm", "n3"], tree)).toMatchObject({ path: "nodes rm" })
  })

  it("a word that names no command: the closest ones, at its level", () => {
    expect(route(["pss"], tree)).toEqual({ _tag: "Unknown", command: "pss", suggestions: ["ps"] })
    expect(route(["--data-dir", "/d", "aplly", "-f", "x"], tree)).toEqual({
      _tag: "Unknown",
      command: "aplly",
      suggestions: ["apply"]
    })
    expect(route(["help", "lgos"], tree)).toEqual({ _tag: "Unknown", command: "lgos", suggestions: ["logs"] })
    expect(route(["web", "ur"], tree)).toEqual({ _tag: "Unknown", command: "web ur", suggestions: ["web url"] })
    expect(route(["nodes", "rn"], tree)).toEqual({ _tag: "Unknown", command: "nodes rn", suggestions: ["nodes rm"] })
    expect(route(["frobnicate"], tree)).toEqual({ _tag: "Unknown", command: "frobnicate", suggestions: [] })
  })
})

describe("suggest", () => {
  it("closest names within 2 edits (1 for short names), prefixes, swaps", () => {
    expect(distance("lgos", "logs")).toBe(1)
    expect(distance("kitten", "sitting")).toBe(3)
    expect(suggest("p", ["ps", "pull", "apply"])).toEqual(["ps", "pull"])
    expect(suggest("pul", ["ps", "pull"])).toEqual(["pull"])
    expect(suggest("xs", ["ps", "pull"])).toEqual(["ps"])
    expect(suggest("xy", ["ps", "pull"])).toEqual([])
    expect(suggest("daemom", ["daemon", "diff"])).toEqual(["daemon"])
    expect(suggest("anything", [])).toEqual([])
  })
})
