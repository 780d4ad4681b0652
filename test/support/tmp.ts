import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { parseMountinfo } from "../../src/cgroups/mountinfo.js"
import { runRootOf } from "../../src/runtime/layout.js"
import { removeRunRootDir } from "../../src/runtime/runRootDir.js"

/**
 * What a test left in the run root of `dataDir` without a runtime (runner tests make run dirs
 * directly): removed when it is a plain dir. A tmpfs there is a runtime's, which lets it go itself
 * (runRoot.ts) or holds runs a sweep still has to undo: not touched.
 */
export const removeLooseRunRoot = (dataDir: string) => {
  const root = runRootOf(dataDir)
  if (!fs.existsSync(root)) return
  if (parseMountinfo(fs.readFileSync("/proc/self/mountinfo", "utf8")).some((m) => m.mountPoint === root)) return
  try {
    removeRunRootDir(root)
  } catch {
    // a pin still mounted inside: left as is
  }
}

/** A fresh temp dir (under `parent`, else the temp dir), removed when the scope closes (with a loose run root of it). */
export const tmpDir = (prefix = "tank-test-", parent = os.tmpdir()) =>
  Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(parent, prefix))),
    (dir) =>
      Effect.sync(() => {
        fs.rmSync(dir, { recursive: true, force: true })
        removeLooseRunRoot(dir)
      })
  )
