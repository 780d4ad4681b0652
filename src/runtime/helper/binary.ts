/**
 * Where the native helper lives: `native/tank-helper` under the package root (the directory of
 * the package.json named "tank" above this file), unless TANK_HELPER points elsewhere; `tank-init`
 * beside it.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { HelperNotBuilt } from "./errors.js"

const packageRoot = (from: string): string | undefined => {
  for (let dir = from;; dir = path.dirname(dir)) {
    const pj = path.join(dir, "package.json")
    try {
      if (JSON.parse(fs.readFileSync(pj, "utf8")).name === "tank") return dir
    } catch {
      // not here; keep climbing
    }
    if (path.dirname(dir) === dir) return undefined
  }
}

/** The expected path of the helper binary (whether or not it exists). */
export const helperPathCandidate = (): string => {
  const env = process.env["TANK_HELPER"]
  if (env) return env
  const root = packageRoot(path.dirname(fileURLToPath(import.meta.url))) ?? process.cwd()
  return path.join(root, "native", "tank-helper")
}

/** The helper binary, checked to be an executable file. */
export const helperPath: Effect.Effect<string, HelperNotBuilt> = Effect.suspend(() => {
  const p = helperPathCandidate()
  try {
    fs.accessSync(p, fs.constants.X_OK)
    return fs.statSync(p).isFile()
      ? Effect.succeed(p)
      : Effect.fail(new HelperNotBuilt({ path: p, reason: "not a regular file" }))
  } catch (e) {
    return Effect.fail(new HelperNotBuilt({ path: p, reason: (e as NodeJS.ErrnoException).code ?? String(e) }))
  }
})

/**
 * `tank-init`, PID 1 of `init: true` containers: beside the helper (built with it), unless
 * TANK_INIT points elsewhere. Not checked here: the monitor opens it and fails with step `init`.
 */
export const initPathCandidate = (): string =>
  process.env["TANK_INIT"] || path.join(path.dirname(helperPathCandidate()), "tank-init")
