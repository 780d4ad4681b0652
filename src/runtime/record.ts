/**
 * The run record `<dataDir>/run/<pod>/pod.json`: the journal of one run's bring-up, written as each
 * step begins and completes (steps/runner.ts), so that a later agent can finish or undo exactly
 * what was done, re-adopt the run (monitors' sockets, workload pids and start times against pid
 * reuse) or sweep it.
 *
 * The file is a journal of whole records, one JSON line each; the last complete line is the record.
 * A run's writes after its first are appends (one O_APPEND write of a line): a write and rename
 * over the old file cost ~1 ms each on ext4 (replacing a file makes it flush the new one), eight
 * times per start. A torn last line (the agent killed mid-write, a full disk) is an update that
 * never happened: the line before it is read. The first write of a journal, and one that would
 * grow the file past COMPACT_AT, rewrites it whole (tmp + rename), so a file another agent
 * left behind (torn tail, a single record without a newline) is never appended to.
 *
 * Reading is honest: a missing file is "no record"; a file that exists but cannot be read (EACCES,
 * EIO), is not a record (torn after a crash or a full disk) or has a version this agent does not
 * know (a downgrade) is a `RecordUnreadable` — never taken for "the pod is gone".
 *
 * Version 1 (agents before the step journal) described a complete run; it is read as a version 2
 * record whose steps are all done.
 */
import { Effect, Either, Option, ParseResult, Schema } from "effect"
import * as fs from "node:fs"
import { ContainerSecurity } from "./security/policy.js"

export const ContainerRecord = Schema.Struct({
  name: Schema.String,
  socketPath: Schema.String,
  exitPath: Schema.String,
  pid: Schema.Number,
  monitorPid: Schema.Number,
  /** The monitor's /proc start time: is it still alive (not a reused pid)? Absent in older records. */
  monitorStartTime: Schema.optional(Schema.Number),
  /** /proc/<pid>/stat field 22, to tell our workload from a process that reused its pid. */
  startTime: Schema.Number,
  /** When this incarnation of the container started (ISO); absent in records of older agents. */
  startedAt: Schema.optional(Schema.String),
  /** What `exec` needs to run beside the workload, from any process. */
  env: Schema.Array(Schema.String),
  cwd: Schema.String,
  uid: Schema.Number,
  gid: Schema.Number,
  groups: Schema.Array(Schema.Number),
  tty: Schema.Boolean,
  /** cgroup.procs files of the container's cgroups (exec'd processes join them). */
  cgroupProcs: Schema.Array(Schema.String),
  logPath: Schema.String,
  /** Capabilities, no_new_privs, seccomp program, rlimits: exec runs under the same. Absent in
   * records of agents before the isolation work (their exec keeps the old defaults). */
  security: Schema.optional(ContainerSecurity),
  /**
   * How this container is stopped (its image's StopSignal, its pod's grace period), so a later agent
   * stops it the same way, also once the pod's spec is gone. Absent in older records: SIGTERM and
   * the agent's default grace.
   */
  stop: Schema.optional(Schema.Struct({ signal: Schema.Number, graceMs: Schema.Number }))
})
export type ContainerRecord = typeof ContainerRecord.Type

const IdRange = Schema.Struct({ hostUid: Schema.Number, hostGid: Schema.Number, size: Schema.Number })

/** The bring-up steps, in order (steps/index.ts runs them; the folder lists them in this order). */
export const StepName = Schema.Literal(
  "userns",
  "volumes",
  "images",
  "sandbox",
  "network",
  "cgroups",
  "files",
  "init",
  "monitors",
  "proceed"
)
export type StepName = typeof StepName.Type

/** What each step leaves on disk: everything its undo needs, also after the agent that ran it is gone. */
export const StepResults = Schema.Struct({
  /** hostUsers: false — the pod's host id range (released with the pod, not with the run). */
  userns: Schema.optional(IdRange),
  /** Volume name → host directory (managed volumes outlive runs). */
  volumes: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /** Container → image digest (the layers are the cache's; nothing to undo). */
  images: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  /** The pinned namespaces (net absent for "host" network pods). */
  sandbox: Schema.optional(Schema.Struct({ dir: Schema.String, net: Schema.optional(Schema.String) })),
  network: Schema.optional(Schema.Struct({
    addresses: Schema.Array(Schema.String),
    dns: Schema.Array(Schema.String),
    /** Links in a host namespace (a bridge NIC's veth end): deleted at undo, the pod's own go with its netns. */
    hostLinks: Schema.Array(Schema.Struct({ name: Schema.String, netns: Schema.optional(Schema.String) }))
  })),
  /** The pod's cgroup name under tank/ (layout.ts cgroupName); container groups live under it. */
  /** `containers`: the container groups made under it (absent in older records: listed at removal). */
  cgroups: Schema.optional(
    Schema.Struct({ name: Schema.String, containers: Schema.optional(Schema.Array(Schema.String)) })
  ),
  files: Schema.optional(Schema.Struct({})),
  /** Init containers that ran to completion. */
  init: Schema.optional(Schema.Array(Schema.String)),
  /** One entry per container monitor, written as each starts (so a partial list is possible). */
  monitors: Schema.optional(Schema.Array(ContainerRecord)),
  proceed: Schema.optional(Schema.Struct({}))
})
export type StepResults = typeof StepResults.Type

export const StepEntry = Schema.Struct({
  name: StepName,
  /** false: begun, its result not (fully) written — the agent may have died inside it. */
  done: Schema.Boolean
})
export type StepEntry = typeof StepEntry.Type

/**
 * starting: bring-up under way (a new agent undoes it); proceeding: every monitor is up and the
 * workloads are being told to run (a new agent finishes that); running: brought up.
 */
export const RunPhase = Schema.Literal("starting", "proceeding", "running")
export type RunPhase = typeof RunPhase.Type

export const RunRecord = Schema.Struct({
  version: Schema.Literal(2),
  pod: Schema.String,
  /** canonicalJson of the spec this run was started from. */
  specKey: Schema.String,
  startedAt: Schema.String,
  phase: RunPhase,
  /** The steps begun, in order. */
  steps: Schema.Array(StepEntry),
  results: StepResults
})
export type RunRecord = typeof RunRecord.Type

/** The record of agents before the step journal: a complete run. */
const RecordV1 = Schema.Struct({
  version: Schema.Literal(1),
  pod: Schema.String,
  specKey: Schema.String,
  startedAt: Schema.String,
  sandbox: Schema.optional(Schema.String),
  netns: Schema.optional(Schema.String),
  addresses: Schema.Array(Schema.String),
  cgroup: Schema.String,
  userns: Schema.optional(IdRange),
  containers: Schema.Array(ContainerRecord)
})

export const CURRENT_VERSION = 2

const fromV1 = (r: typeof RecordV1.Type): RunRecord => ({
  version: 2,
  pod: r.pod,
  specKey: r.specKey,
  startedAt: r.startedAt,
  phase: "running",
  steps: (["userns", "sandbox", "network", "cgroups", "files", "monitors", "proceed"] as const)
    .filter((s) => s !== "userns" || r.userns !== undefined)
    .map((name) => ({ name, done: true })),
  results: {
    ...(r.userns ? { userns: r.userns } : {}),
    ...(r.sandbox ? { sandbox: { dir: r.sandbox, ...(r.netns ? { net: r.netns } : {}) } } : {}),
    network: { addresses: r.addresses, dns: [], hostLinks: [] },
    cgroups: { name: r.cgroup },
    files: {},
    monitors: r.containers,
    proceed: {}
  }
})

/**
 * The run record of `pod` at `file` exists but cannot be used. `problem`: `io` (the file cannot be
 * read: EACCES, EIO, EISDIR), `malformed` (not JSON or not a record: torn by a crash or a full
 * disk, or written by hand), `version` (written by another version of Tank), `missing` (the run
 * dir is there and something of the run is alive, but its record is gone).
 */
export class RecordUnreadable extends Schema.TaggedError<RecordUnreadable>()("RecordUnreadable", {
  pod: Schema.String,
  file: Schema.String,
  problem: Schema.Literal("io", "malformed", "version", "missing"),
  reason: Schema.String
}) {
  override get message() {
    return `the run record ${this.file} of pod ${this.pod} cannot be used: ${this.reason}`
  }

  /** The message and what to do about it (`tank status` shows it as the reason). */
  get advice() {
    return `${this.message}; its processes are left running as they are. Repair or remove the file and the ` +
      `agent adopts the run, or stops and restarts it; \`tank delete ${this.pod}\` stops and removes it cleanly.`
  }
}

/** Writing the run record failed (ENOSPC, EIO ...): nothing half-written is left (tmp removed). */
export class RecordWriteFailed extends Schema.TaggedError<RecordWriteFailed>()("RecordWriteFailed", {
  file: Schema.String,
  reason: Schema.String,
  code: Schema.optional(Schema.String)
}) {
  override get message() {
    return `cannot write the run record ${this.file}: ${this.reason}`
  }
}

const decodeV1 = Schema.decodeUnknownEither(RecordV1)
const decodeV2 = Schema.decodeUnknownEither(RunRecord)

const errnoMessage = (e: unknown) => e instanceof Error ? e.message : String(e)

/**
 * The journal's current record: its last newline-terminated line (what follows the last newline is
 * a torn append, ignored). A file without a newline is one record (written by agents before the
 * journal, or a torn first write: then not JSON).
 */
export const currentLine = (text: string): string => {
  const end = text.lastIndexOf("\n")
  if (end < 0) return text
  return text.slice(text.lastIndexOf("\n", end - 1) + 1, end)
}

/** Decode a record's text (pure): the record, or why it is not one. */
export const parseRecord = (
  pod: string,
  file: string,
  text: string
): Either.Either<RunRecord, RecordUnreadable> => {
  const bad = (problem: RecordUnreadable["problem"], reason: string) =>
    Either.left(new RecordUnreadable({ pod, file, problem, reason }))
  const line = currentLine(text)
  let json: unknown
  try {
    json = JSON.parse(line)
  } catch (e) {
    return bad(
      "malformed",
      line.length === 0 ? "the file is empty (torn by a crash or a full disk?)" : `not JSON (${errnoMessage(e)})`
    )
  }
  const version = typeof json === "object" && json !== null ? (json as { version?: unknown }).version : undefined
  const formatted = (e: ParseResult.ParseError) => `not a run record: ${ParseResult.TreeFormatter.formatErrorSync(e)}`
  if (version === 1) {
    return Either.match(decodeV1(json), {
      onLeft: (e) => bad("malformed", formatted(e)),
      onRight: (r) => Either.right(fromV1(r))
    })
  }
  if (version === 2) {
    return Either.mapLeft(
      decodeV2(json),
      (e) => new RecordUnreadable({ pod, file, problem: "malformed", reason: formatted(e) })
    )
  }
  return typeof version === "number"
    ? bad(
      "version",
      `record version ${version}, this agent reads versions 1 and ${CURRENT_VERSION} (written by another version of Tank?)`
    )
    : bad("malformed", "not a run record: no version")
}

/** The run record: None when there is no file; RecordUnreadable when there is one that cannot be used. */
export const readRecord = (pod: string, file: string): Effect.Effect<Option.Option<RunRecord>, RecordUnreadable> =>
  Effect.suspend(() => {
    let text: string
    try {
      text = fs.readFileSync(file, "utf8")
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code
      if (code === "ENOENT" || code === "ENOTDIR") return Effect.succeedNone
      return Effect.fail(new RecordUnreadable({ pod, file, problem: "io", reason: errnoMessage(e) }))
    }
    return Either.match(parseRecord(pod, file, text), {
      onLeft: (e) => Effect.fail(e),
      onRight: (r) => Effect.succeed(Option.some(r))
    })
  })

const writeFailed = (file: string) => (e: unknown) =>
  new RecordWriteFailed({
    file,
    reason: errnoMessage(e),
    ...(typeof (e as NodeJS.ErrnoException).code === "string" ? { code: (e as NodeJS.ErrnoException).code! } : {})
  })

const replaceWith = (file: string, data: Buffer) => {
  const tmp = `${file}.tmp`
  try {
    fs.writeFileSync(tmp, data, { mode: 0o600 })
    fs.renameSync(tmp, file)
  } catch (e) {
    fs.rmSync(tmp, { force: true })
    throw e
  }
}

/** The record as the file's only line, atomically (tmp + rename). Not fsync'd: it must survive the agent, not the machine (a torn record is unreadable, never "gone"). */
export const writeRecord = (file: string, record: RunRecord): Effect.Effect<void, RecordWriteFailed> =>
  Effect.try({ try: () => replaceWith(file, Buffer.from(`${JSON.stringify(record)}\n`)), catch: writeFailed(file) })

/** Past this size the next write rewrites the journal with its current record alone. */
export const COMPACT_AT = 256 * 1024

/**
 * `data` appended in one write, when the file is still `expected` bytes long (what this writer
 * left). False, with nothing written, when it is not (another process touched it): the caller
 * rewrites instead. A failed or short write is cut off again, so the file never keeps a torn line
 * that a later append would run into.
 */
const appendTo = (file: string, data: Buffer, expected: number): boolean => {
  let fd: number
  try {
    fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_APPEND)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return false
    throw e
  }
  try {
    const before = fs.fstatSync(fd).size
    if (before !== expected) return false
    try {
      let off = 0
      while (off < data.length) off += fs.writeSync(fd, data, off)
    } catch (e) {
      fs.ftruncateSync(fd, before)
      throw e
    }
    return true
  } finally {
    fs.closeSync(fd)
  }
}

/**
 * The writer of one run's journal: its first write (and any past COMPACT_AT, or after a file it
 * did not leave as it was) replaces the file with the record alone; every other one appends it.
 */
export const recordWriter = (file: string): (record: RunRecord) => Effect.Effect<void, RecordWriteFailed> => {
  const write = recordWriterSync(file)
  return (record) => Effect.try({ try: () => write(record), catch: writeFailed(file) })
}

/**
 * `recordWriter` as a plain function (throws what the file system threw; `asWriteFailed` names
 * it): for a caller that updates its record and writes it in one synchronous block (runner.ts).
 */
export const recordWriterSync = (file: string): (record: RunRecord) => void => {
  /** The file's length after this writer's last write; undefined: rewrite it next time. */
  let size: number | undefined
  return (record) => {
    const data = Buffer.from(`${JSON.stringify(record)}\n`)
    const known = size
    size = undefined
    if (known !== undefined && known + data.length <= COMPACT_AT && appendTo(file, data, known)) {
      size = known + data.length
    } else {
      replaceWith(file, data)
      size = data.length
    }
  }
}

/** What a failed write of `file` threw, as the typed error naming the file. */
export const asWriteFailed = (file: string, e: unknown): RecordWriteFailed => writeFailed(file)(e)

/** What other modules may know of a run (lookup.ts): the record's results, flattened. */
export interface RunView {
  readonly pod: string
  readonly specKey: string
  readonly startedAt: string
  readonly phase: RunPhase
  readonly sandbox?: string
  readonly netns?: string
  readonly addresses: ReadonlyArray<string>
  readonly cgroup?: string
  readonly userns?: typeof IdRange.Type
  readonly containers: ReadonlyArray<ContainerRecord>
}

export const viewOf = (r: RunRecord): RunView => ({
  pod: r.pod,
  specKey: r.specKey,
  startedAt: r.startedAt,
  phase: r.phase,
  ...(r.results.sandbox ? { sandbox: r.results.sandbox.dir } : {}),
  ...(r.results.sandbox?.net ? { netns: r.results.sandbox.net } : {}),
  addresses: r.results.network?.addresses ?? [],
  ...(r.results.cgroups ? { cgroup: r.results.cgroups.name } : {}),
  ...(r.results.userns ? { userns: r.results.userns } : {}),
  containers: r.results.monitors ?? []
})

/** /proc/<pid>/stat field 22 (start time in clock ticks), or undefined when the pid is gone. */
export const procStartTime = (pid: number): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    // comm (field 2) may contain spaces and parentheses: fields resume after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
    if (rest[0] === "Z") return undefined
    return Number(rest[19])
  } catch {
    return undefined
  }
}

/** Our workload is still the process at `pid` (not exited, pid not reused). */
export const stillOurs = (c: Pick<ContainerRecord, "pid" | "startTime">): boolean =>
  procStartTime(c.pid) === c.startTime

/**
 * The container's monitor is still alive (and is still that process). With no start time recorded
 * (records of older agents), a live `tank-helper monitor` at the pid counts.
 */
export const monitorAlive = (c: Pick<ContainerRecord, "monitorPid" | "monitorStartTime">): boolean => {
  if (c.monitorStartTime !== undefined) return procStartTime(c.monitorPid) === c.monitorStartTime
  if (procStartTime(c.monitorPid) === undefined) return false
  try {
    const argv = fs.readFileSync(`/proc/${c.monitorPid}/cmdline`, "utf8").split("\0")
    return argv[0]!.endsWith("tank-helper") && argv[1] === "monitor"
  } catch {
    return false
  }
}
