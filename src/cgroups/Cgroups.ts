/**
 * Tank's Cgroups service: one Tag, two drivers (v1 hierarchies, v2 unified), chosen once at start.
 *
 * Groups live at absolute paths `<mount>/tank/<pod>[/<container>]` in each hierarchy Tank uses —
 * never relative to the caller's own cgroup — and only groups under `tank/` are ever created,
 * written or removed. `tank/` itself is left in place (other pods, other agents).
 *
 * - `limits.devices` — a device allow list (`DEFAULT_DEVICE_RULES` is runc's): v1 `devices`
 *   controller, v2 a BPF device program attached by the native helper.
 * - `create(path, limits, options)` — scoped: `ensure` now, `remove` (SIGKILL leftovers unless
 *   `force: false`, retry rmdir while busy) when the scope closes.
 * - `ensure(path, limits)` — idempotent, unscoped create: for a runtime that decides itself when
 *   the group goes (an agent stopping with live workloads must leave their groups alone); pair it
 *   with `remove`. A failed ensure removes exactly the directories it created.
 * - `handle(path)` — the handle of an existing group (re-adoption, exec joining a pod).
 * - `addProcess(handle, pid)` / `handle.procsFiles` — join a process (the native helper writes the
 *   workload's pid to each procs file before execve).
 * - `stats(path)` — counters, including OOM kills so an OOM kill is told from another SIGKILL.
 * - `list` — pods that have a group under tank/ (for the agent's sweep of true leftovers).
 * - `remove(path, { force })` — a container's group (and the pod group once it has no other
 *   container), or with `{ pod }` alone the pod group and everything under it.
 */
import { Context, Effect, Either, Layer } from "effect"
import * as fsp from "node:fs/promises"
import type { Detected } from "./detect.js"
import { cgroupMounts, chooseDriver } from "./detect.js"
import { fsError } from "./fs.js"
import { CgroupError } from "./model.js"
import type { CgroupsService } from "./model.js"
import { parseMountinfo } from "./mountinfo.js"
import { parseProcCgroups } from "./procCgroups.js"
import type { V1Config } from "./v1.js"
import { makeV1 } from "./v1.js"
import type { V2Config } from "./v2.js"
import { makeV2 } from "./v2.js"

export type { Detected, V1Hierarchy } from "./detect.js"
export type { DeviceAttacher } from "./deviceProgram.js"
export { helperDeviceAttacher } from "./deviceProgram.js"
export { DEFAULT_DEVICE_RULES, DeviceRule, formatDeviceRule, parseDeviceRule } from "./devices.js"
export type { CgroupFs } from "./fs.js"
export * from "./model.js"
export type { V1Config } from "./v1.js"
export type { V2Config } from "./v2.js"

export interface DetectOptions {
  /** Default /proc/self/mountinfo. */
  readonly mountinfo?: string
  /** Default /proc/cgroups. */
  readonly procCgroups?: string
}

const readText = (path: string, optional: boolean) =>
  Effect.tryPromise({ try: () => fsp.readFile(path, "utf8"), catch: (e) => fsError("read", path, e) }).pipe(
    Effect.catchIf((e) => optional && e.code === "ENOENT", () => Effect.succeed(undefined))
  )

/** Reads mountinfo, /proc/cgroups and the cgroup2 root's controllers, and picks a driver. */
export const detect = (options: DetectOptions = {}): Effect.Effect<Detected, CgroupError> =>
  Effect.gen(function*() {
    const mountinfoPath = options.mountinfo ?? "/proc/self/mountinfo"
    const mountinfo = yield* readText(mountinfoPath, false)
    const procCgroups = yield* readText(options.procCgroups ?? "/proc/cgroups", true)
    const mounts = cgroupMounts(parseMountinfo(mountinfo ?? ""), parseProcCgroups(procCgroups ?? ""))
    const v2Controllers = mounts.v2 === undefined ? undefined : yield* readText(`${mounts.v2}/cgroup.controllers`, true)
    const chosen = chooseDriver(mounts, v2Controllers?.split(/\s+/).filter((w) => w !== ""))
    if (Either.isLeft(chosen)) {
      return yield* new CgroupError({ op: "detect", path: mountinfoPath, code: "ENOENT", message: chosen.left })
    }
    return chosen.right
  })

export class Cgroups extends Context.Tag("tank/Cgroups")<Cgroups, CgroupsService>() {
  /** The v1 driver over the given hierarchies (mount points + controllers). */
  static readonly layerV1 = (config: V1Config): Layer.Layer<Cgroups> => Layer.sync(Cgroups, () => makeV1(config))
  /** The v2 driver over the given cgroup2 root. */
  static readonly layerV2 = (config: V2Config): Layer.Layer<Cgroups> => Layer.sync(Cgroups, () => makeV2(config))
  /** The driver for an already detected layout. */
  static readonly fromDetected = (
    detected: Detected,
    options: Omit<V1Config, "hierarchies"> & Omit<V2Config, "root"> = {}
  ): CgroupsService =>
    detected.driver === "v1"
      ? makeV1({ ...options, hierarchies: detected.hierarchies })
      : makeV2({ ...options, root: detected.root })
  /** Detects this host's layout at start (mountinfo, /proc/cgroups) and builds that driver. */
  static readonly layer: Layer.Layer<Cgroups, CgroupError> = Layer.effect(
    Cgroups,
    Effect.map(detect(), (d) => Cgroups.fromDetected(d))
  )
}
