/**
 * The SQLite store opened read-only for `tank ps` without the Store layer, @effect/sql or Schema:
 * better-sqlite3 directly (its JS bundled into ps's bundles, its addon from node_modules), and the
 * one read transaction both of ps's readers take (psReader.ts, which decodes each row as the Store
 * does; quickPsLite.ts, which serves only rows its memo proves). Nothing here writes.
 */
// @ts-expect-error better-sqlite3 ships no types here (the Database interface below is what this uses)
import BundledSqlite from "better-sqlite3"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import { LIST_PODS, LIST_STATUS, MIGRATIONS, type Raw } from "./tables.js"

interface Statement {
  all(): Array<unknown>
  get(): unknown
}
export interface Database {
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
export const driver = (): { readonly Sqlite: DatabaseCtor; readonly nativeBinding?: object } => {
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

/** Opens `file` (it must exist) as ps reads it; throws what the driver throws. */
export const openForPs = (file: string): Database => {
  const { nativeBinding, Sqlite } = driver()
  return new Sqlite(file, { fileMustExist: true, timeout: 50, ...(nativeBinding ? { nativeBinding } : {}) })
}

/** Every pod row and status row (sqlite.ts's queries), or the schema version when it is not this Tank's. */
export type PsRows =
  | { readonly _tag: "rows"; readonly pods: ReadonlyArray<Raw>; readonly statuses: ReadonlyArray<Raw> }
  | { readonly _tag: "otherVersion"; readonly version: unknown }

/** One read transaction: the schema version, then every pod and every status. */
export const readPsRows = (db: Database): PsRows =>
  db.transaction((): PsRows => {
    const version = (db.prepare("PRAGMA user_version").get() as { user_version?: unknown } | undefined)?.user_version
    if (version !== MIGRATIONS.length) return { _tag: "otherVersion", version }
    const rows = (sql: string) => db.prepare(sql).all() as Array<Raw>
    return { _tag: "rows", pods: rows(LIST_PODS), statuses: rows(LIST_STATUS) }
  })()
