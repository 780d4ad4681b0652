/**
 * `tank diff -f FILE|DIR|-`: what `tank apply` would change, as a unified diff of each stored spec
 * against the given one, both in canonical form (every default spelled out, as `tank get` prints
 * them), so only real changes show. Like `kubectl diff`: the diff is `diff -u` (diffutils) over two
 * temp dirs; exit 0 when nothing would change, 1 when something would, 2 and more on errors.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { filesOption } from "./apply.js"
import { CliExit, dataDirOption, describe, loadConfig, out, withStore } from "./common.js"

/** kubectl diff's status for errors (1 means "differences found"). */
const EXIT_DIFF_ERROR = 2

/** A private temp dir, removed at scope end. */
const tempDir = Effect.acquireRelease(
  Effect.sync(() => fs.mkdtempSync(path.join(os.tmpdir(), "tank-diff-"))),
  (dir) => Effect.sync(() => fs.rmSync(dir, { recursive: true, force: true }))
)

/** `diff -u` of two texts, labelled; "" when they are equal. */
const unified = (dir: string, name: string, before: string, after: string) =>
  Effect.gen(function*() {
    const a = path.join(dir, `${name}.stored.yaml`)
    const b = path.join(dir, `${name}.given.yaml`)
    fs.writeFileSync(a, before)
    fs.writeFileSync(b, after)
    const r = spawnSync("diff", ["-u", "--label", `stored/${name}`, "--label", `given/${name}`, a, b], {
      encoding: "utf8",
      maxBuffer: 64 << 20
    })
    if (r.error || (r.status !== 0 && r.status !== 1)) {
      return yield* new CliExit({
        code: EXIT_DIFF_ERROR,
        message: `diff failed: ${r.error?.message ?? r.stderr.trim()} (is diffutils installed?)`
      })
    }
    return r.stdout
  })

export const diff = Command.make(
  "diff",
  { dataDir: dataDirOption, files: filesOption.pipe(Options.atLeast(1)) },
  ({ dataDir, files }) =>
    Effect.scoped(Effect.gen(function*() {
      const [{ readValidSpecs }, { encodePod }, YAML] = yield* Effect.promise(() =>
        Promise.all([import("./specInput.js"), import("../spec/decode.js"), import("yaml")])
      )
      const yamlOf = (v: unknown) => YAML.stringify(v, { lineWidth: 0 })
      const config = yield* loadConfig(dataDir)
      const specs = yield* readValidSpecs(files, config, "nothing was compared").pipe(
        Effect.mapError((e) => new CliExit({ code: EXIT_DIFF_ERROR, ...(e.message ? { message: e.message } : {}) }))
      )
      const plan = yield* withStore(dataDir, () =>
        Effect.flatMap(
          Effect.promise(() => import("../api/Api.js")),
          (Api) => Api.plan(specs.map((s) => s.spec), files.join(","))
        ), { readOnly: true })
      const dir = yield* tempDir
      let changed = false
      for (const p of plan) {
        if (p.outcome === "unchanged") continue
        changed = true
        const before = p.stored._tag === "Some" ? yamlOf(encodePod(p.stored.value.spec)) : ""
        yield* out(yield* unified(dir, p.name, before, yamlOf(encodePod(p.spec))))
      }
      if (changed) return yield* new CliExit({ code: 1 })
    }))
).pipe(
  Command.withDescription(describe(
    "diff",
    "Show what `tank apply` would change: a unified diff of each stored pod against the given spec.",
    [
      ["tank diff -f web.yaml", "what applying web.yaml would change"],
      ["tank get web | sed 's/sleep 1/sleep 2/' | tank diff -f -", "from stdin"],
      ["tank diff -f pods/ && echo up to date", "exit 0 when nothing would change"]
    ],
    "Both sides in canonical form (as tank get prints them): defaults spelled out, so only real changes show.\n" +
      "A pod not stored yet shows whole as added. Exit status: 0 no changes, 1 changes, 2 or more errors."
  ))
)
