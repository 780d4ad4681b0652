/**
 * Default hardening, as docker/podman apply it (moby's oci/caps/defaults.go and
 * oci/defaults.go), for the Runtime to put in a MonitorConfig.
 */
import * as fs from "node:fs"
import type { CapabilitySets } from "./schema.js"

/** Docker's default capability list. */
export const DEFAULT_CAPABILITIES: ReadonlyArray<string> = [
  "CAP_CHOWN",
  "CAP_DAC_OVERRIDE",
  "CAP_FSETID",
  "CAP_FOWNER",
  "CAP_MKNOD",
  "CAP_NET_RAW",
  "CAP_SETGID",
  "CAP_SETUID",
  "CAP_SETFCAP",
  "CAP_SETPCAP",
  "CAP_NET_BIND_SERVICE",
  "CAP_SYS_CHROOT",
  "CAP_KILL",
  "CAP_AUDIT_WRITE"
]

/**
 * Hidden from the container: files get /dev/null bound over them, directories an empty ro tmpfs.
 * Kubernetes' (containerd's) list: docker's plus /proc/interrupts (per-CPU interrupt counts are a
 * side channel on other tenants' activity) and the per-CPU thermal_throttle dirs (maskedHostPaths).
 */
export const DEFAULT_MASKED_PATHS: ReadonlyArray<string> = [
  "/proc/asound",
  "/proc/acpi",
  "/proc/interrupts",
  "/proc/kcore",
  "/proc/keys",
  "/proc/latency_stats",
  "/proc/timer_list",
  "/proc/timer_stats",
  "/proc/sched_debug",
  "/proc/scsi",
  "/sys/firmware",
  "/sys/devices/virtual/powercap"
]

/**
 * Host-dependent masks: `/sys/devices/system/cpu/cpuN/thermal_throttle` for each possible CPU
 * (containerd masks them: their counters leak the host's load; CVE-2020-8694-like side channels).
 */
export const maskedHostPaths = (possible = possibleCpus()): ReadonlyArray<string> =>
  possible.map((n) => `/sys/devices/system/cpu/cpu${n}/thermal_throttle`)

/** "0-3,5" (sysfs cpu lists) → [0, 1, 2, 3, 5]. */
export const parseCpuList = (text: string): Array<number> =>
  text.trim().split(",").filter(Boolean).flatMap((part) => {
    const [a, b] = part.split("-").map(Number)
    if (a === undefined || !Number.isInteger(a)) return []
    const end = b !== undefined && Number.isInteger(b) ? b : a
    return Array.from({ length: Math.max(0, end - a + 1) }, (_, i) => a + i)
  })

let cpus: ReadonlyArray<number> | undefined
const possibleCpus = (): ReadonlyArray<number> => {
  if (cpus === undefined) {
    try {
      cpus = parseCpuList(fs.readFileSync("/sys/devices/system/cpu/possible", "utf8"))
    } catch {
      cpus = []
    }
  }
  return cpus
}

/** Bound read-only over themselves. */
export const DEFAULT_READONLY_PATHS: ReadonlyArray<string> = [
  "/proc/bus",
  "/proc/fs",
  "/proc/irq",
  "/proc/sys",
  "/proc/sysrq-trigger"
]

/**
 * The five capability sets for a workload running as `uid`, docker style: root gets the list in
 * bounding, effective and permitted; any other uid keeps it only in the bounding set, so it has no
 * effective capabilities unless a setcap'd binary grants them. Inheritable stays empty
 * (CVE-2022-24769).
 */
export const capabilitiesFor = (uid: number, caps: ReadonlyArray<string> = DEFAULT_CAPABILITIES): CapabilitySets => ({
  bounding: caps,
  effective: uid === 0 ? caps : [],
  permitted: uid === 0 ? caps : [],
  inheritable: [],
  ambient: []
})
