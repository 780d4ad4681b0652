/**
 * A small cgroupfs simulator for the driver tests: a real temp dir, plus the kernel rules the
 * drivers depend on, behind the drivers' `CgroupFs` seam.
 *
 * - mkdir populates the control files of the hierarchy's controllers (v1) or of the controllers
 *   the parent enables in cgroup.subtree_control (v2); a missing parent is ENOENT.
 * - writes go only to existing control files (ENOENT otherwise) and are checked like the kernel
 *   does for the files Tank writes (EINVAL on malformed values, ENOSPC joining an empty v1 cpuset,
 *   v2 subtree_control needs the controller in cgroup.controllers, v2 no-internal-processes rule).
 * - rmdir removes the control files with the directory, and is EBUSY while the group has tasks or
 *   child groups.
 * - v1 devices: `devices.list` holds the group's state as the kernel prints it (`a *:* rwm` when
 *   allowing everything, else the allowed exceptions); a new group copies its parent's. `a` to
 *   devices.deny/allow is EINVAL while the group has children; an allow the parent does not cover
 *   is EPERM; a deny in a deny-by-default group removes access bits of the exact exception and
 *   drops what the children then hold beyond their parent (the kernel's propagation).
 * - tasks are fake pids written to cgroup.procs; `kill` marks them dying and they leave their
 *   group after `exitDelay` further rmdir attempts (a killed task leaves asynchronously).
 */
import { Effect } from "effect"
import * as nfs from "node:fs"
import * as path from "node:path"
import type { CgroupFs } from "../../src/cgroups/Cgroups.js"
import { CgroupError } from "../../src/cgroups/Cgroups.js"

const V1_FILES: Record<string, Record<string, string>> = {
  memory: {
    "memory.limit_in_bytes": "9223372036854771712",
    "memory.usage_in_bytes": "0",
    "memory.max_usage_in_bytes": "0",
    "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0"
  },
  pids: { "pids.max": "max", "pids.current": "0" },
  cpu: {
    "cpu.cfs_period_us": "100000",
    "cpu.cfs_quota_us": "-1",
    "cpu.stat": "nr_periods 0\nnr_throttled 0\nthrottled_time 0"
  },
  cpuacct: { "cpuacct.usage": "0" },
  devices: { "devices.allow": "", "devices.deny": "", "devices.list": "a *:* rwm" },
  cpuset: { "cpuset.cpus": "", "cpuset.mems": "" }
}
const V2_FILES: Record<string, Record<string, string>> = {
  memory: {
    "memory.max": "max",
    "memory.current": "0",
    "memory.peak": "0",
    "memory.events": "max 0\noom 0\noom_kill 0"
  },
  pids: { "pids.max": "max", "pids.current": "0" },
  cpu: { "cpu.max": "max 100000" }
}

export interface FakeOptions {
  /** rmdir attempts a killed task survives (default 0: gone by the next rmdir). */
  readonly exitDelay?: number
  /** v2: offer cgroup.kill (kernel ≥ 5.14; default true). */
  readonly cgroupKill?: boolean
}

export class FakeCgroupfs {
  /** Every operation, e.g. "mkdir <dir>", "write <file> <value>" (paths relative to the root). */
  readonly log: Array<string> = []
  readonly killed: Array<number> = []
  private readonly dying = new Map<number, number>()

  private constructor(
    readonly root: string,
    private readonly mode: "v1" | "v2",
    /** v1: mount point → controllers; v2: the single root. */
    private readonly hierarchies: ReadonlyMap<string, ReadonlyArray<string>>,
    private readonly options: FakeOptions
  ) {}

  /** v1: one directory per hierarchy under `root`, e.g. `{ "cpu,cpuacct": ["cpu", "cpuacct"] }`. */
  static v1(root: string, hierarchies: Record<string, ReadonlyArray<string>>, options: FakeOptions = {}) {
    const map = new Map(Object.entries(hierarchies).map(([dir, cs]) => [path.join(root, dir), cs] as const))
    const fake = new FakeCgroupfs(root, "v1", map, options)
    for (const [mount, cs] of map) {
      nfs.mkdirSync(mount, { recursive: true })
      fake.populateV1(mount, cs)
      if (cs.includes("cpuset")) {
        nfs.writeFileSync(`${mount}/cpuset.cpus`, "0-1\n")
        nfs.writeFileSync(`${mount}/cpuset.mems`, "0\n")
      }
    }
    return fake
  }

  /** v2: a cgroup2 root offering `controllers`. */
  static v2(root: string, controllers: ReadonlyArray<string>, options: FakeOptions = {}) {
    const fake = new FakeCgroupfs(root, "v2", new Map([[root, controllers]]), options)
    nfs.mkdirSync(root, { recursive: true })
    fake.put(root, "cgroup.controllers", controllers.join(" "))
    fake.put(root, "cgroup.subtree_control", "")
    fake.put(root, "cgroup.procs", "")
    fake.put(root, "cpu.stat", "usage_usec 0")
    return fake
  }

  readonly fs: CgroupFs = {
    mkdir: (p) => this.op("mkdir", p, () => this.mkdir(p)),
    rmdir: (p) => this.op("rmdir", p, () => this.rmdir(p)),
    write: (p, v) => this.op("write", p, () => this.write(p, v), v),
    // logged like separate writes: the kernel sees one write(2) per value either way
    writeEach: (p, vs) => Effect.forEach(vs, (v) => this.op("write", p, () => this.write(p, v), v), { discard: true }),
    read: (p) => this.op("read", p, () => this.read(p)),
    subdirs: (p) => this.op("readdir", p, () => this.subdirs(p)),
    kill: (pid) =>
      Effect.sync(() => {
        this.log.push(`kill ${pid}`)
        this.killed.push(pid)
        if (!this.dying.has(pid)) this.dying.set(pid, this.options.exitDelay ?? 0)
      })
  }

  /** Reads a file as the test sees it (trimmed). */
  file(rel: string): string {
    return nfs.readFileSync(path.join(this.root, rel), "utf8").trim()
  }
  exists(rel: string): boolean {
    return nfs.existsSync(path.join(this.root, rel))
  }
  /** Puts a fake task into a group, as a process joining it would. */
  addTask(relDir: string, pid: number) {
    this.movePid(path.join(this.root, relDir), pid)
  }
  /** Sets a counter file (what the kernel would report). */
  setFile(rel: string, value: string) {
    nfs.writeFileSync(path.join(this.root, rel), value + "\n")
  }
  /** Deletes a control file (to model an older kernel without it). */
  removeFile(rel: string) {
    nfs.rmSync(path.join(this.root, rel))
  }
  rel(p: string) {
    return path.relative(this.root, p)
  }

  private op<A>(name: string, p: string, f: () => A, value?: string): Effect.Effect<A, CgroupError> {
    return Effect.suspend(() => {
      this.log.push(value === undefined ? `${name} ${this.rel(p)}` : `${name} ${this.rel(p)} ${value}`)
      try {
        return Effect.succeed(f())
      } catch (e) {
        const code = (e as { code?: string }).code ?? "EIO"
        return Effect.fail(new CgroupError({ op: name, path: p, code, message: `${name} ${p}: ${code}` }))
      }
    })
  }

  private fail(code: string): never {
    throw Object.assign(new Error(code), { code })
  }

  private put(dir: string, file: string, value: string) {
    nfs.writeFileSync(path.join(dir, file), value === "" ? "" : value + "\n")
  }

  private hierarchyOf(p: string): [string, ReadonlyArray<string>] {
    for (const [mount, cs] of this.hierarchies) {
      if (p === mount || p.startsWith(mount + "/")) return [mount, cs]
    }
    return this.fail("ENOENT")
  }

  private populateV1(dir: string, controllers: ReadonlyArray<string>) {
    for (const f of ["cgroup.procs", "tasks", "notify_on_release"]) {
      this.put(dir, f, f === "notify_on_release" ? "0" : "")
    }
    for (const c of controllers) for (const [f, v] of Object.entries(V1_FILES[c] ?? {})) this.put(dir, f, v)
    // a new devices group starts as a copy of its parent's state
    const parentList = path.join(path.dirname(dir), "devices.list")
    if (controllers.includes("devices") && nfs.existsSync(parentList)) {
      this.put(dir, "devices.list", nfs.readFileSync(parentList, "utf8").trim())
    }
  }

  private populateV2(dir: string, enabled: ReadonlyArray<string>) {
    this.put(dir, "cgroup.controllers", enabled.join(" "))
    this.put(dir, "cgroup.subtree_control", "")
    this.put(dir, "cgroup.procs", "")
    this.put(dir, "cpu.stat", "usage_usec 0\nthrottled_usec 0")
    if (this.options.cgroupKill ?? true) this.put(dir, "cgroup.kill", "")
    for (const c of enabled) for (const [f, v] of Object.entries(V2_FILES[c] ?? {})) this.put(dir, f, v)
  }

  private words(dir: string, file: string) {
    return nfs.readFileSync(path.join(dir, file), "utf8").split(/\s+/).filter((w) => w !== "")
  }

  private mkdir(p: string): boolean {
    const [, cs] = this.hierarchyOf(path.dirname(p))
    if (nfs.existsSync(p)) return false
    if (!nfs.existsSync(path.dirname(p))) this.fail("ENOENT")
    nfs.mkdirSync(p)
    if (this.mode === "v1") this.populateV1(p, cs)
    else this.populateV2(p, this.words(path.dirname(p), "cgroup.subtree_control"))
    return true
  }

  private subdirs(p: string): Array<string> {
    if (!nfs.existsSync(p)) this.fail("ENOENT")
    return nfs.readdirSync(p, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name)
  }

  private rmdir(p: string) {
    if (!nfs.existsSync(p)) this.fail("ENOENT")
    this.reapDying()
    if (this.subdirs(p).length > 0 || this.words(p, "cgroup.procs").length > 0) this.fail("EBUSY")
    nfs.rmSync(p, { recursive: true })
  }

  private read(p: string): string {
    if (!nfs.existsSync(p) || nfs.statSync(p).isDirectory()) this.fail("ENOENT")
    return nfs.readFileSync(p, "utf8")
  }

  private reapDying() {
    for (const [pid, left] of this.dying) {
      if (left > 0) {
        this.dying.set(pid, left - 1)
      } else {
        this.dying.delete(pid)
        this.removePid(pid)
      }
    }
  }

  private allDirs(dir: string): Array<string> {
    return [dir, ...this.subdirs(dir).flatMap((d) => this.allDirs(path.join(dir, d)))]
  }

  private removePid(pid: number) {
    for (const [mount] of this.hierarchies) {
      for (const d of this.allDirs(mount)) {
        const pids = this.words(d, "cgroup.procs")
        if (pids.includes(String(pid))) this.put(d, "cgroup.procs", pids.filter((x) => x !== String(pid)).join("\n"))
      }
    }
  }

  private movePid(dir: string, pid: number) {
    const [mount] = this.hierarchyOf(dir)
    for (const d of this.allDirs(mount)) {
      const pids = this.words(d, "cgroup.procs").filter((x) => x !== String(pid))
      if (d === dir) pids.push(String(pid))
      this.put(d, "cgroup.procs", pids.join("\n"))
    }
  }

  private write(p: string, value: string) {
    if (!nfs.existsSync(p) || nfs.statSync(p).isDirectory()) this.fail("ENOENT")
    const dir = path.dirname(p)
    const [mount] = this.hierarchyOf(dir)
    const file = path.basename(p)
    const v = value.trim()
    const int = /^\d+$/
    switch (file) {
      case "cgroup.procs": {
        if (!int.test(v)) this.fail("EINVAL")
        if (
          this.mode === "v1" && nfs.existsSync(path.join(dir, "cpuset.cpus")) &&
          this.words(dir, "cpuset.cpus").length === 0
        ) {
          this.fail("ENOSPC")
        }
        if (this.mode === "v2" && dir !== mount && this.words(dir, "cgroup.subtree_control").length > 0) {
          this.fail("EBUSY")
        }
        return this.movePid(dir, Number(v))
      }
      case "cgroup.kill": {
        if (v !== "1") this.fail("EINVAL")
        for (const d of this.allDirs(dir)) {
          for (const pid of this.words(d, "cgroup.procs")) this.fs.kill(Number(pid)).pipe(Effect.runSync)
        }
        return
      }
      case "cgroup.subtree_control":
        return this.subtreeControl(dir, mount, v)
      case "devices.allow":
      case "devices.deny":
        return this.devices(dir, mount, file === "devices.allow", v)
      case "memory.limit_in_bytes":
      case "pids.max":
      case "memory.max":
        if (!int.test(v) && !(v === "max" && file !== "memory.limit_in_bytes") && v !== "-1") this.fail("EINVAL")
        break
      case "cpu.cfs_period_us":
        if (!int.test(v) || Number(v) < 1000 || Number(v) > 1_000_000) this.fail("EINVAL")
        break
      case "cpu.cfs_quota_us":
        if (v !== "-1" && (!int.test(v) || Number(v) < 1000)) this.fail("EINVAL")
        break
      case "cpu.max":
        if (!/^(max|\d+)( \d+)?$/.test(v)) this.fail("EINVAL")
        break
    }
    this.put(dir, file, v)
  }

  private deviceList(dir: string): Array<DevEntry> | "all" {
    const lines = nfs.readFileSync(path.join(dir, "devices.list"), "utf8").split("\n").filter((l) => l.trim() !== "")
    const entries = lines.map((l) => parseDev(l) ?? this.fail("EIO"))
    return entries.some((e) => e.type === "a") ? "all" : entries
  }

  private putDeviceList(dir: string, list: Array<DevEntry> | "all") {
    this.put(dir, "devices.list", list === "all" ? "a *:* rwm" : list.map(formatDev).join("\n"))
  }

  private devices(dir: string, mount: string, allow: boolean, v: string) {
    const children = this.subdirs(dir)
    const parent = dir === mount ? "all" : this.deviceList(path.dirname(dir))
    if (v === "a") {
      if (children.length > 0) this.fail("EINVAL")
      if (allow && parent !== "all") this.fail("EPERM")
      return this.putDeviceList(dir, allow ? "all" : [])
    }
    const ex = parseDev(v) ?? this.fail("EINVAL")
    const list = this.deviceList(dir)
    if (list === "all") return // deny exceptions of an allow-all group are not shown in devices.list
    if (allow) {
      if (parent !== "all" && !parent.some((p) => covers(p, ex))) this.fail("EPERM")
      const same = list.find((e) => sameKey(e, ex))
      if (same) same.access = mergeAccess(same.access, ex.access)
      else list.push({ ...ex, access: mergeAccess("", ex.access) })
      return this.putDeviceList(dir, list)
    }
    const kept = list.flatMap((e) => {
      if (!sameKey(e, ex)) return [e]
      const access = [...e.access].filter((c) => !ex.access.includes(c)).join("")
      return access === "" ? [] : [{ ...e, access }]
    })
    this.putDeviceList(dir, kept)
    this.revalidate(dir)
  }

  /** Drops from the children (recursively) whatever the group no longer covers. */
  private revalidate(dir: string) {
    const mine = this.deviceList(dir)
    for (const child of this.subdirs(dir)) {
      const cdir = path.join(dir, child)
      const theirs = this.deviceList(cdir)
      if (mine !== "all") {
        this.putDeviceList(cdir, theirs === "all" ? [...mine] : theirs.filter((e) => mine.some((p) => covers(p, e))))
      }
      this.revalidate(cdir)
    }
  }

  private subtreeControl(dir: string, mount: string, v: string) {
    const available = this.words(dir, "cgroup.controllers")
    const enabled = new Set(this.words(dir, "cgroup.subtree_control"))
    for (const token of v.split(/\s+/).filter((t) => t !== "")) {
      const c = token.slice(1)
      if (!token.startsWith("+") && !token.startsWith("-")) this.fail("EINVAL")
      if (!available.includes(c)) this.fail("ENOENT")
      if (token.startsWith("+")) enabled.add(c)
      else enabled.delete(c)
    }
    if (dir !== mount && enabled.size > 0 && this.words(dir, "cgroup.procs").length > 0) this.fail("EBUSY")
    this.put(dir, "cgroup.subtree_control", [...enabled].join(" "))
    for (const child of this.subdirs(dir)) {
      const cdir = path.join(dir, child)
      this.put(cdir, "cgroup.controllers", [...enabled].join(" "))
      for (const [c, files] of Object.entries(V2_FILES)) {
        for (const [f, init] of Object.entries(files)) {
          const fp = path.join(cdir, f)
          if (enabled.has(c) && !nfs.existsSync(fp)) this.put(cdir, f, init)
          if (!enabled.has(c) && nfs.existsSync(fp)) nfs.rmSync(fp)
        }
      }
    }
  }
}

interface DevEntry {
  type: string
  major: string
  minor: string
  access: string
}

const parseDev = (line: string): DevEntry | undefined => {
  const m = /^([abc]) (\*|\d+):(\*|\d+) ([rwm]+)$/.exec(line.trim())
  return m ? { type: m[1]!, major: m[2]!, minor: m[3]!, access: m[4]! } : undefined
}
const formatDev = (e: DevEntry) => `${e.type} ${e.major}:${e.minor} ${e.access}`
const sameKey = (a: DevEntry, b: DevEntry) => a.type === b.type && a.major === b.major && a.minor === b.minor
const mergeAccess = (a: string, b: string) => ["r", "w", "m"].filter((c) => a.includes(c) || b.includes(c)).join("")
/** The kernel's match_exception: the parent's entry includes the child's. */
const covers = (p: DevEntry, e: DevEntry) =>
  (p.type === "a" || p.type === e.type) && (p.major === "*" || p.major === e.major) &&
  (p.minor === "*" || p.minor === e.minor) && [...e.access].every((c) => p.access.includes(c))
