/**
 * A narrow, read-only reader of the SQLite store for `tank ps` started from its small bundle
 * (src/cli/quickPs.ts): the pods and statuses through the store's own layout and row decoders
 * (layout.ts, rows.ts: the same schema version, columns and validation as the Store, so an
 * unreadable row is reported exactly as the Store reports it), without the Store layer, @effect/sql
 * and its SQLite client (loading those was most of what `tank ps` cost). Opened as the Store opens
 * it (the data dir and file checked private first), with better-sqlite3 directly; nothing here writes.
 *
 * Specs are decoded whole (the Pod schema), not just the fields ps prints: a row valid in those
 * fields but not as a Pod (a hand edit) must read "invalid", as every other command shows it.
 *
 * Anything it cannot read as the Store would — cluster mode, a schema version other than this
 * Tank's (the Store would migrate or refuse it), any error — answers `undefined`, and the caller
 * runs the full CLI, which says it as every other command does.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { createRequire } from "node:module"
import * as path from "node:path"
import type { TankConfigShape } from "../config/Config.js"
import { ensureDataDir, ensurePrivateSqlite } from "../config/privateDir.js"
import { LIST_PODS, LIST_STATUS, MIGRATIONS, partition, statusFromRow } from "./layout.js"
import { podFromRow } from "./rows.js"
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
  options: { readonly fileMustExist: boolean; readonly timeout: number; readonly nativeBinding?: string }
) => Database

/**
 * The driver from node_modules, as the Store's client loads it (a native addon: never bundled), with
 * its addon's path: better-sqlite3 otherwise searches for it through the `bindings` package (many
 * stat calls at every start; scripts/snapshot.mjs does the same).
 */
const driver = (): { readonly Sqlite: DatabaseCtor; readonly nativeBinding?: string } => {
  const require = createRequire(import.meta.url)
  const main = require.resolve("better-sqlite3")
  const addon = path.join(path.dirname(main), "../build/Release/better_sqlite3.node")
  return { Sqlite: require(main) as DatabaseCtor, ...(fs.existsSync(addon) ? { nativeBinding: addon } : {}) }
}

/** One read transaction: the schema version, every pod and every status (sqlite.ts's queries). */
const readAll = (db: Database): PsRead | undefined =>
  db.transaction(() => {
    const version = (db.prepare("PRAGMA user_version").get() as { user_version?: unknown } | undefined)?.user_version
    if (version !== MIGRATIONS.length) return undefined
    const rows = (sql: string) => db.prepare(sql).all() as Array<Record<string, unknown>>
    const pods = partition(rows(LIST_PODS).map((r) => podFromRow(r)))
    const statuses = partition(rows(LIST_STATUS).map(statusFromRow))
    return { pods: pods.good, badPods: pods.invalid, statuses: statuses.good, badStatus: statuses.invalid }
  })()

/**
 * Every pod and status of the config's SQLite store (none when the file does not exist yet: as the
 * Store's read-only open, which creates nothing), or undefined for anything the full CLI must
 * handle (cluster mode, another schema version, an error).
 */
export const readForPs = (config: TankConfigShape): Effect.Effect<PsRead | undefined> =>
  config.etcd !== undefined
    ? Effect.succeed(undefined)
    : !fs.existsSync(config.storeFile)
    ? Effect.succeed({ pods: [], badPods: [], statuses: [], badStatus: [] })
    : Effect.gen(function*() {
      // The same checks as the Store's open (fromConfig.ts, sqlite.ts); their errors are the full path's to report.
      yield* ensureDataDir(config)
      yield* ensurePrivateSqlite(config.storeFile)
      return yield* Effect.acquireUseRelease(
        Effect.try(() => {
          const { nativeBinding, Sqlite } = driver()
          return new Sqlite(config.storeFile, {
            fileMustExist: true,
            timeout: 50,
            ...(nativeBinding ? { nativeBinding } : {})
          })
        }),
        (db) => Effect.try(() => readAll(db)),
        (db) => Effect.sync(() => db.close())
      )
    }).pipe(Effect.orElseSucceed(() => undefined))
