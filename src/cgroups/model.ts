/**
 * Data types and the error of the Cgroups service. No effects here.
 *
 * A Tank cgroup is addressed by pod and (optionally) container name, never by a raw path:
 * the drivers map `{ pod, container }` to `<mount>/tank/<pod>[/<container>]` in every hierarchy
 * Tank uses, so nothing outside `<mount>/tank/` is ever created or removed.
 */
import type { Effect, Scope } from "effect"
import { Schema } from "effect"
import type { DeviceRule } from "./devices.js"

/** The controllers Tank sets limits with or reads statistics from. */
export type Controller = "memory" | "pids" | "cpu" | "cpuacct"

/** A pod's accounting group (`tank/<pod>`) or one container's leaf (`tank/<pod>/<container>`). */
export interface CgroupPath {
  readonly pod: string
  readonly container?: string
}

/** The resource limits Tank actuates; structurally the spec's `Limits`. */
export interface CgroupLimits {
  /** Bytes of memory (RAM; swap is not limited separately). */
  readonly memory?: number
  /** Maximum number of tasks (processes and threads). */
  readonly pids?: number
  /** CFS bandwidth: `quota` µs of CPU time per `period` µs. */
  readonly cpu?: { readonly quota: number; readonly period: number }
  /**
   * Device allow list: when present the group denies every device access (mknod, read, write)
   * except these rules (`DEFAULT_DEVICE_RULES` is runc's list). Absent = no device policy: the
   * group's current one is left as it is (a new group inherits its parent's). `ensure` on an
   * existing group replaces the policy. A child group can never get more than its parent: give a
   * pod group the union of its containers' rules, and apply it before theirs.
   */
  readonly devices?: ReadonlyArray<DeviceRule>
}

/** What `create`/`ensure` hand back: the group's directories, one per hierarchy. */
export interface CgroupHandle {
  readonly path: CgroupPath
  /** The group's directory in each hierarchy Tank uses (one for v2). */
  readonly dirs: ReadonlyArray<string>
  /** The `cgroup.procs` files a process must be written to (before execve) to join the group. */
  readonly procsFiles: ReadonlyArray<string>
}

/**
 * A snapshot of a group's counters. A field is absent when the host does not provide it
 * (controller not mounted, file missing on an older kernel) — never guessed as 0.
 */
export interface CgroupStats {
  /** Total CPU time consumed, µs (v1 `cpuacct.usage`/1000, v2 `cpu.stat usage_usec`). */
  readonly cpuUsageUsec?: number
  /** Time throttled by the CFS quota, µs (v1 `cpu.stat throttled_time`/1000, v2 `throttled_usec`). */
  readonly cpuThrottledUsec?: number
  /** Memory charged now, bytes (v1 `memory.usage_in_bytes`, v2 `memory.current`). */
  readonly memoryBytes?: number
  /** High-water mark, bytes (v1 `memory.max_usage_in_bytes`, v2 `memory.peak`, kernel ≥ 5.19). */
  readonly memoryPeakBytes?: number
  /** The memory limit, bytes; absent when unlimited. */
  readonly memoryLimitBytes?: number
  /** Processes killed by the OOM killer in this group (and, for a pod group, its containers). */
  readonly oomKills?: number
  /** Tasks in the group now. */
  readonly pids?: number
  /** The task limit; absent when unlimited. */
  readonly pidsLimit?: number
}

export interface CreateOptions {
  /**
   * When the scope closes, SIGKILL whatever is still in the group before removing it
   * (default true: by then the workload is gone and anything left is a leak).
   */
  readonly force?: boolean
}

export interface RemoveOptions {
  /** SIGKILL the tasks still in the group(s) and keep retrying rmdir until they are gone. */
  readonly force?: boolean
  /**
   * The child groups the caller made (a pod's containers): removed first, without listing the
   * group's directories (a cgroup dir holds dozens of control files). Any other child is still
   * found and removed.
   */
  readonly children?: ReadonlyArray<string>
}

/**
 * A failed cgroupfs operation. `op` is the filesystem step (mkdir, write, rmdir, read, readdir,
 * kill) or a driver step (validate, detect, create, devices: the v2 device program); `code` is the
 * errno name when there is one.
 */
export class CgroupError extends Schema.TaggedError<CgroupError>()("CgroupError", {
  op: Schema.String,
  path: Schema.String,
  code: Schema.optionalWith(Schema.String, { exact: true }),
  message: Schema.String
}) {}

// A pod's group carries a data-dir suffix (runtime/layout.ts cgroupName): room for 63 + 9.
const LABEL = /^[a-z0-9]([-a-z0-9]{0,70}[a-z0-9])?$/

/** Names become path components: hold them to the spec's DNS-label rule so `..` or `/` never reach a path. */
export const validatePath = (path: CgroupPath): CgroupError | undefined => {
  for (const [what, name] of [["pod", path.pod], ["container", path.container]] as const) {
    if (name !== undefined && !LABEL.test(name)) {
      return new CgroupError({
        op: "validate",
        path: `${path.pod}/${path.container ?? ""}`,
        code: "EINVAL",
        message: `${what} name ${JSON.stringify(name)} is not a DNS label usable as a cgroup name`
      })
    }
  }
  return undefined
}

/** `tank/<pod>[/<container>]` relative to a hierarchy's mount point. */
export const relativeDir = (base: string, path: CgroupPath): string =>
  path.container === undefined ? `${base}/${path.pod}` : `${base}/${path.pod}/${path.container}`

/** The service a driver implements (see Cgroups.ts for the contract). */
export interface CgroupsService {
  readonly driver: "v1" | "v2"
  /** The controllers this host lets Tank use (limits for an absent one fail with ENOTSUP). */
  readonly controllers: Effect.Effect<ReadonlyArray<Controller>, CgroupError>
  readonly create: (
    path: CgroupPath,
    limits?: CgroupLimits,
    options?: CreateOptions
  ) => Effect.Effect<CgroupHandle, CgroupError, Scope.Scope>
  readonly ensure: (path: CgroupPath, limits?: CgroupLimits) => Effect.Effect<CgroupHandle, CgroupError>
  readonly handle: (path: CgroupPath) => Effect.Effect<CgroupHandle, CgroupError>
  readonly addProcess: (handle: CgroupHandle, pid: number) => Effect.Effect<void, CgroupError>
  readonly stats: (path: CgroupPath) => Effect.Effect<CgroupStats, CgroupError>
  readonly list: Effect.Effect<ReadonlyArray<string>, CgroupError>
  readonly remove: (path: CgroupPath, options?: RemoveOptions) => Effect.Effect<void, CgroupError>
}
