/**
 * The entry of `dist/quick-ps.cjs` (scripts/build.mjs), ps's heavy tier: started for `tank ps`/`list`
 * by the lite tier (quickPsLite.ts) for every line it does not serve itself, else by bin/tank:
 * the quick path's ps lines (quick.ts) from a bundle whose graph holds only what they run — no
 * @effect/cli command tree, no Store layer or @effect/sql: the store's rows come through the narrow
 * read-only reader (src/store/psReader.ts, the Store's own row decoders) and run through the same
 * report, runPs, table and formats as the full CLI's. Everything else — a line the quick path leaves
 * to @effect/cli (help, an unknown option, `ps -w`), `-o yaml`, TANK_NO_QUICK=1, and whatever the
 * reader cannot read as the Store would (cluster mode, another schema version, a config error) —
 * runs the full CLI (fullCli.ts), which says it as every other command does.
 *
 * This graph must not import() a module of its own (the build stubs those out: a lazily required
 * module would make esbuild wrap Effect whole, ~35 ms of module evaluation at every start).
 *
 * It runs from its own startup snapshot, `dist/ps.blob` (scripts/snapshot.mjs; bin/tank starts it
 * under a valid stamp, else through the code cache, dist/tank-ps.cjs): the reader decodes each spec
 * as a whole Pod, as the Store does, and that decode's parsers (Schema builds them at a schema's
 * first decode and keeps them) are built into the blob by a rehearsal (`rehearse`, below).
 */
import { Either, Option } from "effect"
import { createRequire } from "node:module"
import * as os from "node:os"
import * as path from "node:path"
import { loadSync, type TankConfigShape, type YamlParser } from "../config/Config.js"
import { printableText } from "../spec/printable.js"
import { partition, statusFromRow } from "../store/layout.js"
import { FullCliNeeded, type PsRead as StoreRead, readForPsSync } from "../store/psReader.js"
import { podFromRow } from "../store/rows.js"
import { MOVED_PS_EXTRA_CA_CERTS } from "./extraCaCerts.js"
import { runFullCliFor } from "./fullCliChild.js"
import { type PsRead, selectorFilter } from "./psList.js"
import { psChunks, type PsOptions, psReport } from "./psView.js"
import { quickLine } from "./quickLine.js"
import { startQuick } from "./snapshotEntry.js"
import { type StdStream, writeAll } from "./stdWrite.js"

/**
 * The tag of ps's memo (psReader.ts, specMemo.ts): the digest of this very bundle's text, defined by
 * the startup snapshot's entry (scripts/snapshot.mjs) into this blob and into the lite one
 * (quickPsLite.ts, which serves only what this bundle's decoder proved), so a memo proven by other
 * code is never trusted. Started otherwise (no blob, from source), ps reads without the memo.
 */
declare const __tankPsMemoTag: string | undefined
const memo = typeof __tankPsMemoTag === "string" ? { memo: { tag: __tankPsMemoTag } } : {}

/** The config file's parser, from node_modules (never bundled: yaml stays out of this bundle). */
const yaml = (): YamlParser => createRequire(import.meta.url)("yaml") as YamlParser

/**
 * The config and ps's report through the narrow reader, or why the full CLI must run instead (a
 * config error, cluster mode, another schema version, a failed read: the full CLI reports those).
 * Synchronous plain code, as is all of this path: a one-shot read needs none of Effect's runtime
 * (its fibers, layers and loggers were a good part of what a `tank ps` cost).
 */
const readNarrow = (options: PsOptions): Either.Either<PsRead, FullCliNeeded> => {
  const config = Either.mapLeft(
    loadSync(Option.isSome(options.dataDir) ? { dataDir: options.dataDir.value } : {}, yaml),
    (e) => new FullCliNeeded({ reason: `the config: ${e.message}` })
  )
  return Either.flatMap(
    config,
    (config: TankConfigShape) =>
      Either.map(readForPsSync(config, memo), (read) => ({ config, report: psReport(read, Date.now()) }))
  )
}

/**
 * What ps prints for `options` (not yaml: the full CLI's) from `read`, as runPs prints it
 * (psList.ts: the same warnings, rows and formats), or why the full CLI must run (a malformed `-l`:
 * it reports it).
 */
const outputOf = (
  options: PsOptions,
  { config, report }: PsRead
): Either.Either<Array<readonly [StdStream, string]>, FullCliNeeded> =>
  Either.match(selectorFilter(options.selector), {
    onLeft: (e) => Either.left(new FullCliNeeded({ reason: `the selector: ${e.message}` })),
    onRight: (keep) => {
      const rows = report.rows.filter((r) => keep(r.spec))
      const chunks = psChunks(options, { config, invalid: report.invalid, rows }, Date.now)
      return chunks === undefined
        ? Either.left(new FullCliNeeded({ reason: "-o yaml (the full CLI prints it)" }))
        : Either.right(chunks)
    }
  })

/**
 * The fallback is always correct (the full CLI reads the same store), so it is silent; TANK_DEBUG=1
 * says why it happened on stderr (a reader that keeps falling back would otherwise go unnoticed).
 */
const fallBack = (reason: string) => {
  if (process.env.TANK_DEBUG === "1") {
    process.stderr.write(printableText(`tank: debug: ps runs the full CLI: ${reason}\n`))
  }
  return fullCli()
}

/**
 * The full CLI on this line: in this process, or — when ps's lite tier started this one with
 * NODE_EXTRA_CA_CERTS still kept aside (extraCaCerts.ts) and the line may reach etcd over TLS — in a
 * child given the variable back (node reads it only as it starts).
 */
const fullCli = (): void => runFullCliFor(MOVED_PS_EXTRA_CA_CERTS)

const main = (): void => {
  const line = process.env.TANK_NO_QUICK === "1" ? undefined : quickLine(process.argv.slice(2))
  // -o yaml loads its printer lazily, which only the full bundle may.
  if (line?._tag !== "ps" || Option.getOrUndefined(line.options.output) === "yaml") return fullCli()
  const output = Either.flatMap(readNarrow(line.options), (read) => outputOf(line.options, read))
  if (Either.isLeft(output)) return fallBack(output.left.reason)
  // Nothing outlives a listing (ps -w is the full CLI's): its output written, the process is done
  // (exiting at once spares Node winding down its loop and heap).
  writeAll(output.right, (code) => process.exit(code))
}

/** A pod using most of the Pod's fields, so the rehearsal's decode runs most of its parsers' code. */
const rehearsalPod = {
  name: "rehearsal",
  labels: { app: "rehearsal" },
  restart: "on_failure",
  containers: [{
    name: "app",
    image: "busybox",
    command: ["sh", "-c", "true"],
    env: { A: "1" },
    limits: { memory: 67108864, cpu: { quota: 50000, period: 100000 } },
    readinessProbe: { exec: { command: ["true"] } }
  }, { name: "side", image: { rootfs: "/srv/rootfs" } }],
  network: { nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 80, hostPort: 8080 }] }
}

/**
 * While the blob is built: the reader's decoders over a store's rows (a readable pod, an unreadable
 * one, their statuses), ps's report, table, wide table, JSON and names over them (computed, not
 * printed), and a whole read of a data dir that does not exist (the config and the reader's no-store
 * path). Schema builds a schema's parser at its first decode and keeps it: the whole Pod's (~100
 * schemas, most of a cold decode's cost) is then in the blob, not built at every `tank ps`.
 * Nothing is created or written; a failure fails the blob's build (scripts/snapshot.mjs says why).
 */
const rehearse = async () => {
  const dataDir = path.join(os.tmpdir(), `tank-snapshot-${process.pid}-no-such-dir`)
  const row = (name: string, spec: unknown) => ({
    name,
    spec: JSON.stringify(spec),
    revision: 1,
    created_revision: 1,
    updated_at: 0,
    restart_generation: 0,
    node: null
  })
  const pods = partition(
    [row("rehearsal", rehearsalPod), row("bad", { name: "bad", containers: [] })].map((r) => podFromRow(r))
  )
  if (pods.good.length !== 1 || pods.invalid.length !== 1) {
    throw new Error(
      `the rehearsal's pods read as ${pods.good.length} good, ${pods.invalid.length} invalid (1 and 1 expected)`
    )
  }
  const at = "2026-01-01T00:00:00.000Z"
  const status = { name: "rehearsal", phase: "running", restarts: 0, specRevision: 1, updatedAt: at, startedAt: at }
  const statuses = partition([{ name: "rehearsal", body: JSON.stringify(status) }].map(statusFromRow))
  const read: StoreRead = { pods: pods.good, badPods: pods.invalid, statuses: statuses.good, badStatus: [] }
  const options = (output: "table" | "wide" | "json" | "name"): PsOptions => ({
    dataDir: Option.some(dataDir),
    json: false,
    output: Option.some(output),
    quiet: false,
    selector: Option.some("app=rehearsal"),
    watch: false
  })
  const empty = readNarrow(options("table"))
  if (Either.isLeft(empty)) throw new Error(`the rehearsal's read of no store failed: ${empty.left.reason}`)
  for (const output of ["table", "wide", "json", "name"] as const) {
    const printed = outputOf(options(output), { config: empty.right.config, report: psReport(read, 0) })
    if (Either.isLeft(printed)) throw new Error(`the rehearsal's ${output} failed: ${printed.left.reason}`)
  }
}

startQuick("ps", rehearse, async () => main())
