/**
 * The project's own checks as tests, so CI fails on a type error or a lint error: `tsc` over the
 * whole project (src, test, scratch, bench, scripts) and eslint with the Effect dprint rule.
 */
import { execFile } from "node:child_process"
import * as path from "node:path"
import { promisify } from "node:util"
import { describe, expect, it } from "vitest"

const root = path.join(import.meta.dirname, "..")
const run = (cmd: string, args: ReadonlyArray<string>) =>
  promisify(execFile)(cmd, [...args], { cwd: root, maxBuffer: 16 << 20 }).then(
    () => "",
    (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ""}${e.stderr ?? ""}` || "failed"
  )

describe("project hygiene", () => {
  it("type-checks with tsc (strict)", async () => {
    expect(await run(process.execPath, [path.join(root, "node_modules/typescript/bin/tsc"), "-p", "tsconfig.json"]))
      .toBe("")
  }, 240_000)

  it("lints clean with eslint (Effect dprint style)", async () => {
    const out = await run(process.execPath, [
      path.join(root, "node_modules/eslint/bin/eslint.js"),
      "--max-warnings",
      "0",
      "src",
      "test",
      "scratch",
      "bench",
      "scripts"
    ])
    expect(out).toBe("")
  }, 240_000)
})
