/**
 * A write transaction on a SQLite SqlClient that keeps the real reason when SQLite ends it by itself.
 *
 * `sql.withTransaction` turns a failing ROLLBACK or COMMIT into a defect. On a full disk SQLite
 * rolls the transaction back on its own (SQLITE_FULL), so the ROLLBACK that follows fails with "no
 * transaction is active" and the user got an internal error and a stack trace instead of "no space
 * left"; a COMMIT that fails (the WAL cannot grow) died the same way. Here the body's failure, or the
 * COMMIT's, is the typed result, and the connection is always left outside a transaction.
 */
import { SqlClient } from "@effect/sql"
import type { Connection } from "@effect/sql/SqlConnection"
import type { SqlError } from "@effect/sql/SqlError"
import { Effect, Exit } from "effect"

const noTransaction = (e: SqlError): boolean =>
  /no transaction is active/.test(String((e.cause as { message?: unknown } | undefined)?.message ?? ""))

export const transaction =
  (sql: SqlClient.SqlClient) => <A, E, R>(body: Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    transactionOn(sql)((conn) => Effect.provideService(body, SqlClient.TransactionConnection, [conn, 0] as const))

/**
 * The same transaction, its body given the connection itself: a body of a few fixed statements can
 * run them with `conn.execute` (a prepared statement from the connection's cache), without the
 * `sql` template's per-statement compile and span: a status with its event costs about half the
 * CPU that way (two statements; 0.12 against 0.24-0.30 ms in bench micro-runs at load 9-12).
 */
export const transactionOn =
  (sql: SqlClient.SqlClient) =>
  <A, E, R>(body: (conn: Connection) => Effect.Effect<A, E, R>): Effect.Effect<A, E | SqlError, R> =>
    Effect.uninterruptibleMask((restore) =>
      Effect.scoped(Effect.gen(function*() {
        // The one connection, held (the client's semaphore) until the transaction ends.
        const conn = yield* sql.reserve
        const run = (statement: string) => Effect.asVoid(conn.executeUnprepared(statement, [], undefined))
        // BEGIN and COMMIT as prepared statements (cached): preparing each anew cost ~10 µs a write.
        yield* Effect.asVoid(conn.execute("BEGIN", [], undefined))
        const done = yield* restore(body(conn)).pipe(Effect.exit)
        const committed = yield* (Exit.isSuccess(done)
          ? Effect.exit(Effect.asVoid(conn.execute("COMMIT", [], undefined)))
          : Effect.succeed(Exit.void))
        if (Exit.isSuccess(done) && Exit.isSuccess(committed)) return done.value
        // Whatever failed, nothing of the write may stay pending on the connection.
        yield* run("ROLLBACK").pipe(
          Effect.catchAll((e) =>
            noTransaction(e) ? Effect.void : Effect.logWarning(`rollback after a failed write failed: ${e.message}`)
          )
        )
        return yield* Effect.zipRight(committed, done)
      }))
    )
