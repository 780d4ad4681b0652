/**
 * cgroupfs counter files → `CgroupStats`. Pure: the drivers read the files (absent ones as
 * undefined) and hand the texts here.
 */
import type { CgroupStats } from "./model.js"

/** "key value" lines (cpu.stat, memory.events, memory.oom_control, pids.events). */
export const parseFlatKeyed = (text: string): ReadonlyMap<string, string> =>
  new Map(
    text.split("\n").flatMap((line) => {
      const [key, value] = line.trim().split(/\s+/)
      return key === undefined || key === "" || value === undefined ? [] : [[key, value] as const]
    })
  )

/** v1 "unlimited" is PAGE_COUNTER_MAX pages in bytes (9223372036854771712); anything ≥ 2^62 means no limit. */
const UNLIMITED = 1n << 62n

/** A non-negative integer file; "max", v1's near-2^63 "unlimited" and garbage give undefined. */
export const parseCount = (text: string | undefined): number | undefined => {
  const t = text?.trim()
  if (t === undefined || !/^\d+$/.test(t)) return undefined
  const n = BigInt(t)
  return n >= UNLIMITED ? undefined : Number(n)
}

/** ns → µs without losing precision on a long-lived counter. */
const nsToUs = (text: string | undefined): number | undefined => {
  const t = text?.trim()
  return t === undefined || !/^\d+$/.test(t) ? undefined : Number(BigInt(t) / 1000n)
}

const keyed = (text: string | undefined, key: string): number | undefined =>
  text === undefined ? undefined : parseCount(parseFlatKeyed(text).get(key))

/** Drops undefined fields so `exactOptionalPropertyTypes` readers see absent, not undefined. */
const compact = (stats: { [K in keyof CgroupStats]-?: number | undefined }): CgroupStats =>
  Object.fromEntries(Object.entries(stats).filter(([, v]) => v !== undefined)) as CgroupStats

export interface V1StatFiles {
  readonly "cpuacct.usage"?: string | undefined
  readonly "cpu.stat"?: string | undefined
  readonly "memory.usage_in_bytes"?: string | undefined
  readonly "memory.max_usage_in_bytes"?: string | undefined
  readonly "memory.limit_in_bytes"?: string | undefined
  readonly "memory.oom_control"?: string | undefined
  readonly "pids.current"?: string | undefined
  readonly "pids.max"?: string | undefined
}

/**
 * v1 counters. memory.oom_control's oom_kill is local to each group in v1 (v2's memory.events is
 * hierarchical), so the driver passes the children's counts for a pod group in `childOomKills`.
 */
export const v1Stats = (files: V1StatFiles, childOomKills: ReadonlyArray<number> = []): CgroupStats => {
  const ownOom = keyed(files["memory.oom_control"], "oom_kill")
  const throttledNs = files["cpu.stat"] === undefined
    ? undefined
    : parseFlatKeyed(files["cpu.stat"]).get("throttled_time")
  return compact({
    cpuUsageUsec: nsToUs(files["cpuacct.usage"]),
    cpuThrottledUsec: nsToUs(throttledNs),
    memoryBytes: parseCount(files["memory.usage_in_bytes"]),
    memoryPeakBytes: parseCount(files["memory.max_usage_in_bytes"]),
    memoryLimitBytes: parseCount(files["memory.limit_in_bytes"]),
    oomKills: ownOom === undefined ? undefined : childOomKills.reduce((a, b) => a + b, ownOom),
    pids: parseCount(files["pids.current"]),
    pidsLimit: parseCount(files["pids.max"])
  })
}

export interface V2StatFiles {
  readonly "cpu.stat"?: string | undefined
  readonly "memory.current"?: string | undefined
  readonly "memory.peak"?: string | undefined
  readonly "memory.max"?: string | undefined
  readonly "memory.events"?: string | undefined
  readonly "pids.current"?: string | undefined
  readonly "pids.max"?: string | undefined
}

export const v2Stats = (files: V2StatFiles): CgroupStats =>
  compact({
    cpuUsageUsec: keyed(files["cpu.stat"], "usage_usec"),
    cpuThrottledUsec: keyed(files["cpu.stat"], "throttled_usec"),
    memoryBytes: parseCount(files["memory.current"]),
    memoryPeakBytes: parseCount(files["memory.peak"]),
    memoryLimitBytes: parseCount(files["memory.max"]),
    oomKills: keyed(files["memory.events"], "oom_kill"),
    pids: parseCount(files["pids.current"]),
    pidsLimit: parseCount(files["pids.max"])
  })
