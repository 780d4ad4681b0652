/**
 * The seccomp program cache (src/runtime/security/seccompProgram.ts) under concurrent first use:
 * pods starting together on a fresh data dir compile the same profile at once, and every one of
 * them gets the program (the profile file a helper reads is never seen half-written).
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect } from "effect"
import * as fs from "node:fs"
import { DEFAULT_CAPABILITIES } from "../../src/runtime/helper/defaults.js"
import { seccompProgram } from "../../src/runtime/security/seccompProgram.js"
import { tmpDir } from "../support/tmp.js"

describe("seccomp program cache", () => {
  it.scopedLive(
    "twelve concurrent first compiles of one profile all succeed, with one program",
    () =>
      Effect.gen(function*() {
        for (let round = 0; round < 3; round++) {
          const dataDir = yield* tmpDir("tank-seccomp-")
          const paths = yield* Effect.forEach(
            Array.from({ length: 12 }, (_, i) => i),
            (i) => seccompProgram(dataDir, "default", DEFAULT_CAPABILITIES, `containers[${i}].seccomp`),
            { concurrency: "unbounded" }
          )
          assert.strictEqual(new Set(paths).size, 1)
          assert.isAbove(fs.statSync(paths[0]!).size, 1000)
          // No temporary file is left behind.
          assert.deepStrictEqual(fs.readdirSync(`${dataDir}/seccomp`).filter((f) => f.endsWith(".tmp")), [])
        }
      }),
    { timeout: 60_000 }
  )
})
