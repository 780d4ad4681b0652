// `tank load` / `tank save` as a user runs them: the example images setup loads (busybox-static, no
// registry), a pod's images saved and loaded into another data dir, a missing image refused.
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { promisify } from "node:util"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, runCli, tempDataDir, withoutAgentWarning } from "./harness.js"

const repo = path.resolve(import.meta.dirname, "../..")
let cli: ReturnType<typeof buildCli>
let tmp: ReturnType<typeof tempDataDir>
beforeAll(() => {
  cli = buildCli()
  tmp = tempDataDir()
})
afterAll(() => {
  cli?.cleanup()
  tmp?.cleanup()
})

describe("tank load / save", () => {
  it("loads the example images offline, saves a pod's images, loads them elsewhere", async () => {
    const examples = path.join(tmp.dir, "examples.tar")
    await promisify(execFile)(path.join(repo, "node_modules/.bin/tsx"), ["scripts/example-images.ts", examples], {
      cwd: repo
    })
    const a = path.join(tmp.dir, "a"), b = path.join(tmp.dir, "b")
    const loaded = await runCli(cli.entry, ["load", "-i", examples, "--data-dir", a], { timeoutMs: 120_000 })
    expect(loaded.stderr).toBe("")
    expect(loaded.code).toBe(0)
    expect(loaded.stdout).toMatch(/^loaded registry-1\.docker\.io\/library\/busybox:latest \(sha256:[0-9a-f]{64}\)$/m)
    const names = await runCli(cli.entry, ["images", "-o", "name", "--data-dir", a])
    expect(names.stdout.trim().split("\n").sort()).toEqual([
      "image/127.0.0.1:5000/tank/busybox-httpd:latest",
      "image/127.0.0.1:5000/tank/busybox-user:latest",
      "image/127.0.0.1:5000/tank/busybox:latest",
      "image/registry-1.docker.io/library/busybox:latest"
    ])

    const spec = JSON.stringify({
      name: "web",
      containers: [{ name: "app", image: "127.0.0.1:5000/tank/busybox-httpd:latest" }]
    })
    expect((await runCli(cli.entry, ["apply", "-f", "-", "--data-dir", a], { input: spec })).code).toBe(0)
    const out = path.join(tmp.dir, "web.tar")
    const saved = await runCli(cli.entry, ["save", "web", "-o", out, "--data-dir", a], { timeoutMs: 60_000 })
    expect(withoutAgentWarning(saved.stderr)).toBe("")
    expect(saved.code).toBe(0)
    const again = await runCli(cli.entry, ["load", "-i", out, "--data-dir", b], { timeoutMs: 120_000 })
    expect(again.stdout.trim()).toMatch(
      /^loaded 127\.0\.0\.1:5000\/tank\/busybox-httpd:latest \(sha256:[0-9a-f]{64}\)$/
    )
    const listed = JSON.parse((await runCli(cli.entry, ["images", "-o", "json", "--data-dir", b])).stdout) as Array<
      { ref: string; manifest: string }
    >
    const original = JSON.parse((await runCli(cli.entry, ["images", "-o", "json", "--data-dir", a])).stdout) as Array<
      { ref: string; manifest: string }
    >
    expect(listed.map((r) => [r.ref, r.manifest])).toEqual(
      original.filter((r) => r.ref.endsWith("busybox-httpd:latest")).map((r) => [r.ref, r.manifest])
    )
  }, 300_000)

  it("refuses to save an image that is not cached, and writes nothing", async () => {
    const out = path.join(tmp.dir, "none.tar")
    const r = await runCli(cli.entry, ["save", "nope:1", "-o", out, "--data-dir", path.join(tmp.dir, "c")])
    expect(r.code).not.toBe(0)
    expect(withoutAgentWarning(r.stderr)).toContain("docker.io/library/nope:1")
    expect(fs.existsSync(out)).toBe(false)
  }, 60_000)
})
