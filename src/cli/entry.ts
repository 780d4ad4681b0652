/**
 * The bundle's entry (scripts/build.mjs). Run plainly (`node dist/tank.mjs`), it runs the command line at
 * once. Run by `node --build-snapshot` (scripts/snapshot.mjs), it only evaluates modules, which the
 * snapshot keeps: the eager ones (Effect, Schema, the command tree) and the lazy ones most commands load
 * (`warm`); the command line runs when node deserializes the blob (`node --snapshot-blob dist/tank.blob`,
 * as bin/tank does). Modules that load a native addon when evaluated cannot be in the snapshot (the
 * build fails naming the addon): those stay lazy.
 */
import { Effect } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import * as v8 from "node:v8"
import { main, rehearse } from "./main.js"

const warm = () =>
  Promise.all([
    import("../config/Config.js"),
    import("../api/Api.js"),
    import("../store/Store.js"),
    import("../spec/decode.js"),
    import("../exec/Exec.js"),
    import("../store/fromConfig.js"),
    // Its driver, better-sqlite3, is a stand-in in the snapshot (scripts/snapshot.mjs).
    import("@effect/sql-sqlite-node")
  ])

/** What runs while the snapshot is built (main.ts `rehearse`): no store, no native addon, no network. */
const rehearsal = (emptyDataDir: string) => [
  ["--version"],
  ["--help"],
  ["ps", "--help"],
  ["exec", "--help"],
  // A data dir with no store: ps reads an empty in-memory one and creates nothing.
  ["ps", "--data-dir", emptyDataDir],
  ["ps", "-o", "wide", "--data-dir", emptyDataDir],
  // No run record there: exec ends at "not running", having read the config and looked for the pod.
  ["exec", "--data-dir", emptyDataDir, "rehearsal", "--", "true"]
]

if (v8.startupSnapshot.isBuildingSnapshot()) {
  // node takes the snapshot once the event loop is empty: these have settled by then.
  const empty = path.join(os.tmpdir(), `tank-snapshot-${process.pid}-no-such-dir`)
  warm().then(() => Effect.runPromise(rehearse(rehearsal(empty)))).catch((e) => {
    process.exitCode = 1
    process.stderr.write(
      `tank: cannot evaluate a module for the snapshot: ${e instanceof Error ? e.message : String(e)}\n`
    )
  })
  v8.startupSnapshot.setDeserializeMainFunction(main)
} else main()
