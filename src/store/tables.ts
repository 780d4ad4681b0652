/**
 * The SQLite store's tables as plain data: the migrations that make them, the columns readers select
 * and the plain helpers over a raw row. No Schema here: layout.ts and rows.ts decode rows with it,
 * and `tank ps`'s lite path (src/cli/quickPsLite.ts) reads the same rows without it. Pure: no I/O.
 */

/** Largest stored spec, status or event body a reader parses (a spec is limited to this at apply). */
export const MAX_RECORD_BYTES = 1 << 20

/** The schema's versions, one per `PRAGMA user_version` step (sqlite.ts `migrate` applies them). */
export const MIGRATIONS: ReadonlyArray<string> = [
  `CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL);
   INSERT INTO meta (key, value) VALUES ('revision', 0);
   CREATE TABLE pods (name TEXT PRIMARY KEY, spec TEXT NOT NULL, revision INTEGER NOT NULL,
                      created_revision INTEGER NOT NULL, updated_at INTEGER NOT NULL,
                      restart_generation INTEGER NOT NULL DEFAULT 0);
   CREATE TABLE changes (revision INTEGER PRIMARY KEY, name TEXT NOT NULL, spec TEXT,
                         created_revision INTEGER, updated_at INTEGER, restart_generation INTEGER);
   CREATE TABLE status (name TEXT PRIMARY KEY, body TEXT NOT NULL);
   CREATE TABLE events (id INTEGER PRIMARY KEY AUTOINCREMENT, body TEXT NOT NULL);`,
  // Cluster mode: the node a pod is bound to (NULL: not placed). Existing files upgrade in place.
  `ALTER TABLE pods ADD COLUMN node TEXT;
   ALTER TABLE changes ADD COLUMN node TEXT;`
]

/**
 * Readers select bodies through the `*_COLUMNS` lists below: SQLite knows a value's size without
 * reading it (`octet_length`), so a body over MAX_RECORD_BYTES comes back as NULL with its size and
 * is reported "too large" without ever being loaded or parsed.
 */
const guarded = (column: string, as: string) =>
  `octet_length(${column}) AS ${as}_bytes, CASE WHEN octet_length(${column}) > ${MAX_RECORD_BYTES} THEN NULL ELSE ${column} END AS ${as}`

/** Columns of `pods` (and of `changes`, whose deletes have a NULL spec). */
export const POD_COLUMNS = `name, revision, created_revision, updated_at, restart_generation, node, ${
  guarded("spec", "spec")
}`
export const STATUS_COLUMNS = `name, ${guarded("body", "body")}`
export const EVENT_COLUMNS = `id, ${guarded("body", "body")}`

/** Every pod, and every status, as `store.list` and `store.listStatus` read them (and psReader.ts). */
export const LIST_PODS = `SELECT ${POD_COLUMNS} FROM pods ORDER BY name`
export const LIST_STATUS = `SELECT ${STATUS_COLUMNS} FROM status ORDER BY name`

export type Raw = Record<string, unknown>

export const keyOf = (v: unknown): string => typeof v === "string" ? v : String(v)
export const numberOr = (v: unknown): number | undefined => typeof v === "number" ? v : undefined

/** The byte size a guarded select reported, if the body was withheld for being too large. */
export const withheld = (row: Raw, as: string): number | undefined => {
  const bytes = row[`${as}_bytes`]
  return typeof bytes === "number" && bytes > MAX_RECORD_BYTES ? bytes : undefined
}

/** A `pods` row's columns (layout.ts's PodRow decodes them with Schema, naming each bad one). */
export interface PodColumns {
  readonly name: string
  readonly spec: string
  readonly revision: number
  readonly created_revision: number
  readonly updated_at: number
  readonly restart_generation: number
  readonly node: string | null
}

/**
 * The row's columns if they are what PodRow accepts (each Schema.String a string, each Schema.Number
 * a number, node null or a string; other columns ignored, as the Struct ignores them), else
 * undefined. For `tank ps`'s lite path, which hands any row it refuses to the Store's own decoder.
 */
export const podColumns = (row: Raw): PodColumns | undefined =>
  typeof row.name === "string" && typeof row.spec === "string" && typeof row.revision === "number" &&
    typeof row.created_revision === "number" && typeof row.updated_at === "number" &&
    typeof row.restart_generation === "number" && (row.node === null || typeof row.node === "string")
    ? row as unknown as PodColumns
    : undefined

/** A stored pod's record from its columns and its decoded spec (the Store's StoredPod for a Pod). */
export const podRecordOf = <S>(r: PodColumns, spec: S) => ({
  name: r.name,
  spec,
  revision: r.revision,
  createdRevision: r.created_revision,
  updatedAt: r.updated_at,
  restartGeneration: r.restart_generation,
  node: r.node
})
