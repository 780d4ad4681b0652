/**
 * The file of ps's memo (specMemo.ts says what it proves): <dataDir>/ps-memo.json, read by both of
 * ps's readers (psReader.ts, quickPsLite.ts), written only by psReader.ts, whose decoder proves its
 * texts. Plain code, free of Schema (the lite path loads it).
 */
import * as fs from "node:fs"
import * as path from "node:path"
import { type Memo, type MemoFile, memoTexts } from "./specMemo.js"

/** The memo's file in the data dir (private: ensureDataDir). */
export const memoFile = (config: { readonly dataDir: string }): string => path.join(config.dataDir, "ps-memo.json")

const EMPTY: Memo = { specs: new Set(), statuses: new Set() }

/**
 * The texts of the memo file for `tag`. No file, an unreadable one, or one this user did not
 * write alone (another owner, group or world writable, not a regular file): an empty memo, whose
 * only effect is that every spec and status is decoded whole.
 */
export const readMemo = (file: string, tag: string): Memo => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  } catch {
    return EMPTY
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return EMPTY
    return memoTexts(JSON.parse(fs.readFileSync(fd, "utf8")), tag)
  } catch {
    return EMPTY
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The memo for the next read, written whole and renamed over the old one (two ps at once: the last
 * rename wins, each file whole). A failed write loses only the memo's speed-up (the next read
 * decodes again), never a row: it is not an error of the listing.
 */
export const writeMemo = (file: string, tag: string, memo: Memo): void => {
  const partial = `${file}.${process.pid}`
  try {
    fs.writeFileSync(
      partial,
      JSON.stringify({ tag, specs: [...memo.specs], statuses: [...memo.statuses] } satisfies MemoFile),
      { mode: 0o600, flag: "wx" }
    )
    fs.renameSync(partial, file)
  } catch {
    fs.rmSync(partial, { force: true })
  }
}
