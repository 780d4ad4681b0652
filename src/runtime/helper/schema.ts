/**
 * Schemas for everything that crosses the helper boundary: the monitor config file, the ready
 * line, the control protocol messages and the exit file. PROTOCOL.md documents the same shapes.
 */
import { Schema } from "effect"

export const PROTOCOL_VERSION = 1 as const

const AbsPath = Schema.String.pipe(Schema.pattern(/^\//), Schema.annotations({ description: "an absolute path" }))
const Int = Schema.Int
const NonNegInt = Schema.Int.pipe(Schema.nonNegative())
const opt = <S extends Schema.Schema.Any>(s: S) => Schema.optionalWith(s, { exact: true })

export const CapabilityName = Schema.String.pipe(Schema.pattern(/^CAP_[A-Z_]+$/))

export const Rlimit = Schema.Struct({
  type: Schema.String.pipe(Schema.pattern(/^RLIMIT_[A-Z]+$/)),
  soft: Int.pipe(Schema.greaterThanOrEqualTo(-1)),
  hard: Int.pipe(Schema.greaterThanOrEqualTo(-1))
})
export type Rlimit = typeof Rlimit.Type

export const DeviceNode = Schema.Struct({
  path: AbsPath,
  type: Schema.Literal("c", "b"),
  major: NonNegInt,
  minor: NonNegInt,
  fileMode: opt(NonNegInt),
  uid: opt(NonNegInt),
  gid: opt(NonNegInt)
})
export type DeviceNode = typeof DeviceNode.Type

/** "new": a fresh namespace; "host": stay in the host's; {join}: a pinned namespace file. */
export const NamespaceMode = Schema.Union(Schema.Literal("new", "host"), Schema.Struct({ join: AbsPath }))
export type NamespaceMode = typeof NamespaceMode.Type

export const BindMount = Schema.Struct({
  source: AbsPath,
  target: AbsPath,
  readOnly: opt(Schema.Boolean),
  /** Through the pod's user namespace mapping (`userNamespace`): host-path volumes. */
  idmap: opt(Schema.Boolean)
})
export type BindMount = typeof BindMount.Type

export const CapabilitySets = Schema.Struct({
  bounding: Schema.Array(CapabilityName),
  effective: Schema.Array(CapabilityName),
  permitted: Schema.Array(CapabilityName),
  inheritable: Schema.Array(CapabilityName),
  ambient: Schema.Array(CapabilityName)
})
export type CapabilitySets = typeof CapabilitySets.Type

export const MonitorConfig = Schema.Struct({
  version: Schema.Literal(1),
  socketPath: AbsPath.pipe(Schema.maxLength(107)),
  exitPath: AbsPath,
  log: Schema.Struct({
    path: AbsPath,
    maxBytes: Int.pipe(Schema.greaterThanOrEqualTo(4096)),
    maxFiles: Int.pipe(Schema.between(0, 100))
  }),
  argv: Schema.NonEmptyArray(Schema.String),
  env: Schema.Array(Schema.String.pipe(Schema.pattern(/^[^=]+=/))),
  cwd: AbsPath,
  uid: NonNegInt,
  gid: NonNegInt,
  groups: Schema.Array(NonNegInt),
  tty: Schema.Boolean,
  openStdin: opt(Schema.Boolean),
  windowSize: opt(Schema.Struct({ rows: NonNegInt, cols: NonNegInt })),
  namespaces: Schema.Struct({ net: NamespaceMode, uts: NamespaceMode, ipc: NamespaceMode }),
  /** hostUsers: false — the pod's pinned user namespace, joined last; its ids 0..size-1 are host ids hostUid.. */
  userNamespace: opt(Schema.Struct({ path: AbsPath, hostUid: NonNegInt, hostGid: NonNegInt, size: NonNegInt })),
  hostname: opt(Schema.String.pipe(Schema.minLength(1), Schema.maxLength(64))),
  rootfs: Schema.Struct({
    /** Top-most first (overlayfs order). No ':' or ','. */
    lowerdirs: Schema.NonEmptyArray(AbsPath.pipe(Schema.pattern(/^[^:,]+$/))),
    upperdir: AbsPath,
    workdir: AbsPath,
    merged: AbsPath,
    /** readOnlyRootFilesystem: the root mount is made read-only after pivot_root (its submounts keep theirs). */
    readOnly: opt(Schema.Boolean)
  }),
  etcFiles: Schema.Array(BindMount),
  volumes: Schema.Array(BindMount),
  maskedPaths: Schema.Array(AbsPath),
  readonlyPaths: Schema.Array(AbsPath),
  capabilities: CapabilitySets,
  noNewPrivileges: Schema.Boolean,
  /** A compiled seccomp program (`seccomp-compile`); absent = no filter. */
  seccomp: opt(AbsPath),
  /** setrlimit before the identity change; -1 = unlimited. */
  rlimits: opt(Schema.Array(Rlimit)),
  /** Host devices recreated in the container's /dev (the cgroup policy must allow them). */
  devices: opt(Schema.Array(DeviceNode)),
  cgroupProcs: Schema.Array(AbsPath),
  /** cgroup.procs files the monitor moves itself into (out of the agent's cgroup). */
  monitorCgroupProcs: opt(Schema.Array(AbsPath)),
  oomScoreAdj: opt(Int.pipe(Schema.between(-1000, 1000))),
  parkTimeoutMs: opt(NonNegInt),
  lingerMs: opt(NonNegInt),
  /** A file holding the agent's pid (the agent lock): its connections may use the reserved slots. */
  agentPidFile: opt(AbsPath),
  /** tank-init (static): PID 1 of the container, forwarding signals to the workload it forks. */
  init: opt(AbsPath)
})
export type MonitorConfig = typeof MonitorConfig.Type

export const HelperErrorInfo = Schema.Struct({ step: Schema.String, errno: Schema.Number, message: Schema.String })

/** The helper's one-line verdict on stdout (monitor start, sandbox, enter's stderr on failure). */
export const HelperFailure = Schema.Struct({ error: HelperErrorInfo })

export const MonitorReady = Schema.Struct({
  ready: Schema.Literal(true),
  protocol: Schema.Number,
  monitorPid: Int,
  /** The monitor's own /proc start time (absent from older helpers): "is it still alive?" checks. */
  monitorStartTime: opt(Schema.Number),
  pid: Int,
  startTime: Schema.Number
})
export type MonitorReady = typeof MonitorReady.Type

const exitBase = {
  version: Schema.Literal(1),
  pid: Int,
  startTime: Schema.Number,
  startedAt: opt(Schema.String),
  finishedAt: Schema.String
}

/** The exit file (`exitPath`) and every exit carried on the socket. */
export const ExitRecord = Schema.Union(
  Schema.Struct({ ...exitBase, reason: Schema.Literal("exited"), exitCode: Int }),
  Schema.Struct({ ...exitBase, reason: Schema.Literal("signaled"), signal: Int }),
  Schema.Struct({ ...exitBase, reason: Schema.Literal("setup_failed"), setupError: HelperErrorInfo })
)
export type ExitRecord = typeof ExitRecord.Type

export const MonitorState = Schema.Struct({
  status: Schema.Literal("parked", "starting", "running", "exited"),
  pid: Int,
  monitorPid: Int,
  startTime: Schema.Number,
  tty: Schema.Boolean,
  attached: Schema.Boolean,
  startedAt: opt(Schema.String),
  exit: opt(ExitRecord)
})
export type MonitorState = typeof MonitorState.Type

export const Hello = Schema.Struct({
  hello: Schema.Struct({ protocol: Schema.Number, monitorPid: Int, pid: Int })
})

export const ReplyError = Schema.Struct({
  code: Schema.String,
  message: Schema.String,
  setupError: opt(HelperErrorInfo),
  /** `busy`: how many connection slots the refused client could have used. */
  slots: opt(Int)
})

/** Every reply carries the request id; the rest depends on the op. */
export const Reply = Schema.Union(
  Schema.Struct({
    id: Int,
    ok: Schema.Literal(true),
    state: opt(MonitorState),
    exit: opt(ExitRecord),
    status: opt(Schema.String),
    tty: opt(Schema.Boolean),
    protocol: opt(Schema.Number)
  }),
  Schema.Struct({ id: Int, ok: Schema.Literal(false), error: ReplyError })
)
export type Reply = typeof Reply.Type

export const SandboxResult = Schema.Struct({
  ok: Schema.Literal(true),
  dir: Schema.String,
  user: opt(Schema.String),
  net: opt(Schema.String),
  uts: opt(Schema.String),
  ipc: opt(Schema.String)
})
export type SandboxResult = typeof SandboxResult.Type
