/**
 * Runs the real, bundled `tank` CLI as a subprocess. Each test file builds its own copy (under
 * dist/, so node_modules resolves) to stay independent of other files building at the same time.
 */
import { spawn, spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"

const repo = path.resolve(import.meta.dirname, "../..")

/**
 * Build the CLI bundle into a private dir; returns the entry file (the plain bundle, run with node) and a
 * cleanup. With `snapshot`, also the startup snapshot and `bin`: a copy of bin/tank beside that build
 * (`<dir>/bin/tank` starting `<dir>/dist/tank.blob`), the launcher a user runs.
 */
export const buildCli = (options: { readonly snapshot?: boolean } = {}) => {
  fs.mkdirSync(path.join(repo, "dist"), { recursive: true })
  const dir = fs.mkdtempSync(path.join(repo, "dist", ".test-"))
  const outdir = options.snapshot ? path.join(dir, "dist") : dir
  const r = spawnSync(
    process.execPath,
    [path.join(repo, "scripts/build.mjs"), "--outdir", outdir, ...(options.snapshot ? [] : ["--no-snapshot"])],
    { encoding: "utf8" }
  )
  if (r.status !== 0) throw new Error(`build failed: ${r.stderr}`)
  if (options.snapshot) {
    fs.mkdirSync(path.join(dir, "bin"))
    for (const f of ["tank", "tank.mjs"]) fs.copyFileSync(path.join(repo, "bin", f), path.join(dir, "bin", f))
  }
  return {
    entry: path.join(outdir, "tank.mjs"),
    bin: path.join(dir, "bin", "tank"),
    dir,
    cleanup: () => fs.rmSync(dir, { recursive: true, force: true })
  }
}

export interface Result {
  readonly code: number | null
  readonly signal: NodeJS.Signals | null
  readonly stdout: string
  readonly stderr: string
}

export interface RunOptions {
  readonly input?: string
  readonly env?: NodeJS.ProcessEnv
  readonly timeoutMs?: number
  /** The working directory (default: the test's); a relative `entry` is resolved from it. */
  readonly cwd?: string
}

/** Run `tank ARGS...` to completion: `entry` is a node script (tank.mjs) or the launcher (bin/tank). */
export const runCli = (entry: string, args: ReadonlyArray<string>, opts: RunOptions = {}) =>
  new Promise<Result>((resolve, reject) => {
    const [cmd, argv] = entry.endsWith(".mjs") ? [process.execPath, [entry, ...args]] : [entry, args]
    const child = spawn(cmd, argv, {
      env: { ...process.env, NO_COLOR: "1", ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
      ...(opts.cwd === undefined ? {} : { cwd: opts.cwd })
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), opts.timeoutMs ?? 30_000)
    child.on("error", reject)
    child.on("close", (code, signal) => {
      clearTimeout(timer)
      resolve({ code, signal, stdout, stderr })
    })
    // A command may stop reading its stdin early (apply caps what it reads): that is not a test error.
    child.stdin.on("error", () => undefined)
    child.stdin.end(opts.input ?? "")
  })

/** A temp data dir (removed by the returned cleanup). */
export const tempDataDir = () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-cli-"))
  return { dir, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) }
}

/** @effect/cli colours its help even on pipes; tests read plain text. */
// eslint-disable-next-line no-control-regex
export const stripAnsi = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, "")

/**
 * `bash -c CMD` to completion, with $TANK standing for the bundled CLI on `dataDir`: for pipelines
 * as a user types them (delayed writers, readers that leave early).
 */
export const shell = (entry: string, dataDir: string, cmd: string, timeoutMs = 60_000) =>
  new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
    const child = spawn("bash", ["-c", cmd], {
      env: { ...process.env, NO_COLOR: "1", TANK: `${process.execPath} ${entry} --data-dir ${dataDir}` },
      stdio: ["ignore", "pipe", "pipe"]
    })
    let stdout = ""
    let stderr = ""
    child.stdout.setEncoding("utf8").on("data", (d: string) => (stdout += d))
    child.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d))
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs)
    child.on("close", (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })

/** stderr without the "no agent is running" warning that read commands print without an agent. */
export const withoutAgentWarning = (stderr: string) => stderr.replace(/^tank: warning: no agent is running.*\n/gm, "")
