/**
 * Allocations in SQLite (the store's file, or any SqlClient of SQLite's dialect): one table keyed by
 * (pool, address) with (pool, holder, nic) unique. Every write is a transaction whose first statement
 * is a write (a counter row), so SQLite takes the write lock before reading and concurrent processes
 * queue on the busy handler instead of both picking the same free address.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Layer } from "effect"
import {
  AddressTaken,
  type Allocation,
  Allocations,
  byPoolAndAddress,
  firstFree,
  ipNumber,
  ipText,
  PoolExhausted,
  poolSize
} from "./Allocations.js"
import { busyRetry, sqliteConnection, sqlMessage } from "./sqlite.js"
import { transaction } from "./sqliteTx.js"
import { StoreError } from "./Store.js"

const SCHEMA = [
  `CREATE TABLE IF NOT EXISTS allocations (pool TEXT NOT NULL, address TEXT NOT NULL, holder TEXT NOT NULL,
     nic TEXT NOT NULL, at INTEGER NOT NULL, PRIMARY KEY (pool, address), UNIQUE (pool, holder, nic))`,
  `CREATE INDEX IF NOT EXISTS allocations_holder ON allocations (holder)`,
  `CREATE TABLE IF NOT EXISTS allocations_lock (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)`
]

const isBusy = (e: unknown): boolean => {
  const code = (e as { cause?: { code?: unknown } }).cause?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

interface Row {
  readonly pool: string
  readonly address: string
  readonly holder: string
  readonly nic: string
  readonly at: number
}

const fromRow = (r: Row): Allocation => ({
  pool: String(r.pool),
  address: String(r.address),
  holder: String(r.holder),
  nic: String(r.nic),
  at: Number(r.at)
})

export const makeSql = Effect.gen(function*() {
  const sql = yield* SqlClient.SqlClient
  const wrap = (op: string) => <A, E, R>(eff: Effect.Effect<A, E | SqlError, R>) =>
    eff.pipe(
      Effect.retry({ schedule: busyRetry, while: (e) => (e as { _tag?: string })._tag === "SqlError" && isBusy(e) }),
      Effect.mapError((e) =>
        (e as { _tag?: string })._tag === "SqlError"
          ? new StoreError({ op, message: `allocations: ${sqlMessage(e as SqlError)}`, cause: e })
          : e as Exclude<E, SqlError>
      )
    )
  // IF NOT EXISTS: a file that has the tables is only read (`tank networks` on a read-only open).
  const exists = yield* sql<{ n: number }>`SELECT COUNT(*) AS n FROM sqlite_master
    WHERE type = 'table' AND name IN ('allocations', 'allocations_lock')`.pipe(wrap("allocations schema"))
  if ((exists[0]?.n ?? 0) < 2) {
    yield* Effect.forEach(SCHEMA, (s) => sql.unsafe(s), { discard: true }).pipe(wrap("allocations schema"))
  }

  /** A write transaction: the lock row first, so the read that follows is under the write lock. */
  const tx = <A, E>(op: string, body: Effect.Effect<A, E | SqlError>) =>
    Effect.zipRight(
      sql`INSERT INTO allocations_lock (id, n) VALUES (1, 1) ON CONFLICT (id) DO UPDATE SET n = n + 1`,
      body
    ).pipe(transaction(sql), wrap(op))

  const mine = (pool: string, holder: string, nic: string) =>
    sql<Row>`SELECT pool, address, holder, nic, at FROM allocations
             WHERE pool = ${pool} AND holder = ${holder} AND nic = ${nic}`

  return Allocations.of({
    allocate: (req) =>
      tx(
        "allocate",
        Effect.gen(function*() {
          const [cur] = yield* mine(req.pool, req.holder, req.nic)
          if (cur !== undefined) return fromRow(cur)
          const rows = yield* sql<{ address: string }>`SELECT address FROM allocations WHERE pool = ${req.pool}`
          const taken = new Set(rows.flatMap((r) => ipNumber(String(r.address)) ?? []))
          const n = firstFree(req, taken)
          if (n === undefined) return yield* new PoolExhausted({ pool: req.pool, size: poolSize(req) })
          const a: Allocation = { pool: req.pool, address: ipText(n), holder: req.holder, nic: req.nic, at: Date.now() }
          yield* sql`INSERT INTO allocations (pool, address, holder, nic, at)
                     VALUES (${a.pool}, ${a.address}, ${a.holder}, ${a.nic}, ${a.at})`
          return a
        })
      ),
    claim: (req) =>
      tx(
        "claim",
        Effect.gen(function*() {
          const [cur] = yield* sql<Row>`SELECT pool, address, holder, nic, at FROM allocations
                                        WHERE pool = ${req.pool} AND address = ${req.address}`
          if (cur !== undefined) {
            const c = fromRow(cur)
            if (c.holder === req.holder && c.nic === req.nic) return c
            return yield* new AddressTaken({ ...req, holder: c.holder, nic: c.nic })
          }
          yield* sql`DELETE FROM allocations WHERE pool = ${req.pool} AND holder = ${req.holder} AND nic = ${req.nic}`
          const a: Allocation = { ...req, at: Date.now() }
          yield* sql`INSERT INTO allocations (pool, address, holder, nic, at)
                     VALUES (${a.pool}, ${a.address}, ${a.holder}, ${a.nic}, ${a.at})`
          return a
        })
      ),
    release: (holder, which) =>
      tx(
        "release",
        Effect.gen(function*() {
          const rows = (yield* sql<Row>`SELECT pool, address, holder, nic, at FROM allocations
                                        WHERE holder = ${holder}`).map(fromRow)
          const gone = rows.filter((a) => which?.(a) ?? true)
          for (const a of gone) {
            yield* sql`DELETE FROM allocations WHERE pool = ${a.pool} AND address = ${a.address}
                         AND holder = ${holder}`
          }
          return gone
        })
      ),
    list: sql<Row>`SELECT pool, address, holder, nic, at FROM allocations`.pipe(
      wrap("list allocations"),
      Effect.map((rows) => rows.map(fromRow).sort(byPoolAndAddress))
    )
  })
})

/** Allocations over a SqlClient the caller provides (the same database as the Store, typically). */
export const layerSql: Layer.Layer<Allocations, StoreError, SqlClient.SqlClient> = Layer.effect(Allocations, makeSql)

/**
 * Allocations in a SQLite file of their own connection (the CLI, tests). No raw open of the file
 * here (unlike the Store's `ensurePrivateSqlite`): in a process that already has a SQLite connection
 * on it, closing such an fd would drop that connection's POSIX locks. The agent shares the Store's
 * client instead (`layerSql` over `sqliteClientLayer`).
 */
export const layerSqlite = (filename: string): Layer.Layer<Allocations, StoreError> =>
  layerSql.pipe(
    Layer.provide(sqliteConnection(filename)),
    Layer.mapError((cause) =>
      cause instanceof StoreError
        ? cause
        : new StoreError({
          op: "open",
          message: `cannot open ${filename}: ${String((cause as { message?: unknown }).message ?? cause)}`
        })
    )
  )
