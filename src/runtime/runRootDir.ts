/**
 * Removing a run root's directory once nothing is mounted on it (plain fs, no libc: the CLI's exec
 * rehearsal uses it too): the dir, then /run/tank when that left it empty. Another data dir's run
 * root beside it keeps /run/tank (ENOTEMPTY), which is no failure; anything else is thrown.
 */
import * as fs from "node:fs"
import * as path from "node:path"

export const removeRunRootDir = (root: string): void => {
  fs.rmSync(root, { recursive: true, force: true })
  try {
    fs.rmdirSync(path.dirname(root))
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code
    if (code !== "ENOTEMPTY" && code !== "EEXIST" && code !== "ENOENT") throw e
  }
}
