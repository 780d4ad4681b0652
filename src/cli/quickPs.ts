/**
 * The entry of `dist/quick-ps.cjs` (scripts/build.mjs), which bin/tank starts for `tank ps`/`list`:
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
import { Clock, Effect, Either, Option } from "effect"
import * as os from "node:os"
import * as path from "node:path"
import { buildReport } from "../api/report.js"
import { printableText } from "../spec/printable.js"
import { partition, statusFromRow } from "../store/layout.js"
import { FullCliNeeded, type PsRead as StoreRead, readForPs } from "../store/psReader.js"
import { podFromRow } from "../store/rows.js"
import { loadConfigAt } from "./base.js"
import { runFullCli } from "./fullCli.js"
import { type PsOptions, type PsRead, psRows, runPs } from "./psList.js"
import { quickLine } from "./quick.js"
import { finish, runCommand } from "./run.js"
import { withRunServices } from "./runServices.js"
import { startQuick } from "./snapshotEntry.js"

/**
 * The digest of this bundle's text, defined by the startup snapshot's entry (scripts/snapshot.mjs):
 * the tag of the reader's spec memo (psReader.ts, specMemo.ts), so a memo proven by other code is
 * never trusted. Started otherwise (no blob, from source), ps reads without the memo.
 */
declare const __tankBundleDigest: string | undefined
const memo = typeof __tankBundleDigest === "string" ? { memo: { tag: __tankBundleDigest } } : {}

/** ps's report of what the reader read (as the full CLI's storeRead builds it from the Store). */
const reportOf = (read: StoreRead, now: number): PsRead["report"] => {
  const { invalid, statuses } = buildReport({
    pods: read.pods,
    badPods: read.badPods,
    observed: read.statuses,
    badStatus: read.badStatus,
    nodes: undefined,
    now
  })
  return { rows: psRows(statuses, read.pods, read.badPods), invalid }
}

/**
 * The config and ps's report through the narrow reader, or why the full CLI must run instead (a
 * config error, cluster mode, another schema version, a failed read: the full CLI reports those).
 */
const readNarrow = (options: PsOptions): Effect.Effect<PsRead, FullCliNeeded> =>
  Effect.gen(function*() {
    const config = yield* Effect.mapError(
      loadConfigAt(options.dataDir),
      (e) => new FullCliNeeded({ reason: `the config: ${e instanceof Error ? e.message : String(e)}` })
    )
    const read = yield* readForPs(config, memo)
    return { config, report: reportOf(read, yield* Clock.currentTimeMillis) }
  })

/**
 * The fallback is always correct (the full CLI reads the same store), so it is silent; TANK_DEBUG=1
 * says why it happened on stderr (a reader that keeps falling back would otherwise go unnoticed).
 */
const fallBack = (reason: string) => {
  if (process.env.TANK_DEBUG === "1") {
    process.stderr.write(printableText(`tank: debug: ps runs the full CLI: ${reason}\n`))
  }
  return runFullCli()
}

const main = async () => {
  const line = process.env.TANK_NO_QUICK === "1" ? undefined : quickLine(process.argv.slice(2))
  // -o yaml loads its printer lazily, which only the full bundle may.
  if (line?._tag !== "ps" || Option.getOrUndefined(line.options.output) === "yaml") return runFullCli()
  const read = await Effect.runPromise(withRunServices(Effect.either(readNarrow(line.options))))
  if (Either.isLeft(read)) return fallBack(read.left.reason)
  // Nothing outlives a listing (ps -w is the full CLI's): its output flushed, the process is done.
  runCommand(finish(runPs(line.options, () => Effect.succeed(read.right))), { exitWhenDone: true })
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
 * one, their statuses), ps's report, table and JSON over them (written to the build's stdout, which
 * the build discards), and a whole ps on a data dir that does not exist (the config and the reader's
 * no-store path). Schema builds a schema's parser at its first decode and keeps it: the whole Pod's
 * (~100 schemas, most of a cold decode's cost) is then in the blob, not built at every `tank ps`.
 * Nothing is created; a failure fails the blob's build (scripts/snapshot.mjs says why).
 */
const rehearse = () => {
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
  const options = (output: "table" | "json"): PsOptions => ({
    dataDir: Option.some(dataDir),
    json: false,
    output: Option.some(output),
    quiet: false,
    selector: Option.none(),
    watch: false
  })
  return Effect.runPromise(withRunServices(Effect.gen(function*() {
    const config = yield* loadConfigAt(Option.some(dataDir))
    for (const output of ["table", "json"] as const) {
      yield* Effect.exit(finish(runPs(options(output), () => Effect.succeed({ config, report: reportOf(read, 0) }))))
    }
    yield* Effect.exit(finish(runPs(options("table"), () => readNarrow(options("table")))))
  })))
}

startQuick("ps", rehearse, main)
