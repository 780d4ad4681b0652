/**
 * The entry of `dist/quick-ps-lite.cjs` (scripts/build.mjs), which bin/tank starts first for
 * `tank ps`/`list` from its own startup snapshot, `dist/ps-lite.blob`: ps's lite tier. Its graph
 * holds no Schema and none of Effect's runtime (only Either/Option; scripts/build.mjs fails the build
 * otherwise): the Schema modules and the Pod's parsers were most of what ps.blob's heap cost to
 * deserialize at every start (~+15 ms over a trivial blob on this VM).
 *
 * It serves the listing only when nothing needs a decoder: a plain ps line (quickLine.ts) without
 * `-o yaml` (a `-l` only if well-formed: spec/selectorParse.ts), a config that is defaults alone (config/locate.ts: no config file to decode), a
 * SQLite store whose every spec and status text ps's memo proves (store/psProven.ts). It prints
 * through the same report, rows, table and formats as every other path (psView.ts, listingText.ts),
 * so its output is the heavy one's, byte for byte.
 *
 * Anything else — a memo miss (the first ps after a change), a config file, cluster mode, another
 * schema version, help, a bad option, `ps -w`, `-o yaml`, a malformed `-l`, TANK_NO_QUICK=1 — hands the whole
 * line to the heavy tier (quickPs.ts from dist/ps.blob, unchanged): a child with this process's
 * stdio, whose exit code or signal this process ends with. That child decodes, prints, and writes
 * the memo, so the next ps of an unchanged store is the lite one's. TANK_DEBUG=1 says on stderr
 * which tier served, and why it handed over.
 *
 * bin/tank starts it without NODE_EXTRA_CA_CERTS (kept in TANK_PS_EXTRA_CA_CERTS, as exec's quick path
 * does: extraCaCerts.ts): node parses that whole file before any code runs (~35 ms for this VM's
 * 144 certificates, more than the rest of a listing), for TLS connections this tier never makes. The
 * heavy tier gets it back for a line that may reach etcd (extraCaCerts.ts `handOverEnv`), not for
 * the others: it reads the same local store.
 */
import { Either, Option } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { defaultDataDir, defaultsOnly } from "../config/locate.js"
import { printableText } from "../spec/printable.js"
import { parseRequirements } from "../spec/selectorParse.js"
import { type ProvenRead, readProven } from "../store/psProven.js"
import { handOverEnv, MOVED_PS_EXTRA_CA_CERTS } from "./extraCaCerts.js"
import { keepBySelector, psChunks, type PsOptions, psReport, type PsSpec } from "./psView.js"
import { quickLine } from "./quickLine.js"
import { startQuick } from "./snapshotEntry.js"
import { writeAll } from "./stdWrite.js"

/**
 * The tag of ps's memo: the digest of the HEAVY bundle (quick-ps.cjs), whose decoder proves the
 * memo's texts, defined into this blob by scripts/snapshot.mjs. Undefined (not started from its
 * blob): every line goes to the heavy tier.
 */
declare const __tankPsMemoTag: string | undefined

const debug = (text: string) => {
  if (process.env.TANK_DEBUG === "1") process.stderr.write(printableText(`tank: debug: ${text}\n`))
}

/**
 * The heavy tier's command line, as bin/tank would start it: this node with this process's flags and
 * ps.blob instead of ps-lite.blob (bundles and blobs sit together in dist: __dirname), else (no
 * ps.blob) its bundle through the code cache, dist/tank-ps.cjs. No shell between.
 */
const heavyLine = (args: ReadonlyArray<string>): ReadonlyArray<string> => {
  const blob = path.join(__dirname, "ps.blob")
  if (!fs.existsSync(blob)) return [path.join(__dirname, "tank-ps.cjs"), ...args]
  const flags: Array<string> = []
  const own = process.execArgv
  for (let i = 0; i < own.length; i++) {
    if (own[i] === "--snapshot-blob") i++
    else if (!own[i]!.startsWith("--snapshot-blob=")) flags.push(own[i]!)
  }
  return [...flags, "--snapshot-blob", blob, path.join(__dirname, "quick-ps.cjs"), ...args]
}

/**
 * The signals a supervisor, `timeout` or `kill` ends a command with, sent to this process alone:
 * passed on to the heavy tier. SIGINT is only kept from ending this process first: it comes from the
 * terminal's ^C, which reaches the whole foreground group, the child included (passed on too, the
 * child would have it twice: `ps -w` ends 0 on one SIGINT, dies of a second).
 */
const PASSED_ON = ["SIGTERM", "SIGHUP", "SIGQUIT"] as const

/**
 * Runs the heavy tier on the whole line and ends as it ended: its exit code, or its signal. Not
 * spawnSync: a signal sent to this process (`timeout`, a supervisor, `kill`) must reach the child,
 * which ends as it would have alone (`ps -w` ends with status 0 on SIGINT or SIGTERM), and this
 * process must not die before it and leave it running.
 */
const handOver = (reason: string): void => {
  debug(`ps's lite path hands the line to the heavy one: ${reason}`)
  // NODE_EXTRA_CA_CERTS back as the user set it for a line that may reach etcd (bin/tank starts this
  // tier without it: extraCaCerts.ts); the others' heavy tier starts without it too.
  const args = process.argv.slice(2)
  const env = handOverEnv(args, process.env, MOVED_PS_EXTRA_CA_CERTS, defaultDataDir(), fs.existsSync)
  const child = spawn(process.execPath, heavyLine(args), { stdio: "inherit", env })
  const passOn = (signal: NodeJS.Signals) => void child.kill(signal)
  const keep = () => {}
  for (const s of PASSED_ON) process.on(s, passOn)
  process.on("SIGINT", keep)
  child.on("error", (e) => {
    process.stderr.write(printableText(`tank: cannot run ps: ${e.message}\n`))
    process.exit(1)
  })
  child.on("exit", (code, signal) => {
    for (const s of PASSED_ON) process.off(s, passOn)
    process.off("SIGINT", keep)
    if (signal !== null) {
      // The same signal, so a shell sees what it would have seen; one this process ignores (SIGPIPE:
      // node ignores it) ends it with the shell's 128+n.
      process.kill(process.pid, signal)
      return process.exit(128 + (os.constants.signals[signal] ?? 0))
    }
    process.exit(code ?? 1)
  })
}

/** The lite tier's read of the line, or why it hands the line over. */
const liteRead = (
  args: ReadonlyArray<string>,
  tag: string
): {
  readonly options: PsOptions
  readonly config: Exclude<ReturnType<typeof defaultsOnly>, string>
  readonly read: ProvenRead
  readonly keep: (spec: PsSpec | undefined) => boolean
} | string => {
  const line = quickLine(args)
  if (line?._tag !== "ps") return "a line the quick path leaves to @effect/cli"
  const { options } = line
  if (Option.getOrUndefined(options.output) === "yaml") return "-o yaml"
  // A malformed selector is reported with selector.ts's InvalidSelector (Schema): the heavy tier's.
  const keep = Option.isNone(options.selector) ? undefined : parseRequirements(options.selector.value)
  if (keep !== undefined && Either.isLeft(keep)) return "a malformed selector (-l)"
  const config = defaultsOnly(Option.isSome(options.dataDir) ? { dataDir: options.dataDir.value } : {})
  if (typeof config === "string") return config
  const read = readProven(config, tag)
  return typeof read === "string"
    ? read
    : { options, config, read, keep: keep === undefined ? () => true : keepBySelector(keep.right) }
}

const main = (): void => {
  if (process.env.TANK_NO_QUICK === "1") return handOver("TANK_NO_QUICK=1")
  if (typeof __tankPsMemoTag !== "string") return handOver("no memo tag (not started from its blob)")
  const served = liteRead(process.argv.slice(2), __tankPsMemoTag)
  if (typeof served === "string") return handOver(served)
  const { config } = served
  const report = psReport(served.read, Date.now())
  const rows = report.rows.filter((r) => served.keep(r.spec))
  const chunks = psChunks(served.options, { config, invalid: report.invalid, rows }, Date.now)
  if (chunks === undefined) return handOver("-o yaml")
  debug("ps served by its lite path")
  // As quickPs.ts: the output written, the process is done.
  writeAll(chunks, (code) => process.exit(code))
}

/**
 * While the blob is built: ps's report and every format but yaml over a small proven read (computed,
 * not printed), so the code they run is compiled in the blob. No I/O; a failure fails the blob's build.
 */
const rehearse = async () => {
  const at = "2026-01-01T00:00:00.000Z"
  const spec = {
    name: "rehearsal",
    labels: { app: "rehearsal" },
    containers: [{ name: "app", image: "busybox", readinessProbe: { exec: { command: ["true"] } } }]
  } as unknown as ProvenRead["pods"][number]["spec"]
  const read: ProvenRead = {
    pods: [{
      name: "rehearsal",
      spec,
      revision: 1,
      createdRevision: 1,
      updatedAt: 0,
      restartGeneration: 0,
      node: null
    }],
    badPods: [],
    statuses: [{ name: "rehearsal", phase: "running", restarts: 0, specRevision: 1, updatedAt: at, startedAt: at }],
    badStatus: []
  }
  const report = psReport(read, 0)
  const config = { dataDir: path.join(os.tmpdir(), `tank-snapshot-${process.pid}-no-such-dir`), etcd: undefined }
  for (const output of ["table", "wide", "json", "name"] as const) {
    const chunks = psChunks(
      { json: false, output: Option.some(output), quiet: false },
      { config, invalid: [], rows: report.rows },
      () => 0
    )
    if (chunks === undefined || chunks.length === 0) throw new Error(`the rehearsal's ${output} printed nothing`)
  }
}

startQuick("ps-lite", rehearse, async () => main())
