/**
 * `tank ps`'s lite read (src/cli/quickPsLite.ts): the SQLite store read as psReader.ts reads it (the
 * same private-path checks, driver, transaction and schema version), but without any decoder — no
 * Schema in this graph. It serves a read only when every row is one the Store's own decoders already
 * proved: each spec text and each status text found whole in ps's memo (specMemo.ts says why such a
 * text decodes to JSON.parse of itself), every column what the Store's PodRow accepts, every name its
 * key. Anything else — a text not in the memo, a row the Store may call invalid, another schema
 * version, any error — is the reason it gives instead, and the lite path hands the line to the heavy
 * one (quickPs.ts), which decodes, reports as the Store does, and proves the new texts into the memo.
 */
import * as fs from "node:fs"
import { dataDirSteps, makePrivateSqlite } from "../config/privatePaths.js"
import type { Pod } from "../spec/Pod.js"
import { memoFile, readMemo } from "./memoFile.js"
import { openForPs, readPsRows } from "./sqliteRead.js"
import type { PodStatus } from "./status.js"
import { keyOf, podColumns, podRecordOf, type Raw, withheld } from "./tables.js"

/** A read whose every row the memo proves: the Store's list and listStatus, nothing invalid. */
export interface ProvenRead {
  readonly pods: ReadonlyArray<ReturnType<typeof podRecordOf<Pod>>>
  readonly badPods: ReadonlyArray<never>
  readonly statuses: ReadonlyArray<PodStatus>
  readonly badStatus: ReadonlyArray<never>
}

const message = (e: unknown) => e instanceof Error ? e.message : String(e)

/** The pods, or why one is not proven. */
const podsOf = (rows: ReadonlyArray<Raw>, proven: ReadonlySet<string>): ProvenRead["pods"] | string => {
  const pods: Array<ReturnType<typeof podRecordOf<Pod>>> = []
  for (const row of rows) {
    const c = withheld(row, "spec") === undefined ? podColumns(row) : undefined
    if (c === undefined) return `pods row ${JSON.stringify(keyOf(row.name))}: columns the Store must judge`
    if (!proven.has(c.spec)) return `the spec of ${JSON.stringify(c.name)} is not in the memo`
    const spec = JSON.parse(c.spec) as Pod
    if (spec.name !== c.name) return `the spec of ${JSON.stringify(c.name)} names another pod`
    pods.push(podRecordOf(c, spec))
  }
  return pods
}

/** The statuses, or why one is not proven. */
const statusesOf = (rows: ReadonlyArray<Raw>, proven: ReadonlySet<string>): Array<PodStatus> | string => {
  const statuses: Array<PodStatus> = []
  for (const row of rows) {
    const key = keyOf(row.name)
    if (withheld(row, "body") !== undefined || typeof row.body !== "string" || !proven.has(row.body)) {
      return `the status of ${JSON.stringify(key)} is not in the memo`
    }
    const status = JSON.parse(row.body) as PodStatus
    if (status.name !== key) return `the status of ${JSON.stringify(key)} names another pod`
    statuses.push(status)
  }
  return statuses
}

/**
 * Every pod and status of the SQLite store at `config` (none when its file does not exist yet, as
 * psReader.ts), each proven by the memo of `tag` (the heavy bundle's digest), or why not.
 */
export const readProven = (
  config: { readonly dataDir: string; readonly storeFile: string; readonly etcd: undefined },
  tag: string
): ProvenRead | string => {
  if (!fs.existsSync(config.storeFile)) return { pods: [], badPods: [], statuses: [], badStatus: [] }
  // psReader.ts's checks (privateDir.ts's, as plain code): their errors are the heavy path's to report.
  try {
    for (const [, make] of dataDirSteps(config)) make()
    makePrivateSqlite(config.storeFile)
  } catch (e) {
    return `the data dir or store: ${message(e)}`
  }
  let db: ReturnType<typeof openForPs>
  try {
    db = openForPs(config.storeFile)
  } catch (e) {
    return `opening ${config.storeFile}: ${message(e)}`
  }
  try {
    const rows = readPsRows(db)
    if (rows._tag === "otherVersion") return `store schema version ${String(rows.version)}`
    const memo = readMemo(memoFile(config), tag)
    const pods = podsOf(rows.pods, memo.specs)
    if (typeof pods === "string") return pods
    const statuses = statusesOf(rows.statuses, memo.statuses)
    if (typeof statuses === "string") return statuses
    return { pods, badPods: [], statuses, badStatus: [] }
  } catch (e) {
    return `reading ${config.storeFile}: ${message(e)}`
  } finally {
    db.close()
  }
}
