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
import { Data, Effect, Either } from "effect"
import * as fs from "node:fs"
import type { TankConfigShape } from "../config/Config.js"
import { ensureDataDirSync, ensurePrivateSqliteSync } from "../config/privateDir.js"
import { MIGRATIONS, partition, podRowWith, statusBodyOf, statusRowWith } from "./layout.js"
import { memoFile, readMemo, writeMemo } from "./memoFile.js"
import { podFromRow, specOf } from "./rows.js"
import { memoDecoder } from "./specMemo.js"
import { openForPs, readPsRows } from "./sqliteRead.js"
import type { PodStatus } from "./status.js"
import type { InvalidRecord, StoredPod } from "./Store.js"

/** What `store.list` and `store.listStatus` would answer, read in one transaction. */
export interface PsRead {
  readonly pods: ReadonlyArray<StoredPod>
  readonly badPods: ReadonlyArray<InvalidRecord>
  readonly statuses: ReadonlyArray<PodStatus>
  readonly badStatus: ReadonlyArray<InvalidRecord>
}

/** Why the quick path leaves this read to the full CLI (which reports it as every other command does). */
export class FullCliNeeded extends Data.TaggedError("FullCliNeeded")<{ readonly reason: string }> {}

/** ps's decoders of pods and statuses: the Store's (rows.ts, layout.ts), or the memo's over them. */
interface Decoders {
  readonly pod: (row: Record<string, unknown>) => ReturnType<typeof podFromRow>
  readonly status: (row: Record<string, unknown>) => ReturnType<ReturnType<typeof statusRowWith>>
  /** The read is done: the memo rewritten when what it proved differs from what it was. */
  readonly done: () => void
}

const decoders = (config: TankConfigShape, memo: { readonly tag: string } | undefined): Decoders => {
  if (memo === undefined) return { pod: (r) => podFromRow(r), status: statusRowWith(statusBodyOf), done: () => {} }
  const file = memoFile(config)
  const known = readMemo(file, memo.tag)
  const specs = memoDecoder(known.specs, specOf)
  const statuses = memoDecoder(known.statuses, statusBodyOf)
  const pod = podRowWith(specs.specOf)
  return {
    pod: (r) => pod(r),
    status: statusRowWith(statuses.specOf),
    done: () =>
      (specs.changed() || statuses.changed()) &&
      writeMemo(file, memo.tag, { specs: specs.proven(), statuses: statuses.proven() })
  }
}

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
  let db: ReturnType<typeof openForPs>
  try {
    db = openForPs(config.storeFile)
  } catch (e) {
    return Either.left(readFailed(config, e))
  }
  try {
    const decode = decoders(config, options.memo)
    const rows = readPsRows(db)
    if (rows._tag === "otherVersion") {
      return Either.left(
        new FullCliNeeded({
          reason: `store schema version ${String(rows.version)}, this Tank's is ${MIGRATIONS.length}`
        })
      )
    }
    // The Store's decoders: an unreadable row is reported (buildReport) with the Store's own reason.
    const pods = partition(rows.pods.map(decode.pod))
    const statuses = partition(rows.statuses.map(decode.status))
    decode.done()
    return Either.right({
      pods: pods.good,
      badPods: pods.invalid,
      statuses: statuses.good,
      badStatus: statuses.invalid
    })
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
