/**
 * A narrow, read-only reader of the SQLite store for `tank ps` started from its small bundle
 * (src/cli/quickPs.ts): the pods and statuses through the store's own layout and row decoders
 * (layout.ts, rows.ts: the same schema version, columns and validation as the Store, so an
 * unreadable row is reported exactly as the Store reports it), without the Store layer, @effect/sql
 * and its SQLite client (loading those was most of what `tank ps` cost). Opened as the Store opens
 * it (the data dir and file checked private first), with better-sqlite3 directly; nothing here writes.
 *
 * Each spec is decoded whole, by the Store's own row decoder (rows.ts): a row the Store calls invalid
 * is invalid here too, with the same reason (ps must not list as normal what `tank status` rejects).
 * That decode is costly in a cold process (the Pod's ~100 schemas' parsers built at the first decode):
 * `tank ps` starts from a startup snapshot in which they are already built (quickPs.ts's rehearsal).
 *
 * With a memo (`readForPs`'s `memo`, the quick bundle's: specMemo.ts), a spec whose exact text was
 * proven by an earlier read to decode to its own JSON is served as that JSON without the decode; the
 * memo is a file of those texts in the data dir (<dataDir>/ps-memo.json), rewritten after a read
 * whose proven texts differ from it. A text not in it — new, hand-edited, corrupted — is decoded
 * whole as above.
 *
 * Anything it cannot read as the Store would — cluster mode, a schema version other than this
 * Tank's (the Store would migrate or refuse it), any error — fails with FullCliNeeded naming why,
 * and the caller runs the full CLI, which says it as every other command does.
 */
// @ts-expect-error better-sqlite3 ships no types here (the Database interface below is what this uses)
import BundledSqlite from "better-sqlite3"
import { Data, Effect, Either } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import { ensureDataDirSync, ensurePrivateSqliteSync } from "../config/privateDir.js"
import { LIST_PODS, LIST_STATUS, MIGRATIONS, partition, podRowWith, statusFromRow } from "./layout.js"
import { podFromRow, specOf } from "./rows.js"
import { memoDecoder, type MemoFile, memoTexts } from "./specMemo.js"
import type { PodStatus } from "./status.js"
import type { InvalidRecord, StoredPod } from "./Store.js"

/** What `store.list` and `store.listStatus` would answer, read in one transaction. */
export interface PsRead {
  readonly pods: ReadonlyArray<StoredPod>
  readonly badPods: ReadonlyArray<InvalidRecord>
  readonly statuses: ReadonlyArray<PodStatus>
  readonly badStatus: ReadonlyArray<InvalidRecord>
}

interface Statement {
  all(): Array<unknown>
  get(): unknown
}
interface Database {
  prepare(sql: string): Statement
  transaction<F extends () => unknown>(fn: F): F
  close(): void
}
type DatabaseCtor = new(
  file: string,
  options: { readonly fileMustExist: boolean; readonly timeout: number; readonly nativeBinding?: object }
) => Database

/**
 * The version of better-sqlite3 whose JS the quick bundle holds (scripts/build.mjs defines it there);
 * from source, the installed driver is imported.
 */
declare const __tankBundledSqlite: string | undefined

const installedVersion = (dir: string): string | undefined => {
  try {
    return (JSON.parse(fs.readFileSync(path.join(dir, "../package.json"), "utf8")) as { version?: string }).version
  } catch {
    return undefined
  }
}

/**
 * better-sqlite3's main module as resolved when the startup snapshot was built (scripts/snapshot.mjs
 * defines it in the blob's entry, resolved from the same dist dir): Node's resolution through
 * createRequire cost ~2-4 ms of every ps (package scopes read, node_modules paths walked).
 */
declare const __tankSqliteMain: string | null | undefined

/**
 * The addon, loaded as Node's loader would (`process.dlopen`, what its `.node` extension handler
 * calls) without the loader's resolution around it (the path is absolute and known): better-sqlite3
 * takes the loaded addon as its `nativeBinding`.
 */
const loadAddon = (file: string): object => {
  const module = { exports: {} }
  process.dlopen(module, file)
  return module.exports
}

/**
 * The driver, with its addon from node_modules (a native addon: never bundled; better-sqlite3
 * otherwise searches for it through the `bindings` package, many stat calls at every start). Its JS
 * is in the quick bundle (loading its dozen modules through Node's loader cost ~8 ms a start), used
 * only with an installed addon of the same release (an install may resolve another one): else the
 * installed JS, as the Store's client loads it. The installed driver is the one the snapshot's build
 * resolved while it is still there, else resolved now.
 */
const driver = (): { readonly Sqlite: DatabaseCtor; readonly nativeBinding?: object } => {
  const built = typeof __tankSqliteMain === "string" ? __tankSqliteMain : undefined
  const main = built !== undefined && fs.existsSync(built)
    ? built
    : createRequire(import.meta.url).resolve("better-sqlite3")
  const addon = path.join(path.dirname(main), "../build/Release/better_sqlite3.node")
  const binding = fs.existsSync(addon) ? { nativeBinding: loadAddon(addon) } : {}
  const bundled = typeof __tankBundledSqlite === "string" ? __tankBundledSqlite : undefined
  return bundled === undefined || bundled === installedVersion(path.dirname(main))
    ? { Sqlite: BundledSqlite as DatabaseCtor, ...binding }
    : { Sqlite: createRequire(import.meta.url)(main) as DatabaseCtor, ...binding }
}

/** Why the quick path leaves this read to the full CLI (which reports it as every other command does). */
export class FullCliNeeded extends Data.TaggedError("FullCliNeeded")<{ readonly reason: string }> {}

/** The memo's file in the data dir (private: ensureDataDir). */
export const memoFile = (config: TankConfigShape): string => path.join(config.dataDir, "ps-memo.json")

/**
 * The texts of the memo file for `tag`. No file, an unreadable one, or one this user did not
 * write alone (another owner, group or world writable, not a regular file): an empty memo, whose
 * only effect is that every spec is decoded whole.
 */
const readMemo = (file: string, tag: string): ReadonlySet<string> => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW)
  } catch {
    return new Set()
  }
  try {
    const st = fs.fstatSync(fd)
    if (!st.isFile() || st.uid !== process.geteuid?.() || (st.mode & 0o022) !== 0) return new Set()
    return memoTexts(JSON.parse(fs.readFileSync(fd, "utf8")), tag)
  } catch {
    return new Set()
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The memo for the next read, written whole and renamed over the old one (two ps at once: the last
 * rename wins, each file whole). A failed write loses only the memo's speed-up (the next read
 * decodes again), never a row: it is not an error of the listing.
 */
const writeMemo = (file: string, tag: string, specs: ReadonlySet<string>): void => {
  const partial = `${file}.${process.pid}`
  try {
    fs.writeFileSync(partial, JSON.stringify({ tag, specs: [...specs] } satisfies MemoFile), {
      mode: 0o600,
      flag: "wx"
    })
    fs.renameSync(partial, file)
  } catch {
    fs.rmSync(partial, { force: true })
  }
}

/** ps's spec decoder: the Store's (rows.ts), or the memo's over it. */
interface Decoder {
  readonly row: (row: Record<string, unknown>) => ReturnType<typeof podFromRow>
  readonly done: () => void
}

const decoder = (config: TankConfigShape, memo: { readonly tag: string } | undefined): Decoder => {
  if (memo === undefined) return { row: (r) => podFromRow(r), done: () => {} }
  const file = memoFile(config)
  const m = memoDecoder(readMemo(file, memo.tag), specOf)
  const row = podRowWith(m.specOf)
  return { row: (r) => row(r), done: () => m.changed() && writeMemo(file, memo.tag, m.proven()) }
}

/** One read transaction: the schema version, every pod and every status (sqlite.ts's queries). */
const readAll = (db: Database, podOf: Decoder["row"]): PsRead | FullCliNeeded =>
  db.transaction(() => {
    const version = (db.prepare("PRAGMA user_version").get() as { user_version?: unknown } | undefined)?.user_version
    if (version !== MIGRATIONS.length) {
      return new FullCliNeeded({
        reason: `store schema version ${String(version)}, this Tank's is ${MIGRATIONS.length}`
      })
    }
    const rows = (sql: string) => db.prepare(sql).all() as Array<Record<string, unknown>>
    // The Store's decoder: an unreadable row is reported (buildReport) with the Store's own reason.
    const pods = partition(rows(LIST_PODS).map(podOf))
    const statuses = partition(rows(LIST_STATUS).map(statusFromRow))
    return { pods: pods.good, badPods: pods.invalid, statuses: statuses.good, badStatus: statuses.invalid }
  })()

/**
 * Every pod and status of the config's SQLite store (none when the file does not exist yet: as the
 * Store's read-only open, which creates nothing), or FullCliNeeded for anything the full CLI must
 * handle (cluster mode, another schema version, an error: its message is the reason). `memo`: read
 * through the spec memo of this build (`tag`: the digest of the code that decodes, so another
 * build's memo is never trusted); without it every spec is decoded whole.
 *
 * Synchronous, plain code (a one-shot read: `tank ps`'s quick path runs without Effect's runtime,
 * whose start was a good part of its cost); `readForPs` is the same read as an Effect.
 */
export const readForPsSync = (
  config: TankConfigShape,
  options: { readonly memo?: { readonly tag: string } } = {}
): Either.Either<PsRead, FullCliNeeded> => {
  if (config.etcd !== undefined) return Either.left(new FullCliNeeded({ reason: "cluster mode (an etcd store)" }))
  if (!fs.existsSync(config.storeFile)) return Either.right({ pods: [], badPods: [], statuses: [], badStatus: [] })
  // The same checks as the Store's open (fromConfig.ts, sqlite.ts); their errors are the full path's to report.
  const unsafe = ensureDataDirSync(config) ?? ensurePrivateSqliteSync(config.storeFile)
  if (unsafe !== undefined) return Either.left(readFailed(config, unsafe))
  let db: Database
  try {
    const { nativeBinding, Sqlite } = driver()
    db = new Sqlite(config.storeFile, { fileMustExist: true, timeout: 50, ...(nativeBinding ? { nativeBinding } : {}) })
  } catch (e) {
    return Either.left(readFailed(config, e))
  }
  try {
    const specs = decoder(config, options.memo)
    const read = readAll(db, specs.row)
    if (read instanceof FullCliNeeded) return Either.left(read)
    specs.done()
    return Either.right(read)
  } catch (e) {
    return Either.left(readFailed(config, e))
  } finally {
    db.close()
  }
}

/** `readForPsSync` as an Effect. */
export const readForPs = (
  config: TankConfigShape,
  options: { readonly memo?: { readonly tag: string } } = {}
): Effect.Effect<PsRead, FullCliNeeded> => Effect.suspend(() => readForPsSync(config, options))

const readFailed = (config: TankConfigShape, e: unknown) =>
  new FullCliNeeded({ reason: `reading ${config.storeFile}: ${e instanceof Error ? e.message : String(e)}` })
