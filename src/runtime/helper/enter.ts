/**
 * The command line of `tank-helper enter` (exec into a running workload). The caller runs it under
 * node-pty (tty) or child_process (pipes); exit status mirrors the command's (125-127 = setup
 * failure with a JSON error on stderr, like docker exec; death by signal is re-raised).
 */
import { Effect } from "effect"
import { helperPath } from "./binary.js"
import type { HelperNotBuilt } from "./errors.js"

export interface EnterOptions {
  /** Host pid of the workload. */
  readonly pid: number
  /** From the monitor's ready line / state; refuses if the pid now names another process. */
  readonly startTime?: number
  readonly argv: ReadonlyArray<string>
  readonly env?: ReadonlyArray<string>
  readonly cwd?: string
  readonly uid?: number
  readonly gid?: number
  readonly groups?: ReadonlyArray<number>
  /** Bounding/effective/permitted/inheritable; default: keep the helper's own set. */
  readonly capabilities?: ReadonlyArray<string>
  readonly noNewPrivileges?: boolean
  /** A compiled seccomp program (host path), loaded just before execve. */
  readonly seccomp?: string
  /** setrlimit before the identity change ("RLIMIT_NOFILE", -1 = unlimited). */
  readonly rlimits?: ReadonlyArray<{ readonly type: string; readonly soft: number; readonly hard: number }>
  /** cgroup.procs files to join before entering (host paths). */
  readonly cgroupProcs?: ReadonlyArray<string>
  /**
   * Give the command a terminal from the container's own devpts (so `tty` names a /dev/pts/N that
   * exists inside), relayed to the helper's stdio, which must then be a terminal (node-pty).
   */
  readonly tty?: boolean
}

export const enterArgs = (o: EnterOptions): Array<string> => [
  "enter",
  "--pid",
  String(o.pid),
  ...(o.startTime !== undefined ? ["--start-time", String(o.startTime)] : []),
  ...(o.cgroupProcs ?? []).flatMap((p) => ["--cgroup-procs", p]),
  ...(o.cwd !== undefined ? ["--cwd", o.cwd] : []),
  ...(o.uid !== undefined ? ["--uid", String(o.uid)] : []),
  ...(o.gid !== undefined ? ["--gid", String(o.gid)] : []),
  ...(o.groups !== undefined && o.groups.length > 0 ? ["--groups", o.groups.join(",")] : []),
  ...(o.capabilities !== undefined ? ["--caps", o.capabilities.join(",")] : []),
  ...(o.noNewPrivileges ? ["--no-new-privs"] : []),
  ...(o.seccomp !== undefined ? ["--seccomp", o.seccomp] : []),
  ...(o.rlimits ?? []).flatMap((r) => ["--rlimit", `${r.type}=${r.soft}:${r.hard}`]),
  ...(o.tty ? ["--tty"] : []),
  ...(o.env ?? []).flatMap((e) => ["--env", e]),
  "--",
  ...o.argv
]

/** The helper path plus `enterArgs`. */
export const enterCommand = (o: EnterOptions): Effect.Effect<{ file: string; args: Array<string> }, HelperNotBuilt> =>
  Effect.map(helperPath, (file) => ({ file, args: enterArgs(o) }))
