/**
 * Writes into a Store's SQLite file behind its back, with the project's own SQLite client: what a
 * buggy writer of the same schema leaves (a new revision and a change-log entry, so watchers see
 * it), or an in-place edit (`bump: false`) as disk damage or a hand edit would.
 */
import { SqlClient } from "@effect/sql"
import { SqliteClient } from "@effect/sql-sqlite-node"
import { Context, Effect, Layer, type Scope } from "effect"
import type { Corrupt } from "./invalidSuite.js"

export const sqliteCorrupt = (
  file: string
): Effect.Effect<Corrupt & { readonly sql: SqlClient.SqlClient }, never, Scope.Scope> =>
  Effect.gen(function*() {
    const ctx = yield* Layer.build(SqliteClient.layer({ filename: file })).pipe(Effect.orDie)
    const sql = Context.get(ctx, SqlClient.SqlClient)
    const podText = (name: string, text: string) =>
      Effect.gen(function*() {
        const [r] = yield* sql<
          { value: number }
        >`UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value`
        const rev = r!.value
        yield* sql`INSERT INTO pods (name, spec, revision, created_revision, updated_at, restart_generation, node)
                   VALUES (${name}, ${text}, ${rev}, ${rev}, 0, 0, NULL)
                   ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, revision = excluded.revision`
        yield* sql`INSERT INTO changes (revision, name, spec, created_revision, updated_at, restart_generation, node)
                   VALUES (${rev}, ${name}, ${text}, ${rev}, 0, 0, NULL)`
      }).pipe(sql.withTransaction, Effect.orDie)
    return {
      sql,
      podRaw: podText,
      podSpec: (name, spec) => podText(name, JSON.stringify(spec)),
      status: (name, text) =>
        sql`INSERT INTO status (name, body) VALUES (${name}, ${text})
            ON CONFLICT (name) DO UPDATE SET body = excluded.body`.pipe(Effect.asVoid, Effect.orDie),
      event: (text) => sql`INSERT INTO events (body) VALUES (${text})`.pipe(Effect.asVoid, Effect.orDie)
    }
  })
