/**
 * The SQL Store layer (SQLite): desired pods with store-wide revisions, a change log the feed replays,
 * observed status and pod events.
 *
 * Concurrency across processes: every write transaction's FIRST statement is a write (the revision
 * bump), so SQLite takes the write lock before reading and never fails with SQLITE_BUSY_SNAPSHOT.
 * Waiting for another writer is done here, not in SQLite: better-sqlite3 is synchronous, so its busy
 * handler would freeze the whole process (monitors, probes, the dashboard) for as long as the lock is
 * held. The connection's busy_timeout is short (`BUSY_TIMEOUT_MS`); SQLITE_BUSY is then retried with
 * a jittered backoff for up to `BUSY_GIVE_UP` (a lock held by another process for 10 s, or 20, is
 * waited out and the write lands), after which the write fails with a StoreError saying the store
 * stayed locked. The CLI waits the same way.
 */
import { SqlClient } from "@effect/sql"
import type { SqlError } from "@effect/sql/SqlError"
import { Context, Duration, Effect, Either, Layer, Option, PubSub, Ref, Schedule, Stream } from "effect"
import { ensurePrivateSqlite } from "../config/privateDir.js"
import type { Pod } from "../spec/Pod.js"
import { quoted } from "../spec/printable.js"
import { LIST_PODS, LIST_STATUS, MIGRATIONS } from "./layout.js"
import {
  encodeSpec,
  EVENT_COLUMNS,
  eventFromRow,
  memoRows,
  partition,
  POD_COLUMNS,
  podFromRow,
  STATUS_COLUMNS,
  statusFromRow
} from "./rows.js"
import { writeNudges } from "./sqliteNotify.js"
import { transaction, transactionOn } from "./sqliteTx.js"
import { encodeStatusJson, type NewPodEvent, type PodEvent, type PodStatus } from "./status.js"
import {
  AlreadyExists,
  type BindOptions,
  type Change,
  type DeleteOptions,
  type InvalidRecord,
  type PodList,
  type RecordKind,
  RevisionConflict,
  Store,
  type StoredPod,
  storedPodAt,
  StoreError
} from "./Store.js"

/** How many change-log entries are kept for the feed to replay; older requests get a Resync. */
const CHANGE_HISTORY = 1000
const EVENT_HISTORY = 10_000

// The statements of putStatusAndEvent, run as they are (the same as upsertStatus and insertEvent).
const UPSERT_STATUS =
  "INSERT INTO status (name, body) VALUES (?, ?) ON CONFLICT (name) DO UPDATE SET body = excluded.body"
const INSERT_EVENT = "INSERT INTO events (body) VALUES (?) RETURNING id"
const TRIM_EVENTS = "DELETE FROM events WHERE id <= ?"
// The statements of putAll (the same as write's revision bump, existing, upsert and the change log's).
const BUMP_REVISION = "UPDATE meta SET value = value + ? WHERE key = 'revision' RETURNING value"
const POD_BOOKKEEPING = "SELECT revision, created_revision, restart_generation, node FROM pods WHERE name = ?"
const UPSERT_POD = `INSERT INTO pods (name, spec, revision, created_revision, updated_at, restart_generation, node)
  VALUES (?, ?, ?, ?, ?, ?, ?)
  ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, revision = excluded.revision,
    created_revision = excluded.created_revision, updated_at = excluded.updated_at,
    restart_generation = excluded.restart_generation, node = excluded.node`
const INSERT_CHANGE =
  `INSERT INTO changes (revision, name, spec, created_revision, updated_at, restart_generation, node)
  VALUES (?, ?, ?, ?, ?, ?, ?)`
const TRIM_CHANGES = "DELETE FROM changes WHERE revision <= ?"

/**
 * The largest multiple of `every` in [first, last], if any: a batch of ids or revisions trims its
 * history where a write of one would have (at each multiple), once for the batch.
 */
const trimPoint = (first: number, last: number, every: number): number | undefined => {
  const m = Math.floor(last / every) * every
  return m >= first ? m : undefined
}

/**
 * The bookkeeping of a pod's row, not its spec: a write over an unreadable row (a re-apply that
 * repairs it) keeps what of it is sound.
 */
const bookkeepingOf = (r: Record<string, unknown> | undefined) => {
  if (r === undefined) return undefined
  const num = (v: unknown) => typeof v === "number" && Number.isFinite(v) ? v : undefined
  const revision = num(r.revision) ?? -1
  return {
    revision,
    created_revision: num(r.created_revision) ?? Math.max(revision, 0),
    restart_generation: num(r.restart_generation) ?? 0,
    node: typeof r.node === "string" ? r.node : null
  }
}

export interface SqlStoreOptions {
  /**
   * How often the change feed checks for writes by other processes anyway: a fallback, since a
   * file's writes are noticed at once (sqliteNotify.ts). Default 5 s with notification (each check
   * wakes every watcher: it was most of an idle agent's CPU at 1 s), 100 ms without.
   */
  readonly pollInterval?: Duration.DurationInput
  /** Notice writes by other processes through a watch on the file (default true; false: poll only). */
  readonly notify?: boolean
}

const isBusy = (e: SqlError): boolean => {
  const code = (e.cause as { code?: unknown } | undefined)?.code
  return typeof code === "string" && (code.startsWith("SQLITE_BUSY") || code.startsWith("SQLITE_LOCKED"))
}

/** How long one statement may block the process on SQLite's own busy handler. */
export const BUSY_TIMEOUT_MS = 50
/** How long a write waits for another process's lock before it fails. */
export const BUSY_GIVE_UP = Duration.seconds(30)

export const busyRetry = Schedule.exponential("5 millis", 1.5).pipe(
  Schedule.union(Schedule.spaced("200 millis")),
  Schedule.jittered,
  Schedule.upTo(BUSY_GIVE_UP)
)

/**
 * A failure's message, with SQLite's own reason and code (the SqlError's is a generic "Failed to
 * execute statement"); a full disk and a lock never released say so in words.
 */
export const sqlMessage = (e: SqlError): string => {
  const cause = e.cause as { code?: unknown; message?: unknown } | undefined
  const code = typeof cause?.code === "string" ? cause.code : undefined
  const detail = typeof cause?.message === "string"
    ? `${cause.message}${code ? ` (${code})` : ""}`
    : e.message
  if (isBusy(e)) return `the store stayed locked by another process for ${Duration.format(BUSY_GIVE_UP)}: ${detail}`
  if (code?.startsWith("SQLITE_FULL")) return `no space left for the store, nothing was written: ${detail}`
  return detail
}

const wrap = (op: string) => <A, R>(eff: Effect.Effect<A, SqlError, R>): Effect.Effect<A, StoreError, R> =>
  eff.pipe(
    Effect.retry({ schedule: busyRetry, while: isBusy }),
    Effect.mapError((cause) => new StoreError({ op, message: sqlMessage(cause), cause }))
  )

const userVersion = (sql: SqlClient.SqlClient) =>
  sql<{ user_version: number }>`PRAGMA user_version`.pipe(Effect.map((rows) => rows[0]?.user_version ?? 0))

/**
 * A file a newer Tank wrote: a plain, typed failure naming both versions (every command says it as
 * it says any store error), not a defect with a stack; nothing is written to it.
 */
const newerStore = (seen: number) =>
  new StoreError({
    op: "migrate",
    message: `store schema version ${seen} is newer than this Tank's (${MIGRATIONS.length}): ` +
      "open it with the Tank that wrote it"
  })

const migrate = (sql: SqlClient.SqlClient) =>
  Effect.gen(function*() {
    // Readers of an up-to-date file (most opens: `tank ps`) must not write at all.
    const seen = yield* userVersion(sql)
    if (seen > MIGRATIONS.length) return seen
    if (seen === MIGRATIONS.length) return seen
    // BEGIN IMMEDIATE: two processes opening a fresh file at once must not both migrate.
    yield* sql.unsafe("BEGIN IMMEDIATE")
    const done = yield* Effect.gen(function*() {
      const version = yield* userVersion(sql)
      for (let v = version; v < MIGRATIONS.length; v++) {
        for (const stmt of MIGRATIONS[v]!.split(";").map((s) => s.trim()).filter(Boolean)) {
          yield* sql.unsafe(stmt)
        }
      }
      if (version < MIGRATIONS.length) yield* sql.unsafe(`PRAGMA user_version = ${MIGRATIONS.length}`)
    }).pipe(Effect.exit)
    yield* sql.unsafe(done._tag === "Success" ? "COMMIT" : "ROLLBACK")
    yield* done
    return seen
  }).pipe(
    wrap("migrate"),
    Effect.flatMap((seen) => seen > MIGRATIONS.length ? Effect.fail(newerStore(seen)) : Effect.void)
  )

/** The Store over any SqlClient whose dialect is SQLite (bring your own, or see `layerSqlite`). */
export const make = (options: SqlStoreOptions = {}) =>
  Effect.gen(function*() {
    const sql = yield* SqlClient.SqlClient
    yield* migrate(sql)
    // The file behind the connection, whoever opened it ("" for an in-memory or temporary database).
    const dbFile = yield* sql<{ name: string; file: string }>`PRAGMA database_list`.pipe(
      wrap("open"),
      Effect.map((rows) => rows.find((r) => r.name === "main")?.file ?? "")
    )
    const notify = options.notify !== false && dbFile !== ""
    // Wakes watchers after writes made through this connection (data_version only sees others').
    const local = yield* PubSub.sliding<void>(1)
    // Event appends wake only event readers: the change feed (the reconciler's pass trigger) has
    // nothing to read after one, and the agent appends several events per pod start.
    const localEvents = yield* PubSub.sliding<void>(1)
    const projection = yield* Ref.make<{ revision: number; list: PodList }>({
      revision: -1,
      list: { pods: [], invalid: [] }
    })

    const currentRevision = sql<{ value: number }>`SELECT value FROM meta WHERE key = 'revision'`.pipe(
      Effect.map((rows) => rows[0]?.value ?? 0)
    )

    const podColumns = sql.literal(POD_COLUMNS)
    const decodePods = memoRows((r) => podFromRow(r))
    const readAll = sql.unsafe<Record<string, unknown>>(LIST_PODS).pipe(
      wrap("list"),
      Effect.map((rows): PodList => {
        const { good, invalid } = partition(decodePods(rows))
        return { pods: good, invalid }
      })
    )
    const readPod = (name: string) => sql`SELECT ${podColumns} FROM pods WHERE name = ${name}`

    const write = <A, E>(op: string, name: string, body: (rev: number) => Effect.Effect<A, E | SqlError>) =>
      Effect.gen(function*() {
        const [bumped] = yield* sql<
          { value: number }
        >`UPDATE meta SET value = value + 1 WHERE key = 'revision' RETURNING value`
        const rev = bumped!.value
        const result = yield* body(rev)
        if (rev % 100 === 0) yield* sql`DELETE FROM changes WHERE revision <= ${rev - CHANGE_HISTORY}`
        return result
      }).pipe(
        transaction(sql),
        Effect.retry({
          schedule: busyRetry,
          while: (e) => (e as { _tag?: string })._tag === "SqlError" && isBusy(e as SqlError)
        }),
        Effect.mapError((e) =>
          (e as { _tag?: string })._tag === "SqlError"
            ? new StoreError({ op, message: `${name}: ${sqlMessage(e as SqlError)}`, cause: e })
            : e as Exclude<E, SqlError>
        ),
        Effect.tap(() => PubSub.publish(local, undefined)),
        // A write may carry an event (bind's, delete's).
        Effect.tap(() => PubSub.publish(localEvents, undefined))
      )

    /** The bookkeeping of the pod's row (`bookkeepingOf`), if there is one. */
    const existing = (name: string) =>
      sql`SELECT revision, created_revision, restart_generation, node FROM pods WHERE name = ${name}`
        .pipe(Effect.map((rows) => bookkeepingOf(rows[0])))

    const upsert = (
      pod: Pod,
      rev: number,
      createdRevision: number,
      restartGeneration: number,
      node: string | null
    ) => {
      const spec = encodeSpec(pod)
      const now = Date.now()
      return Effect.zipRight(
        sql`INSERT INTO pods (name, spec, revision, created_revision, updated_at, restart_generation, node)
            VALUES (${pod.name}, ${spec}, ${rev}, ${createdRevision}, ${now}, ${restartGeneration}, ${node})
            ON CONFLICT (name) DO UPDATE SET spec = excluded.spec, revision = excluded.revision,
              created_revision = excluded.created_revision, updated_at = excluded.updated_at,
              restart_generation = excluded.restart_generation, node = excluded.node`,
        sql`INSERT INTO changes (revision, name, spec, created_revision, updated_at, restart_generation, node)
            VALUES (${rev}, ${pod.name}, ${spec}, ${createdRevision}, ${now}, ${restartGeneration}, ${node})`
      ).pipe(Effect.as<StoredPod>({
        name: pod.name,
        spec: pod,
        revision: rev,
        createdRevision,
        updatedAt: now,
        restartGeneration,
        node
      }))
    }

    const put = (pod: Pod, opts?: { readonly expectRevision?: number }) =>
      write("put", pod.name, (rev) =>
        Effect.gen(function*() {
          const cur = yield* existing(pod.name)
          if (opts?.expectRevision !== undefined && (cur?.revision ?? 0) !== opts.expectRevision) {
            return yield* new RevisionConflict({
              name: pod.name,
              expected: opts.expectRevision,
              actual: cur?.revision ?? null
            })
          }
          return yield* upsert(pod, rev, cur?.created_revision ?? rev, cur?.restart_generation ?? 0, cur?.node ?? null)
        }))

    /**
     * The batch in one transaction, its fixed statements run prepared on the transaction's connection
     * (transactionOn): per pod the bookkeeping read, the upsert, the change log and the event, without
     * the `sql` template's compile and span per statement; one revision bump, one commit and one
     * wake-up of the change feed and the event readers for the whole batch.
     */
    const putAll = (batch: ReadonlyArray<Pod>, event: (stored: StoredPod) => NewPodEvent) =>
      batch.length === 0 ? Effect.succeed([]) : transactionOn(sql)((conn) =>
        Effect.gen(function*() {
          // The bump first: a write, so the transaction holds the write lock from its start.
          const [bumped] = yield* conn.execute(BUMP_REVISION, [batch.length], undefined)
          const last = (bumped as { value: number }).value
          const first = last - batch.length + 1
          const out: Array<StoredPod> = []
          let firstEvent: number | undefined
          let lastEvent = 0
          for (const [i, pod] of batch.entries()) {
            const revision = first + i
            const [row] = yield* conn.execute(POD_BOOKKEEPING, [pod.name], undefined)
            const cur = bookkeepingOf(row as Record<string, unknown> | undefined)
            const spec = encodeSpec(pod)
            const stored = storedPodAt(
              pod,
              revision,
              cur &&
                { createdRevision: cur.created_revision, restartGeneration: cur.restart_generation, node: cur.node }
            )
            const values = [
              stored.revision,
              stored.createdRevision,
              stored.updatedAt,
              stored.restartGeneration,
              stored.node
            ]
            yield* conn.execute(UPSERT_POD, [pod.name, spec, ...values], undefined)
            yield* conn.execute(INSERT_CHANGE, [revision, pod.name, spec, ...values.slice(1)], undefined)
            const [ev] = yield* conn.execute(INSERT_EVENT, [JSON.stringify(event(stored))], undefined)
            lastEvent = (ev as { id: number }).id
            firstEvent ??= lastEvent
            out.push(stored)
          }
          const changesTrim = trimPoint(first, last, 100)
          if (changesTrim !== undefined) yield* conn.execute(TRIM_CHANGES, [changesTrim - CHANGE_HISTORY], undefined)
          const eventsTrim = trimPoint(firstEvent!, lastEvent, 500)
          if (eventsTrim !== undefined) yield* conn.execute(TRIM_EVENTS, [eventsTrim - EVENT_HISTORY], undefined)
          return out as ReadonlyArray<StoredPod>
        })
      ).pipe(
        wrap("put"),
        Effect.tap(() => PubSub.publish(local, undefined)),
        Effect.tap(() => PubSub.publish(localEvents, undefined))
      )

    const create = (pod: Pod) =>
      write("create", pod.name, (rev) =>
        Effect.gen(function*() {
          const cur = yield* existing(pod.name)
          if (cur) return yield* new AlreadyExists({ name: pod.name, revision: cur.revision })
          return yield* upsert(pod, rev, rev, 0, null)
        }))

    const del = (name: string, opts?: DeleteOptions) =>
      write("delete", name, (rev) =>
        Effect.gen(function*() {
          const cur = yield* existing(name)
          if (opts?.expectRevision !== undefined && (cur?.revision ?? 0) !== opts.expectRevision) {
            return yield* new RevisionConflict({ name, expected: opts.expectRevision, actual: cur?.revision ?? null })
          }
          if (!cur) return yield* Effect.fail("absent" as const)
          yield* sql`DELETE FROM pods WHERE name = ${name}`
          yield* sql`INSERT INTO changes (revision, name, spec) VALUES (${rev}, ${name}, NULL)`
          // In the delete's transaction: both or neither, one commit.
          if (opts?.event) yield* insertEvent({ ...opts.event, pod: name })
          return true
        })).pipe(
          // Nothing to delete: roll the revision bump back rather than log a no-op change.
          Effect.catchIf((e): e is "absent" => e === "absent", () => Effect.succeed(false))
        )

    /** Log the pod row as it now is (after an in-place UPDATE) as the change at `rev`. */
    const logRow = (rev: number, name: string, row: {
      readonly spec: unknown
      readonly createdRevision: number
      readonly updated_at: number
      readonly restartGeneration: number
      readonly node: string | null
    }) =>
      sql`INSERT INTO changes (revision, name, spec, created_revision, updated_at, restart_generation, node)
          VALUES (${rev}, ${name}, ${row.spec as string}, ${row.createdRevision}, ${row.updated_at},
                  ${row.restartGeneration}, ${row.node})`

    /**
     * Rewrite a readable pod's bookkeeping as the change at `rev`; "absent" if there is no such pod,
     * its InvalidRecord (nothing written) if its row cannot be read.
     */
    const touch = (rev: number, name: string, update: (pod: StoredPod) => StoredPod) =>
      Effect.gen(function*() {
        const [row] = yield* readPod(name)
        if (!row) return yield* Effect.fail("absent" as const)
        const cur = podFromRow(row)
        if (Either.isLeft(cur)) return yield* Effect.fail(cur.left)
        const next = { ...update(cur.right), revision: rev, updatedAt: Date.now() }
        yield* sql`UPDATE pods SET revision = ${rev}, updated_at = ${next.updatedAt},
                     restart_generation = ${next.restartGeneration}, node = ${next.node}
                   WHERE name = ${name}`
        // The stored text as it is (not re-encoded): the change log must replay exactly this row.
        yield* logRow(rev, name, { ...next, spec: row.spec, updated_at: next.updatedAt })
        return next
      })

    const requestRestart = (name: string) =>
      write("restart", name, (rev) => touch(rev, name, (p) => ({ ...p, restartGeneration: p.restartGeneration + 1 })))
        .pipe(
          Effect.map(Option.some),
          Effect.catchIf((e): e is "absent" => e === "absent", () => Effect.succeedNone)
        )

    const insertEvent = (event: NewPodEvent) =>
      Effect.gen(function*() {
        const [row] = yield* sql<{ id: number }>`INSERT INTO events (body) VALUES (${
          JSON.stringify(event)
        }) RETURNING id`
        if (row!.id % 500 === 0) yield* sql`DELETE FROM events WHERE id <= ${row!.id - EVENT_HISTORY}`
        return { ...event, id: row!.id }
      })

    const bind = (name: string, node: string | null, opts?: BindOptions) =>
      write("bind", name, (rev) =>
        Effect.gen(function*() {
          const cur = yield* existing(name)
          if (opts?.expectRevision !== undefined && (cur?.revision ?? 0) !== opts.expectRevision) {
            return yield* new RevisionConflict({ name, expected: opts.expectRevision, actual: cur?.revision ?? null })
          }
          const bound = yield* touch(rev, name, (p) => ({ ...p, node }))
          // In the binding's transaction: both or neither.
          if (opts?.event) yield* insertEvent({ ...opts.event, pod: name })
          return bound
        })).pipe(
          Effect.map(Option.some),
          Effect.catchIf((e): e is "absent" => e === "absent", () => Effect.succeedNone)
        )

    const list = Effect.gen(function*() {
      const rev = yield* currentRevision.pipe(wrap("list"))
      const cached = yield* Ref.get(projection)
      if (cached.revision === rev) return cached.list
      const all = yield* readAll
      yield* Ref.set(projection, { revision: rev, list: all })
      return all
    })

    const dataVersion = sql<{ data_version: number }>`PRAGMA data_version`.pipe(
      wrap("watch"),
      Effect.map((r) => r[0]?.data_version)
    )

    /**
     * Emits whenever something may have changed: own `writes` at once (pod writes for the change
     * feed; those and event appends for event readers), other processes' at once when
     * the file can be watched (else within the poll). Set up before the caller reads its starting
     * point, so that nothing written after that is missed.
     */
    const wakeups = (writes: PubSub.PubSub<void>) =>
      Effect.gen(function*() {
        const own = yield* PubSub.subscribe(writes)
        const { nudges, watching } = notify ? yield* writeNudges(dbFile) : { nudges: Stream.empty, watching: false }
        const poll = Duration.decode(options.pollInterval ?? (watching ? "5 seconds" : "100 millis"))
        // data_version changes only for other connections' commits: own writes' nudges cost one query.
        const seen = yield* Ref.make(yield* dataVersion)
        const external = Stream.merge(nudges, Stream.fromSchedule(Schedule.spaced(poll))).pipe(
          Stream.filterEffect(() =>
            Effect.flatMap(dataVersion, (v) => Ref.modify(seen, (old) => [v !== old, v] as const))
          )
        )
        return Stream.merge(Stream.fromQueue(own), external).pipe(Stream.as(undefined))
      })

    const changesAfter = (after: number) =>
      Effect.gen(function*() {
        const [oldest] = yield* sql<{ r: number | null }>`SELECT MIN(revision) AS r FROM changes`.pipe(wrap("watch"))
        const rev = yield* currentRevision.pipe(wrap("watch"))
        if (rev <= after) return { last: after, out: [] as Array<Change> }
        // Everything between `after` and the oldest retained change is gone: hand over the full state.
        if (oldest?.r == null || oldest.r > after + 1) {
          const all = yield* readAll
          return { last: rev, out: [{ _tag: "Resync", revision: rev, ...all }] as Array<Change> }
        }
        const rows = yield* sql<
          { revision: number; name: string; spec: unknown; spec_bytes: number | null; created_revision: unknown }
        >`SELECT ${podColumns} FROM changes WHERE revision > ${after} ORDER BY revision`.pipe(wrap("watch"))
        const out: Array<Change> = []
        for (const r of rows) {
          if (r.spec === null && r.spec_bytes === null) {
            out.push({ _tag: "PodDeleted", revision: r.revision, name: String(r.name) })
            continue
          }
          const pod = podFromRow(
            { ...r, created_revision: r.created_revision ?? r.revision },
            `changes row ${r.revision} (pod ${quoted(String(r.name))})`
          )
          out.push(
            Either.isRight(pod)
              ? { _tag: "PodPut", revision: r.revision, pod: pod.right }
              : { _tag: "PodInvalid", revision: r.revision, record: pod.left }
          )
        }
        return { last: rows.length ? rows[rows.length - 1]!.revision : after, out }
      })

    const watch = (fromRevision?: number): Stream.Stream<Change, StoreError> =>
      Stream.unwrapScoped(
        Effect.gen(function*() {
          const wake = yield* wakeups(local)
          const start = fromRevision ?? (yield* currentRevision.pipe(wrap("watch")))
          const cursor = yield* Ref.make(start)
          const pull = Effect.gen(function*() {
            const { last, out } = yield* changesAfter(yield* Ref.get(cursor))
            yield* Ref.set(cursor, last)
            return out
          })
          return Stream.concat(Stream.make(undefined), wake).pipe(
            Stream.mapEffect(() => pull),
            Stream.flattenIterables
          )
        })
      )

    const upsertStatus = (name: string, body: string) =>
      sql`INSERT INTO status (name, body) VALUES (${name}, ${body})
          ON CONFLICT (name) DO UPDATE SET body = excluded.body`

    const putStatus = (status: PodStatus) =>
      encodeStatusJson(status).pipe(
        Effect.orDie,
        Effect.flatMap((body) => upsertStatus(status.name, body)),
        wrap("putStatus"),
        Effect.asVoid
      )

    // The status's upsert first: a write, so the transaction holds the write lock from its start.
    // Fixed statements on the transaction's connection (transactionOn): the agent's hottest write.
    const putStatusAndEvent = (status: PodStatus, event: NewPodEvent) =>
      encodeStatusJson(status).pipe(
        Effect.orDie,
        Effect.flatMap((body) =>
          transactionOn(sql)((conn) =>
            Effect.gen(function*() {
              yield* conn.execute(UPSERT_STATUS, [status.name, body], undefined)
              const [row] = yield* conn.execute(INSERT_EVENT, [JSON.stringify(event)], undefined)
              const id = (row as { id: number }).id
              if (id % 500 === 0) yield* conn.execute(TRIM_EVENTS, [id - EVENT_HISTORY], undefined)
              return { ...event, id }
            })
          )
        ),
        wrap("putStatus"),
        Effect.tap(() => PubSub.publish(localEvents, undefined))
      )

    const statusColumns = sql.literal(STATUS_COLUMNS)
    const eventColumns = sql.literal(EVENT_COLUMNS)

    const decodeStatuses = memoRows(statusFromRow)
    const listStatus = sql.unsafe<Record<string, unknown>>(LIST_STATUS).pipe(
      wrap("listStatus"),
      Effect.map((rows) => {
        const { good, invalid } = partition(decodeStatuses(rows))
        return { statuses: good, invalid }
      })
    )

    const invalidRecords = Effect.gen(function*() {
      const pods = yield* readAll
      const statuses = yield* listStatus
      const events = yield* sql`SELECT ${eventColumns} FROM events ORDER BY id`.pipe(wrap("doctor"))
      return [...pods.invalid, ...statuses.invalid, ...partition(events.map(eventFromRow)).invalid]
    })

    /** Delete one record if it is (still) unreadable: checked and deleted in one transaction. */
    const removeInvalid = (kind: RecordKind, key: string): Effect.Effect<boolean, StoreError> => {
      switch (kind) {
        case "pod":
          return write("doctor", key, (rev) =>
            Effect.gen(function*() {
              const [row] = yield* readPod(key)
              if (!row || Either.isRight(podFromRow(row))) return yield* Effect.fail("kept" as const)
              yield* sql`DELETE FROM pods WHERE name = ${key}`
              yield* sql`INSERT INTO changes (revision, name, spec) VALUES (${rev}, ${key}, NULL)`
              return true
            })).pipe(Effect.catchIf((e): e is "kept" => e === "kept", () => Effect.succeed(false)))
        case "status":
          return transaction(sql)(Effect.gen(function*() {
            const [row] = yield* sql`SELECT ${statusColumns} FROM status WHERE name = ${key}`
            if (!row || Either.isRight(statusFromRow(row))) return false
            yield* sql`DELETE FROM status WHERE name = ${key}`
            return true
          })).pipe(wrap("doctor"))
        case "event": {
          const id = Number(key)
          if (!Number.isSafeInteger(id)) return Effect.succeed(false)
          return transaction(sql)(Effect.gen(function*() {
            const [row] = yield* sql`SELECT ${eventColumns} FROM events WHERE id = ${id}`
            if (!row || Either.isRight(eventFromRow(row))) return false
            yield* sql`DELETE FROM events WHERE id = ${id}`
            return true
          })).pipe(wrap("doctor"))
        }
      }
    }

    const appendEvent: Store["Type"]["appendEvent"] = (event) =>
      insertEvent(event).pipe(wrap("appendEvent"), Effect.tap(() => PubSub.publish(localEvents, undefined)))

    const eventsAfter = (after: number) =>
      sql`SELECT ${eventColumns} FROM events WHERE id > ${after} ORDER BY id`.pipe(
        wrap("events"),
        Effect.map((rows) =>
          rows.map((r) => ({ id: r.id as number, item: Either.merge(eventFromRow(r)) as PodEvent | InvalidRecord }))
        )
      )

    const events = (afterId?: number) =>
      Stream.unwrapScoped(Effect.gen(function*() {
        const wake = yield* wakeups(localEvents)
        const [max] = yield* sql<{ id: number | null }>`SELECT MAX(id) AS id FROM events`.pipe(wrap("events"))
        const cursor = yield* Ref.make(afterId ?? max?.id ?? 0)
        const pull = Effect.gen(function*() {
          const evs = yield* eventsAfter(yield* Ref.get(cursor))
          if (evs.length) yield* Ref.set(cursor, evs[evs.length - 1]!.id)
          return evs.map((e) => e.item)
        })
        return Stream.concat(Stream.make(undefined), wake).pipe(
          Stream.mapEffect(() => pull),
          Stream.flattenIterables
        )
      }))

    return Store.of({
      put,
      putAll,
      create,
      get: (name) =>
        readPod(name).pipe(
          wrap("get"),
          Effect.flatMap((rows) => rows[0] ? Effect.map(podFromRow(rows[0]), Option.some) : Effect.succeedNone)
        ),
      list,
      delete: del,
      requestRestart,
      bind,
      revision: currentRevision.pipe(wrap("revision")),
      watch,
      putStatus,
      putStatusAndEvent,
      getStatus: (name) =>
        sql`SELECT ${statusColumns} FROM status WHERE name = ${name}`.pipe(
          wrap("getStatus"),
          Effect.flatMap((rows) => rows[0] ? Effect.map(statusFromRow(rows[0]), Option.some) : Effect.succeedNone)
        ),
      listStatus,
      deleteStatus: (name) => sql`DELETE FROM status WHERE name = ${name}`.pipe(wrap("deleteStatus"), Effect.asVoid),
      appendEvent,
      events,
      recentEvents: (limit) =>
        sql`SELECT ${eventColumns} FROM (SELECT id, body FROM events ORDER BY id DESC LIMIT ${limit}) ORDER BY id`.pipe(
          wrap("events"),
          Effect.map((rows) => {
            const { good, invalid } = partition(rows.map(eventFromRow))
            return { events: good, invalid }
          })
        ),
      invalidRecords,
      removeInvalid
    })
  })

/** Store over a SqlClient the caller provides (bring your own database connection). */
export const layerSql = (options?: SqlStoreOptions): Layer.Layer<Store, StoreError, SqlClient.SqlClient> =>
  Layer.effect(Store, make(options))

/**
 * A bare connection on a SQLite file (no permission checks: `sqliteClientLayer` is the one to use),
 * its busy_timeout short: waiting for other writers is ours (busyRetry), not a blocking busy
 * handler's (see the top). The driver (better-sqlite3, a native addon) is loaded on first use, not with
 * this module: the CLI's startup snapshot holds this module and cannot hold an addon.
 */
export const sqliteConnection = (filename: string) =>
  Layer.unwrapEffect(
    Effect.map(
      Effect.promise(() => import("@effect/sql-sqlite-node")),
      ({ SqliteClient }) =>
        SqliteClient.layer({ filename }).pipe(
          Layer.tap((ctx) => Context.get(ctx, SqlClient.SqlClient).unsafe(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`))
        )
    )
  )

/**
 * A SqlClient on a SQLite file (WAL), the file and its -wal/-shm made 0600 before SQLite opens them
 * (they hold every spec, env values included). One per process and file: share it (the agent gives
 * the same one to the Store and the allocations), because opening the file any other way in a
 * process that has a SQLite connection on it drops that connection's POSIX locks when it closes.
 */
export const sqliteClientLayer = (filename: string): Layer.Layer<SqlClient.SqlClient, StoreError> =>
  Layer.unwrapEffect(
    (filename === ":memory:" || filename === "" ? Effect.void : ensurePrivateSqlite(filename)).pipe(
      Effect.mapError((e) => new StoreError({ op: "open", message: `cannot open ${filename}: ${e.message}` })),
      Effect.as(sqliteConnection(filename))
    )
  ).pipe(
    Layer.mapError((cause) =>
      cause instanceof StoreError
        ? cause
        : new StoreError({ op: "open", message: `cannot open ${filename}: ${cause.message}` })
    )
  )

/** Store in its own SQLite file (WAL), e.g. `<dataDir>/tank.db` (see `sqliteClientLayer`). */
export const layerSqlite = (filename: string, options?: SqlStoreOptions): Layer.Layer<Store, StoreError> =>
  layerSql(options).pipe(Layer.provide(sqliteClientLayer(filename)))
