/**
 * `tank apply` against hostile input, as a user runs it (the bundled CLI as a subprocess): huge files,
 * YAML alias bombs, specs that could never start, terminal control characters, bytes that are not
 * UTF-8. Each is refused with exit 1, a message naming the limit or the field, no stack trace, and
 * nothing stored.
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { afterAll, beforeAll, describe, expect, it } from "vitest"
import { buildCli, runCli, tempDataDir } from "./harness.js"

let cli: ReturnType<typeof buildCli>
let data: ReturnType<typeof tempDataDir>
const tank = (args: ReadonlyArray<string>, input?: string) =>
  runCli(cli.entry, ["--data-dir", data.dir, ...args], { ...(input !== undefined ? { input } : {}), timeoutMs: 60_000 })

beforeAll(() => {
  cli = buildCli()
  data = tempDataDir()
})
afterAll(() => {
  cli?.cleanup()
  data?.cleanup()
})

const file = (name: string, content: string | Buffer) => {
  const p = path.join(data.dir, name)
  fs.writeFileSync(p, content)
  return p
}

/** Refused cleanly: exit 1, no internal error or stack, nothing applied, and the store still empty. */
const refused = async (args: ReadonlyArray<string>, input?: string) => {
  const r = await tank(["apply", ...args], input)
  expect(r.code, r.stderr).toBe(1)
  expect(r.stderr).not.toContain("internal error")
  expect(r.stderr).not.toMatch(/\n\s+at /)
  expect(r.stderr).toContain("nothing was applied")
  expect((await tank(["get", "-o", "json"])).stdout.trim()).toBe("[]")
  return r
}

const laughs = [
  "name: lol",
  "containers: [{ name: app, image: busybox }]",
  "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]",
  ...["b", "c", "d", "e", "f", "g", "h", "i"].map((k, i) =>
    `${k}: &${k} [${Array(9).fill(`*${"abcdefgh"[i]}`).join(", ")}]`
  )
].join("\n")

describe("tank apply: sizes and YAML aliases", () => {
  it("a billion laughs is a clean error naming the aliases, not an internal error", async () => {
    const r = await refused(["-f", file("laughs.yaml", laughs)])
    expect(r.stderr).toMatch(/laughs\.yaml: document 1: not usable YAML: Excessive alias count/)
  })

  it("90 aliases of a 1 MiB string (95 MB expanded) are refused naming the 1 MiB limit", async () => {
    const lines = ["name: big", "containers:", "  - name: app", "    image: busybox", "    env:"]
    lines.push(`      V0: &s "${"x".repeat(1 << 20)}"`)
    for (let i = 1; i < 90; i++) lines.push(`      V${i}: *s`)
    const t0 = Date.now()
    const r = await refused(["-f", file("aliases.yaml", lines.join("\n"))])
    expect(r.stderr).toContain(
      "the spec is more than 1048576 bytes as JSON (YAML aliases expanded); the limit is 1048576"
    )
    expect(Date.now() - t0).toBeLessThan(15_000)
  })

  it("a 50 MB JSON spec is refused after reading 4 MiB of it", async () => {
    const big = file(
      "big.json",
      JSON.stringify({ name: "big", containers: [{ name: "a", image: "busybox", args: ["y".repeat(50_000_000)] }] })
    )
    const t0 = Date.now()
    const r = await refused(["-f", big])
    expect(r.stderr).toContain("big.json: larger than 4194304 bytes")
    expect(Date.now() - t0).toBeLessThan(15_000)
    // From stdin too.
    const fromStdin = await refused(["-f", "-"], fs.readFileSync(big, "utf8").slice(0, 5_000_000))
    expect(fromStdin.stderr).toContain("stdin: larger than 4194304 bytes")
  })

  it("60 000 keys in one mapping are checked for duplicates in linear time", async () => {
    const env = Object.fromEntries(Array.from({ length: 60_000 }, (_, i) => [`V${i}`, "x".repeat(50)]))
    const t0 = Date.now()
    const r = await refused([
      "-f",
      file("keys.json", JSON.stringify({ name: "k", containers: [{ name: "a", image: "busybox", env }] }))
    ])
    expect(r.stderr).toContain("the limit is 1048576")
    // The yaml library's own uniqueKeys check took 47 s here.
    expect(Date.now() - t0).toBeLessThan(15_000)
    const dup = await refused(["-f", file("dup.yaml", "name: a\ncontainers: []\nname: b\n")])
    expect(dup.stderr).toMatch(/dup\.yaml: line 3, column 1: not valid YAML\/JSON: Map keys must be unique/)
  })
})

describe("tank apply: specs that could never start are refused, naming the field", () => {
  const one = (container: string) => `name: web\nvolumes: [{ name: data }]\ncontainers:\n  - ${container}\n`
  it.each([
    [
      "cpu.quota under 1000 µs",
      "{ name: app, image: busybox, limits: { cpu: { quota: 999 } } }",
      "containers[0].limits.cpu.quota: cpu.quota must be 1000..1000000000 µs"
    ],
    [
      "a repository name over 255",
      `{ name: app, image: "127.0.0.1:5000/${"r".repeat(300)}" }`,
      "containers[0].image: image reference"
    ],
    [
      "a volume at /",
      "{ name: app, image: busybox, mounts: [{ volume: data, path: / }] }",
      `containers[0].mounts[0].path: a volume cannot be mounted at "/"`
    ]
  ])("%s", async (_, container, expected) => {
    const r = await refused(["-f", file("never.yaml", one(container))])
    expect(r.stderr).toContain(expected)
  })
})

describe("tank apply: what is echoed is escaped", () => {
  it("terminal control characters in a pod name never reach the terminal raw", async () => {
    const r = await refused([
      "-f",
      file("ctl.yaml", `name: "\\e]0;owned\\a\\e[2J"\ncontainers: [{ name: app, image: busybox }]\n`)
    ])
    expect(r.stderr).not.toContain("\u001b")
    expect(r.stderr).not.toContain("\u0007")
    expect(r.stderr).toContain(`pod "\\x1b]0;owned\\x07\\x1b[2J"`)
  })

  it("a file that is not UTF-8 is refused rather than silently altered", async () => {
    const bytes = Buffer.concat([
      Buffer.from("name: web\ncontainers: [{ name: app, image: busybox, env: { A: \""),
      Buffer.from([0xff, 0xfe]),
      Buffer.from("\" } }]\n")
    ])
    const r = await refused(["-f", file("latin.yaml", bytes)])
    expect(r.stderr).toContain("latin.yaml: not valid UTF-8 text")
  })

  it("a file name with control characters is escaped in the error", async () => {
    const r = await tank(["apply", "-f", path.join(data.dir, "no\u001b[31mfile.yaml")])
    expect(r.code).toBe(1)
    expect(r.stderr).not.toContain("\u001b")
    expect(r.stderr).toContain("no\\x1b[31mfile.yaml")
  })
})
