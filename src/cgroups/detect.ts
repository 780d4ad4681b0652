/**
 * Driver detection from /proc/self/mountinfo, /proc/cgroups and the cgroup2 root's
 * `cgroup.controllers`. Pure: the live layer reads the files and passes their text in.
 *
 * Placement comes from mountinfo (a v1 mount's super options name its controllers, which also
 * reveals co-mounts such as `cpu,cpuacct`); /proc/cgroups only contributes `enabled` (a controller
 * disabled with `cgroup_disable=` is ignored).
 */
import { Either } from "effect"
import type { MountEntry } from "./mountinfo.js"
import type { ProcCgroupEntry } from "./procCgroups.js"

/** One v1 hierarchy: where it is mounted and which controllers it carries (e.g. `["cpu", "cpuacct"]`). */
export interface V1Hierarchy {
  readonly mountPoint: string
  readonly controllers: ReadonlyArray<string>
}

export type Detected =
  | { readonly driver: "v1"; readonly hierarchies: ReadonlyArray<V1Hierarchy> }
  | { readonly driver: "v2"; readonly root: string; readonly controllers: ReadonlyArray<string> }

/** Controller names the kernel knows; used to tell controllers from mount options in super options. */
export const KNOWN_CONTROLLERS: ReadonlyArray<string> = [
  "cpuset",
  "cpu",
  "cpuacct",
  "blkio",
  "io",
  "memory",
  "devices",
  "freezer",
  "net_cls",
  "perf_event",
  "net_prio",
  "hugetlb",
  "pids",
  "rdma",
  "misc"
]

/** The v1 controllers Tank sets limits with (memory, pids, cpu) or reads accounting from (cpuacct). */
export const V1_CONTROLLERS: ReadonlyArray<string> = ["memory", "pids", "cpu", "cpuacct"]
/** The v1 hierarchies Tank creates groups in: those above, plus `devices` for the device allow list. */
export const V1_GROUP_CONTROLLERS: ReadonlyArray<string> = [...V1_CONTROLLERS, "devices"]
/** The v2 controllers Tank enables for its groups. */
export const V2_CONTROLLERS: ReadonlyArray<string> = ["memory", "pids", "cpu"]

export interface CgroupMounts {
  /** One entry per v1 hierarchy (duplicate/bind mounts of the same hierarchy collapsed). */
  readonly v1: ReadonlyArray<V1Hierarchy>
  /** The cgroup2 mount point, if any. */
  readonly v2: string | undefined
}

/** Prefer a mount of the hierarchy's root ("/") over a bind of a subtree; otherwise the first seen. */
const better = (a: MountEntry, b: MountEntry): MountEntry => (a.root !== "/" && b.root === "/" ? b : a)

export const cgroupMounts = (
  mounts: ReadonlyArray<MountEntry>,
  procCgroups: ReadonlyArray<ProcCgroupEntry> = []
): CgroupMounts => {
  const known = new Set([...KNOWN_CONTROLLERS, ...procCgroups.map((e) => e.name)])
  const disabled = new Set(procCgroups.filter((e) => !e.enabled).map((e) => e.name))
  const v1 = new Map<string, { entry: MountEntry; controllers: Array<string> }>()
  let v2: MountEntry | undefined
  for (const m of mounts) {
    if (m.fsType === "cgroup2") {
      v2 = v2 === undefined ? m : better(v2, m)
    } else if (m.fsType === "cgroup") {
      const controllers = m.superOptions.filter((o) => known.has(o) && !disabled.has(o))
      // name=systemd-style hierarchies carry no controller: key them by name so they collapse too
      const key = [...controllers].sort().join(",") || m.superOptions.find((o) => o.startsWith("name=")) || m.mountPoint
      const seen = v1.get(key)
      v1.set(key, { entry: seen === undefined ? m : better(seen.entry, m), controllers })
    }
  }
  return {
    v1: [...v1.values()].filter((h) => h.controllers.length > 0).map((h) => ({
      mountPoint: h.entry.mountPoint,
      controllers: h.controllers
    })),
    v2: v2?.mountPoint
  }
}

/**
 * Chooses the driver. memory decides (it is what the OOM and stats paths need): on a v1
 * hierarchy → v1 (this machine's hybrid layout); available in cgroup2 → v2 (pure v2 hosts).
 * Without memory anywhere, fall back to wherever pids/cpu are.
 */
export const chooseDriver = (
  mounts: CgroupMounts,
  v2Controllers: ReadonlyArray<string> | undefined
): Either.Either<Detected, string> => {
  const onV1 = (c: string) => mounts.v1.some((h) => h.controllers.includes(c))
  const v1 = (): Detected => ({
    driver: "v1",
    hierarchies: mounts.v1.filter((h) => h.controllers.some((c) => V1_GROUP_CONTROLLERS.includes(c)))
  })
  const onV2 = (c: string) => mounts.v2 !== undefined && (v2Controllers ?? []).includes(c)
  if (onV1("memory")) return Either.right(v1())
  if (mounts.v2 !== undefined && onV2("memory")) {
    return Either.right({ driver: "v2", root: mounts.v2, controllers: v2Controllers ?? [] })
  }
  if (V1_CONTROLLERS.some(onV1)) return Either.right(v1())
  if (mounts.v2 !== undefined) return Either.right({ driver: "v2", root: mounts.v2, controllers: v2Controllers ?? [] })
  return Either.left("no cgroup filesystem is mounted (neither a v1 hierarchy with memory/pids/cpu nor cgroup2)")
}
