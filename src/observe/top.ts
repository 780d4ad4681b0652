/**
 * `tank top POD`: the processes of a running pod, found in its containers' cgroups (`cgroup.procs`,
 * so every process of the pod, also those an exec started), with their user, CPU and memory from
 * /proc. CPU% is measured over `intervalMs` (two reads of each process's CPU time), like top.
 * Parsing is pure (parse* below); the reads are one small file each per process.
 */
import { Effect } from "effect"
import * as fsp from "node:fs/promises"
import { Cgroups } from "../cgroups/Cgroups.js"
import { PodNotRunning, recordOf } from "./stats.js"

export interface TopProcess {
  readonly container: string
  readonly pid: number
  readonly ppid: number
  /** Host view: real uid and gid (in a user namespace, the mapped host ids). */
  readonly uid: number
  readonly gid: number
  /** Percent of one CPU over the sampling interval. */
  readonly cpuPercent: number
  /** CPU time used so far, seconds. */
  readonly cpuSeconds: number
  readonly rssBytes: number
  readonly command: string
}

const CLOCK_TICKS = 100 // USER_HZ on Linux
const PAGE = 4096

/** `/proc/PID/stat`: ppid, CPU ticks (utime+stime) and rss pages; the name may hold spaces and ')'. */
export const parseStat = (text: string) => {
  const rest = text.slice(text.lastIndexOf(")") + 2).split(" ")
  // Fields after the name start at field 3 (state): ppid is 4, utime 14, stime 15, rss 24.
  const f = (n: number) => Number(rest[n - 3])
  return { ppid: f(4), ticks: f(14) + f(15), rssPages: f(24) }
}

/** `/proc/PID/status`: real uid and gid. */
export const parseStatusIds = (text: string) => {
  const id = (key: string) =>
    Number(/^(\S+):\s+(\d+)/m.exec(text.split("\n").find((l) => l.startsWith(key)) ?? "")?.[2])
  return { uid: id("Uid:"), gid: id("Gid:") }
}

/** `/proc/PID/cmdline` (NUL-separated argv), else the stat name in brackets as ps shows kernel-ish ones. */
export const commandOf = (cmdline: string, stat: string): string => {
  const argv = cmdline.split("\0").filter((a) => a !== "")
  return argv.length ? argv.join(" ") : `[${stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"))}]`
}

const read = (file: string) => Effect.promise(() => fsp.readFile(file, "utf8").catch(() => undefined))

/** One process's counters now; undefined if it is gone. */
const probe = (pid: number) =>
  Effect.map(
    Effect.all([read(`/proc/${pid}/stat`), read(`/proc/${pid}/status`), read(`/proc/${pid}/cmdline`)]),
    ([stat, status, cmdline]) =>
      stat === undefined || status === undefined
        ? undefined
        : { stat: parseStat(stat), ids: parseStatusIds(status), command: commandOf(cmdline ?? "", stat) }
  )

export const top = (pod: string, options: { readonly intervalMs?: number } = {}) =>
  Effect.gen(function*() {
    const cgroups = yield* Cgroups
    const record = yield* recordOf(pod)
    const group = record.cgroup
    if (group === undefined) return yield* new PodNotRunning({ pod, reason: "its run has no cgroup yet" })
    const members = yield* Effect.forEach(record.containers, (c) =>
      Effect.gen(function*() {
        const h = yield* cgroups.handle({ pod: group, container: c.name }).pipe(
          Effect.mapError((e) => new PodNotRunning({ pod, reason: e.message }))
        )
        const text = yield* read(h.procsFiles[0]!)
        if (text === undefined) return yield* new PodNotRunning({ pod, reason: `no ${h.procsFiles[0]}` })
        return text.split("\n").filter((l) => l !== "").map((p) => ({ container: c.name, pid: Number(p) }))
      }))
    const procs = members.flat()
    const before = yield* Effect.forEach(procs, (p) => probe(p.pid))
    yield* Effect.sleep(options.intervalMs ?? 500)
    const after = yield* Effect.forEach(procs, (p) => probe(p.pid))
    const seconds = (options.intervalMs ?? 500) / 1000
    return procs.flatMap((p, i): ReadonlyArray<TopProcess> => {
      const now = after[i]
      if (now === undefined) return []
      const used = now.stat.ticks - (before[i]?.stat.ticks ?? now.stat.ticks)
      return [{
        container: p.container,
        pid: p.pid,
        ppid: now.stat.ppid,
        uid: now.ids.uid,
        gid: now.ids.gid,
        cpuPercent: Math.round((used / CLOCK_TICKS / seconds) * 1000) / 10,
        cpuSeconds: now.stat.ticks / CLOCK_TICKS,
        rssBytes: now.stat.rssPages * PAGE,
        command: now.command
      }]
    }).sort((a, b) => a.pid - b.pid)
  })
