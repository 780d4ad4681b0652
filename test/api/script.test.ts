/**
 * `Effect.runPromise(Tank.apply(spec))` in a plain script, then `Tank.list()` from another process:
 * the default layers (config, SQLite store under $TANK_DATA_DIR) are carried by the entry points, and
 * the store is the API shared between processes. Real node processes, real SQLite file.
 */
import { afterEach, beforeEach, describe, expect, it } from "@effect/vitest"
import { execFile } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { promisify } from "node:util"

const run = promisify(execFile)
const here = path.dirname(fileURLToPath(import.meta.url))
const root = path.resolve(here, "../..")
const fixture = (name: string) => path.join(here, "fixtures", name)

let dataDir = ""
beforeEach(() => {
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-script-"))
})
afterEach(() => {
  fs.rmSync(dataDir, { recursive: true, force: true })
})

/** The caller's env minus anything that could point Tank elsewhere, plus our data dir. */
const scriptEnv = (): NodeJS.ProcessEnv => {
  const env: NodeJS.ProcessEnv = { ...process.env, TANK_DATA_DIR: dataDir }
  for (const k of ["TANK_CONFIG", "TANK_UPLINK", "TANK_DNS", "TANK_STOP_PODS_ON_EXIT"]) delete env[k]
  return env
}

/** `node --import tsx <script> ...args`; resolves with the exit code instead of throwing on failure. */
const script = async (name: string, ...args: ReadonlyArray<string>) => {
  try {
    const { stderr, stdout } = await run(process.execPath, ["--import", "tsx", fixture(name), ...args], {
      cwd: root,
      env: scriptEnv(),
      timeout: 30_000
    })
    return { code: 0, stdout, stderr }
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string }
    return { code: err.code ?? -1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" }
  }
}

const web = { name: "web", containers: [{ name: "app", image: "busybox", env: { PORT: "8080" } }] }

describe("Tank from plain scripts", () => {
  it("a pod applied by one process is listed by another", async () => {
    const applied = await script("apply.ts", JSON.stringify(web))
    expect(applied.stderr).toBe("")
    expect(applied.code).toBe(0)
    expect(JSON.parse(applied.stdout)).toEqual({ name: "web", revision: 1 })
    expect(fs.existsSync(path.join(dataDir, "tank.db"))).toBe(true)

    const listed = await script("list.ts")
    expect(listed.code).toBe(0)
    const pods = JSON.parse(listed.stdout) as ReadonlyArray<{ name: string; restart: string }>
    expect(pods.map((p) => p.name)).toEqual(["web"])
    expect(pods[0]).toMatchObject({ restart: "always", network: "none", containers: [{ env: { PORT: "8080" } }] })
  })

  it("an invalid spec exits non-zero naming the field, and the next process lists nothing", async () => {
    const applied = await script("apply.ts", JSON.stringify({ name: "web", containers: [{ name: "app" }] }))
    expect(applied.code).not.toBe(0)
    expect(applied.stdout).toBe("")
    expect(applied.stderr).toMatch(/InvalidSpec/)
    expect(applied.stderr).toMatch(/containers\[0\]\.image: is missing/)

    const listed = await script("list.ts")
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout)).toEqual([])
  })

  it("the scripts type-check under the project's tsconfig (and a wrongly typed one does not)", async () => {
    // The broken script lives outside the project (so it never breaks `tsc -p tsconfig.json`); it gets
    // the project's node_modules through a symlink and imports src by absolute path.
    fs.symlinkSync(path.join(root, "node_modules"), path.join(dataDir, "node_modules"))
    fs.writeFileSync(path.join(dataDir, "package.json"), JSON.stringify({ type: "module" }))
    fs.writeFileSync(
      path.join(dataDir, "broken.ts"),
      [
        `import { Effect } from "effect"`,
        `import { Tank } from ${JSON.stringify(path.join(root, "src/index.js"))}`,
        `const n: number = await Effect.runPromise(Tank.list())`,
        `console.log(n)`
      ].join("\n")
    )
    const tsconfig = path.join(dataDir, "tsconfig.json")
    fs.writeFileSync(
      tsconfig,
      JSON.stringify({
        extends: path.join(root, "tsconfig.json"),
        compilerOptions: { plugins: [] },
        include: [path.join(here, "fixtures", "*.ts"), path.join(dataDir, "broken.ts")]
      })
    )
    const tsc = await run(process.execPath, [
      path.join(root, "node_modules/typescript/bin/tsc"),
      "-p",
      tsconfig,
      "--pretty",
      "false"
    ], { cwd: root }).then(() => ({ code: 0, stdout: "" }), (e: { code: number; stdout: string }) => e)
    const errors = tsc.stdout.split("\n").filter((l) => l.includes("error TS"))
    // Exactly the one deliberate error: the fixtures themselves compile.
    expect(errors).toHaveLength(1)
    expect(errors[0]).toMatch(/broken\.ts\(3,7\): error TS2322/)
    expect(tsc.code).not.toBe(0)
  })
})
