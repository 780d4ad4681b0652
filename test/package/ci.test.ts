// CI runs exactly the README's test command, and that command installs the test-only packages.
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { describe, expect, it } from "vitest"

const root = path.resolve(import.meta.dirname, "../..")

const readmeTestCommand = (): string | undefined => {
  const lines = fs.readFileSync(path.join(root, "README.md"), "utf8").split("\n")
  const at = lines.findIndex((l) => l.startsWith("# 2. Run the tests"))
  return at < 0 ? undefined : lines.slice(at + 1).find((l) => l.trim() !== "")?.trim()
}

describe("CI and the README", () => {
  it("the last command of .ci/run is the README's test command", () => {
    const ci = fs.readFileSync(path.join(root, ".ci/run"), "utf8").trim().split("\n").at(-1)?.trim()
    expect(readmeTestCommand()).toBeDefined()
    expect(ci).toBe(readmeTestCommand())
  })

  it("the test command passes setup's --test flag, which setup accepts (and nothing else)", () => {
    expect(readmeTestCommand()).toMatch(/^scripts\/setup\.sh --test && npm test$/)
    const setup = fs.readFileSync(path.join(root, "scripts/setup.sh"), "utf8")
    expect(setup).toMatch(/--test\) tests=true/)
    // An unknown flag is refused before anything is installed.
    const r = spawnSync("bash", [path.join(root, "scripts/setup.sh"), "--nope"], { encoding: "utf8" })
    expect(r.status).toBe(2)
    expect(r.stderr).toContain("usage: scripts/setup.sh [--test]")
  })
})
