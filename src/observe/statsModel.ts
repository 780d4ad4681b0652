/**
 * Pod statistics, pure: raw samples (counters read at one instant), rates from two samples of the
 * same run, and a fixed-size ring buffer for the short in-memory history.
 */
import type { CgroupStats } from "../cgroups/model.js"

export interface InterfaceCounters {
  readonly name: string
  readonly rxBytes: number
  readonly txBytes: number
  readonly rxPackets: number
  readonly txPackets: number
}

/** Counters of one pod at one instant. */
export interface RawSample {
  readonly pod: string
  readonly at: Date
  /** Monotonic milliseconds (performance.now) for the interval between samples. */
  readonly mono: number
  /** Which run of the pod: rates are computed only between samples of the same run. */
  readonly run: string
  readonly cgroup: CgroupStats
  readonly containers: ReadonlyArray<{ readonly name: string; readonly cgroup: CgroupStats }>
  /** Interfaces of the pod's netns, loopback included; undefined for `network: host` pods. */
  readonly network: ReadonlyArray<InterfaceCounters> | undefined
}

export interface ContainerStats {
  readonly name: string
  readonly cpuUsageUsec?: number
  /** Of one CPU: 200 = two CPUs busy (as docker/podman). */
  readonly cpuPercent?: number
  readonly memoryBytes?: number
  readonly memoryPeakBytes?: number
  readonly memoryLimitBytes?: number
  readonly pids?: number
  readonly pidsLimit?: number
  readonly oomKills?: number
}

export interface InterfaceStats extends InterfaceCounters {
  readonly rxBytesPerSec?: number
  readonly txBytesPerSec?: number
}

export interface PodStats extends Omit<ContainerStats, "name"> {
  readonly pod: string
  readonly at: Date
  readonly containers: ReadonlyArray<ContainerStats>
  /** Per interface (loopback included); undefined for host-network pods. */
  readonly network?: ReadonlyArray<InterfaceStats>
  /** Totals over the interfaces other than `lo` (what leaves or enters the pod). */
  readonly netRxBytes?: number
  readonly netTxBytes?: number
}

const rate = (cur: number | undefined, prev: number | undefined, seconds: number) =>
  cur === undefined || prev === undefined || cur < prev || seconds <= 0 ? undefined : (cur - prev) / seconds

const cpuPercent = (cur: CgroupStats, prev: CgroupStats | undefined, seconds: number) => {
  const r = rate(cur.cpuUsageUsec, prev?.cpuUsageUsec, seconds)
  return r === undefined ? undefined : r / 10_000 // µs per s → percent of one CPU
}

const defined = <T extends object>(o: T): T =>
  Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T

const fromCgroup = (c: CgroupStats, prev: CgroupStats | undefined, seconds: number) =>
  defined({
    cpuUsageUsec: c.cpuUsageUsec,
    cpuPercent: cpuPercent(c, prev, seconds),
    memoryBytes: c.memoryBytes,
    memoryPeakBytes: c.memoryPeakBytes,
    memoryLimitBytes: c.memoryLimitBytes,
    pids: c.pids,
    pidsLimit: c.pidsLimit,
    oomKills: c.oomKills
  })

/** Stats of a sample, with rates against `prev` when it is an earlier sample of the same run. */
export const toStats = (cur: RawSample, prev?: RawSample): PodStats => {
  const same = prev !== undefined && prev.pod === cur.pod && prev.run === cur.run && prev.mono < cur.mono
  const seconds = same ? (cur.mono - prev.mono) / 1000 : 0
  const p = same ? prev : undefined
  const containers = cur.containers.map((c) => ({
    name: c.name,
    ...fromCgroup(c.cgroup, p?.containers.find((x) => x.name === c.name)?.cgroup, seconds)
  }))
  // A pod group without a memory limit of its own is bounded by its containers' limits when all have one.
  const containerLimits = containers.map((c) => c.memoryLimitBytes)
  const podLimit = cur.cgroup.memoryLimitBytes ??
    (containerLimits.length > 0 && containerLimits.every((l) => l !== undefined)
      ? containerLimits.reduce((a, b) => a! + b!, 0)
      : undefined)
  const network = cur.network?.map((i) => {
    const before = p?.network?.find((x) => x.name === i.name)
    return defined({
      ...i,
      rxBytesPerSec: rate(i.rxBytes, before?.rxBytes, seconds),
      txBytesPerSec: rate(i.txBytes, before?.txBytes, seconds)
    }) as InterfaceStats
  })
  const external = network?.filter((i) => i.name !== "lo")
  return defined({
    pod: cur.pod,
    at: cur.at,
    ...fromCgroup(cur.cgroup, p?.cgroup, seconds),
    memoryLimitBytes: podLimit,
    containers,
    network,
    netRxBytes: external?.reduce((a, i) => a + i.rxBytes, 0),
    netTxBytes: external?.reduce((a, i) => a + i.txBytes, 0)
  }) as PodStats
}

/** A fixed-capacity ring buffer: the newest `capacity` items, oldest first. */
export class Ring<T> {
  private readonly items: Array<T | undefined>
  private start = 0
  private count = 0
  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError(`ring capacity must be ≥ 1 (${capacity})`)
    this.items = new Array(capacity)
  }
  push(x: T): void {
    if (this.count < this.capacity) {
      this.items[(this.start + this.count++) % this.capacity] = x
    } else {
      this.items[this.start] = x
      this.start = (this.start + 1) % this.capacity
    }
  }
  get size(): number {
    return this.count
  }
  /** The newest item. */
  get last(): T | undefined {
    return this.count === 0 ? undefined : this.items[(this.start + this.count - 1) % this.capacity]
  }
  toArray(): Array<T> {
    return Array.from({ length: this.count }, (_, i) => this.items[(this.start + i) % this.capacity] as T)
  }
  clear(): void {
    this.start = 0
    this.count = 0
    this.items.fill(undefined)
  }
}
