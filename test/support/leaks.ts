/**
 * A leak checker for tests that touch the machine: snapshot host mounts, processes, network
 * namespaces and cgroups before, snapshot again after, and fail with the list of anything new.
 *
 *   const before = yield* leakSnapshot(opts)
 *   ... the test ...
 *   yield* assertNoLeaks(before, opts)            // retries briefly: teardown can be asynchronous
 *
 * Or wrap: `yield* withLeakCheck(opts)(effect)`. Options narrow what is looked at so tests running in
 * parallel do not see each other: mounts/cgroups by path prefix, processes by a cmdline marker.
 */
import { Data, Effect, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { runRootOf } from "../../src/runtime/layout.js"

export interface LeakOptions {
  /** Mount points (and netns pin paths) under these prefixes count; default: all mounts. */
  readonly pathPrefixes?: ReadonlyArray<string>
  /** Processes whose cmdline contains one of these count (default: ["tank-helper"]). */
  readonly processMarkers?: ReadonlyArray<string>
  /**
   * Directories whose sub-directories (cgroups) count, e.g. /sys/fs/cgroup/memory/tank;
   * `tankCgroupDirs()` gives `<mount>/tank` of every cgroup hierarchy (devices included).
   */
  readonly cgroupDirs?: ReadonlyArray<string>
  /** Only cgroup paths containing one of these count (e.g. a test's pod names); default: all. */
  readonly cgroupMarkers?: ReadonlyArray<string>
  /** Entries of /run/netns with this prefix count (default: none). */
  readonly netnsPrefix?: string
  /** Explicit pids that must be gone afterwards. */
  readonly pids?: ReadonlyArray<number>
}

export interface LeakSnapshot {
  readonly mounts: ReadonlyArray<string>
  readonly processes: ReadonlyArray<string>
  readonly netns: ReadonlyArray<string>
  readonly cgroups: ReadonlyArray<string>
}

export class LeakFound extends Data.TaggedError("LeakFound")<{
  readonly leaks: LeakSnapshot
}> {
  override get message(): string {
    const l = this.leaks
    return `leaked: ${JSON.stringify({ mounts: l.mounts, processes: l.processes, netns: l.netns, cgroups: l.cgroups })}`
  }
}

const unescapeMount = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)))

/**
 * A data dir's prefix also stands for what is inside its run root (src/runtime/layout.ts): the
 * namespace pins and tmpfs volumes of its runs. Not the run root's own tmpfs, which a live runtime
 * holds (runRoot.ts; test/runtime/runRoot.e2e.test.ts checks it goes).
 */
const withRunRoots = (prefixes: ReadonlyArray<string>) => [...prefixes, ...prefixes.map((p) => `${runRootOf(p)}/`)]

export const hostMounts = (given?: ReadonlyArray<string>): Array<string> => {
  const prefixes = given && withRunRoots(given)
  return fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).map((line) => {
    const f = line.split(" ")
    const sep = f.indexOf("-")
    return `${unescapeMount(f[4] ?? "")} ${f[sep + 1] ?? ""} ${unescapeMount(f[3] ?? "")}`
  }).filter((m) => !prefixes || prefixes.some((p) => m.startsWith(p) || m.includes(` ${p}`)))
}

const cmdline = (pid: string): string | undefined => {
  try {
    return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ").trim()
  } catch {
    return undefined
  }
}

const parentOf = (pid: string): number | undefined => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1])
  } catch {
    return undefined
  }
}

const isAlive = (pid: number): boolean => {
  try {
    // A zombie still has a /proc entry; only count running or sleeping processes.
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return !/\) [ZX] /.test(stat)
  } catch {
    return false
  }
}

/** The command line of a spawner (PROTOCOL.md §14), and of its sandbox pool's waiting children. */
const OWN_SPAWNER = / spawner( --sandbox-pool \d+)?( --monitor-pool \d+)?$/
/** A monitor of its monitor pool still waiting for a config (never claimed: no pod's). */
const POOLED_MONITOR = / monitor --config pooled$/

export const markedProcesses = (markers: ReadonlyArray<string>, pids: ReadonlyArray<number> = []): Array<string> => {
  const out: Array<string> = []
  for (const pid of fs.readdirSync("/proc").filter((p) => /^\d+$/.test(p))) {
    if (Number(pid) === process.pid) continue
    const c = cmdline(pid)
    // This process's own Runtime's spawner (helper/spawner.ts) lives as long as its layer, and
    // dies with this process (PDEATHSIG): not a pod's leftover. Nor is its waiting sandbox (forked,
    // never exec'd, so it shows the spawner's command line), which dies with the spawner.
    if (c !== undefined && (OWN_SPAWNER.test(c) || POOLED_MONITOR.test(c))) {
      const parent = parentOf(pid)
      if (parent === process.pid || (parent !== undefined && parentOf(String(parent)) === process.pid)) continue
    }
    if (c && markers.some((m) => c.includes(m)) && isAlive(Number(pid))) out.push(`${pid} ${c}`)
  }
  for (const pid of pids) if (isAlive(pid)) out.push(`${pid} ${cmdline(String(pid)) ?? "?"}`)
  return out
}

/**
 * Tank's own native processes (monitors, enter, init): those whose program is tank-helper or
 * tank-init — not every command line that mentions the name (a `make` building it, an editor).
 */
export const helperProcesses = (pids: ReadonlyArray<number> = []): Array<string> =>
  markedProcesses(["tank-helper", "tank-init"], pids).filter((line) => {
    const argv0 = line.split(" ")[1] ?? ""
    return /(^|\/)tank-(helper|init)$/.test(argv0) || pids.includes(Number(line.split(" ")[0]))
  })

/**
 * `<mount>/<base>` for every cgroup v1 hierarchy (memory, pids, cpu, cpuacct, devices, ...) and
 * the cgroup2 mount: everywhere Tank may create groups, whichever driver runs.
 */
export const tankCgroupDirs = (base = "tank"): Array<string> => [
  ...new Set(
    fs.readFileSync("/proc/self/mountinfo", "utf8").split("\n").filter(Boolean).flatMap((line) => {
      const f = line.split(" ")
      const fsType = f[f.indexOf("-") + 1]
      return fsType === "cgroup" || fsType === "cgroup2" ? [path.join(unescapeMount(f[4] ?? ""), base)] : []
    })
  )
]

const subdirs = (dir: string, depth = 3): Array<string> => {
  if (depth === 0 || !fs.existsSync(dir)) return []
  return fs.readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory()).flatMap((e) => {
    const p = path.join(dir, e.name)
    return [p, ...subdirs(p, depth - 1)]
  })
}

export const leakSnapshot = (o: LeakOptions = {}): Effect.Effect<LeakSnapshot> =>
  Effect.sync(() => ({
    mounts: hostMounts(o.pathPrefixes),
    processes: o.processMarkers
      ? markedProcesses(o.processMarkers, o.pids)
      : helperProcesses(o.pids),
    netns: o.netnsPrefix && fs.existsSync("/run/netns")
      ? fs.readdirSync("/run/netns").filter((n) => n.startsWith(o.netnsPrefix!))
      : [],
    cgroups: (o.cgroupDirs ?? []).flatMap((d) => subdirs(d)).filter((c) =>
      o.cgroupMarkers === undefined || o.cgroupMarkers.some((m) => c.includes(m))
    )
  }))

const newIn = (before: ReadonlyArray<string>, after: ReadonlyArray<string>) => {
  const b = new Set(before)
  return after.filter((x) => !b.has(x))
}

export const diffSnapshots = (before: LeakSnapshot, after: LeakSnapshot): LeakSnapshot => ({
  mounts: newIn(before.mounts, after.mounts),
  processes: newIn(before.processes.map((p) => p), after.processes),
  netns: newIn(before.netns, after.netns),
  cgroups: newIn(before.cgroups, after.cgroups)
})

const isEmpty = (l: LeakSnapshot) => l.mounts.length + l.processes.length + l.netns.length + l.cgroups.length === 0

/** Fails with LeakFound if anything new remains (checked for up to ~2 s). */
export const assertNoLeaks = (before: LeakSnapshot, o: LeakOptions = {}): Effect.Effect<void, LeakFound> =>
  leakSnapshot(o).pipe(
    Effect.map((after) => diffSnapshots(before, after)),
    Effect.flatMap((d) => isEmpty(d) ? Effect.void : Effect.fail(new LeakFound({ leaks: d }))),
    Effect.retry(Schedule.spaced("100 millis").pipe(Schedule.intersect(Schedule.recurs(20))))
  )

/** Run `self` between two snapshots; a leak fails the effect even if `self` succeeded. */
export const withLeakCheck =
  (o: LeakOptions = {}) => <A, E, R>(self: Effect.Effect<A, E, R>): Effect.Effect<A, E | LeakFound, R> =>
    Effect.gen(function*() {
      const before = yield* leakSnapshot(o)
      const exit = yield* Effect.exit(self)
      yield* assertNoLeaks(before, o)
      return yield* exit
    })
