/**
 * The pod record: what a run left on disk so that a later agent can re-adopt it (monitors' sockets,
 * workload pids and start times against pid reuse) or sweep it. Written atomically (tmp + rename).
 */
import { Effect, Option, Schema } from "effect"
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

export const PodRecord = Schema.Struct({
  version: Schema.Literal(1),
  pod: Schema.String,
  /** canonicalJson of the spec this run was started from. */
  specKey: Schema.String,
  startedAt: Schema.String,
  /** The pinned namespaces dir (net absent for "host" network pods). */
  sandbox: Schema.optional(Schema.String),
  netns: Schema.optional(Schema.String),
  addresses: Schema.Array(Schema.String),
  /** The pod's cgroup name under tank/ (layout.ts cgroupName). */
  cgroup: Schema.String,
  /** hostUsers: false — the pod's host id range (its pinned user namespace is `sandbox`/user). */
  userns: Schema.optional(Schema.Struct({ hostUid: Schema.Number, hostGid: Schema.Number, size: Schema.Number })),
  containers: Schema.Array(ContainerRecord)
})
export type PodRecord = typeof PodRecord.Type

const decode = Schema.decodeUnknownOption(Schema.parseJson(PodRecord))

export const readRecord = (file: string): Effect.Effect<Option.Option<PodRecord>> =>
  Effect.sync(() => {
    try {
      return decode(fs.readFileSync(file, "utf8"))
    } catch {
      return Option.none()
    }
  })

export const writeRecord = (file: string, record: PodRecord): Effect.Effect<void> =>
  Effect.sync(() => {
    const tmp = `${file}.tmp`
    fs.writeFileSync(tmp, JSON.stringify(record), { mode: 0o600 })
    fs.renameSync(tmp, file)
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
