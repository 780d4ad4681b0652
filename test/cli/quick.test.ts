/**
 * quick.ts: which command lines skip @effect/cli (pure). That those lines print and exit the same
 * through either path is checked on the built CLI in cli.test.ts.
 */
import { Option } from "effect"
import * as path from "node:path"
import { describe, expect, it } from "vitest"
import { quickLine } from "../../src/cli/quick.js"

describe("quickLine", () => {
  it("reads ps/list and exec in their plain forms, the data dir as @effect/cli resolves it", () => {
    const ps = quickLine(["--data-dir", "root", "ps", "-o", "wide", "-q", "-l", "app=web", "--data-dir", "own"])
    expect(ps?._tag).toBe("ps")
    expect(ps?.options).toMatchObject({ quiet: true, json: false, watch: false })
    expect(ps?._tag === "ps" && Option.getOrNull(ps.options.output)).toBe("wide")
    expect(ps?._tag === "ps" && Option.getOrNull(ps.options.selector)).toBe("app=web")
    // The command's own --data-dir wins over the root's, made absolute.
    expect(Option.getOrNull(ps!.options.dataDir)).toBe(path.resolve("own"))
    expect(Option.getOrNull(quickLine(["--data-dir", "root", "list", "--json"])!.options.dataDir))
      .toBe(path.resolve("root"))
    expect(Option.isNone(quickLine(["ps"])!.options.dataDir)).toBe(true)

    const exec = quickLine(["exec", "-it", "-c", "side", "-u", "0:0", "-w", "/tmp", "web", "--", "sh", "-c", "x"])
    expect(exec?._tag).toBe("exec")
    if (exec?._tag !== "exec") return
    expect(exec.options).toMatchObject({ interactive: true, tty: true, pod: "web", command: ["sh", "-c", "x"] })
    expect([exec.options.container, exec.options.user, exec.options.workdir].map(Option.getOrNull))
      .toEqual(["side", "0:0", "/tmp"])
  })

  it("leaves help, unknown or repeated options, doubtful values and extra words to @effect/cli", () => {
    for (
      const line of [
        [],
        ["--help"],
        ["ps", "--help"],
        ["ps", "-h"],
        ["help", "ps"],
        ["ps", "-w"],
        ["ps", "--watch"],
        ["ps", "--bogus"],
        ["ps", "-o", "bogus"],
        ["ps", "-o"],
        ["ps", "-oname"],
        ["ps", "--output=json"],
        ["ps", "--data-dir=/d"],
        ["ps", "-q", "-q"],
        ["ps", "--data-dir", "-q"],
        ["ps", "extra"],
        ["ps", "--json", "true"],
        ["--log-level", "debug", "ps"],
        ["get", "web"],
        ["exec", "web"],
        ["exec", "web", "true"],
        ["exec", "web", "--"],
        ["exec", "--", "true"],
        ["exec", "-e", "A=1", "web", "--", "true"],
        ["exec", "-ix", "web", "--", "true"],
        ["exec", "web", "extra", "--", "true"],
        ["exec", "--help", "web", "--", "true"],
        ["exec", "-i", "-i", "web", "--", "true"]
      ]
    ) expect(quickLine(line), line.join(" ")).toBeUndefined()
  })
})
