/**
 * Issue 19: the CLI passes `--data-dir` on explicitly (Config.load's override), never by writing
 * TANK_DATA_DIR into its own environment, where it would leak into everything else in the process
 * (an embedding script, later commands of a REPL, the agent's children).
 */
import * as Command from "@effect/cli/Command"
import { NodeContext } from "@effect/platform-node"
import { assert, describe, it } from "@effect/vitest"
import { Effect, Ref } from "effect"
import * as path from "node:path"
import { dataDirOption, loadConfig, tankRoot } from "../../src/cli/common.js"
import { tmpDir } from "../support/tmp.js"

describe("--data-dir", () => {
  it.scopedLive("reaches the config from the root or the subcommand, and TANK_DATA_DIR is left as it was", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-datadir-")
      const seen = yield* Ref.make<ReadonlyArray<string>>([])
      const probe = Command.make(
        "probe",
        { dataDir: dataDirOption },
        ({ dataDir }) => Effect.flatMap(loadConfig(dataDir), (c) => Ref.update(seen, (l) => [...l, c.dataDir]))
      )
      const run = Command.run(tankRoot.pipe(Command.withSubcommands([probe])), { name: "tank", version: "0" })
      const was = process.env.TANK_DATA_DIR
      const fromEnv = path.join(base, "env")
      process.env.TANK_DATA_DIR = fromEnv
      yield* Effect.addFinalizer(() =>
        Effect.sync(() => {
          if (was === undefined) delete process.env.TANK_DATA_DIR
          else process.env.TANK_DATA_DIR = was
        })
      )
      yield* run(["node", "tank", "--data-dir", path.join(base, "root"), "probe"])
      assert.strictEqual(process.env.TANK_DATA_DIR, fromEnv, "the root's --data-dir did not write the env")
      yield* run(["node", "tank", "probe", "--data-dir", path.join(base, "own")])
      assert.strictEqual(process.env.TANK_DATA_DIR, fromEnv, "the subcommand's --data-dir did not write the env")
      // Without the flag the environment is still the input.
      yield* run(["node", "tank", "probe"])
      assert.deepStrictEqual(yield* Ref.get(seen), [path.join(base, "root"), path.join(base, "own"), fromEnv])
    }).pipe(Effect.provide(NodeContext.layer)))
})
