import { describe, expect, it } from "@effect/vitest"
import { Either } from "effect"
import { cgroupMounts, chooseDriver } from "../../src/cgroups/detect.js"
import { v1Writes, v2Writes } from "../../src/cgroups/limits.js"
import { relativeDir, validatePath } from "../../src/cgroups/model.js"
import { parseMountinfo, parseMountinfoLine } from "../../src/cgroups/mountinfo.js"
import { parseProcCgroups } from "../../src/cgroups/procCgroups.js"
import { parsePids } from "../../src/cgroups/remove.js"
import { parseCount, parseFlatKeyed, v1Stats, v2Stats } from "../../src/cgroups/statsParse.js"

// This machine (Debian 12 VM, kernel 6.18): separate v1 hierarchies, cgroup2 with hugetlb only.
const HYBRID_HERE = `23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
36 31 0:33 / /sys/fs/cgroup/devices rw,relatime - cgroup cgroup rw,devices
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
38 31 0:35 / /sys/fs/cgroup/blkio rw,relatime - cgroup cgroup rw,blkio
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
`
const PROC_CGROUPS_HERE = `#subsys_name	hierarchy	num_cgroups	enabled
cpuset	3	1	1
cpu	1	1	1
cpuacct	2	1	1
blkio	7	1	1
memory	4	22	1
devices	5	1	1
freezer	6	1	1
net_cls	0	1	1
perf_event	0	1	1
net_prio	0	1	1
hugetlb	0	1	1
pids	8	1	1
`
// A systemd hybrid host (Ubuntu 20.04 style): cpu and cpuacct co-mounted, optional fields present.
const HYBRID_SYSTEMD = `25 24 0:22 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:9 - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
27 25 0:24 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,xattr,name=systemd
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,cpu,cpuacct
31 25 0:28 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,memory
32 25 0:29 / /sys/fs/cgroup/cpuset,mems\\040x rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,cpuset,clone_children
33 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:17 - cgroup cgroup rw,pids
90 31 0:28 /docker/abc /mnt/inner-memory rw,relatime - cgroup cgroup rw,memory
`
// A pure v2 host.
const UNIFIED =
  `29 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
`

describe("mountinfo", () => {
  it("parses fields, optional fields and the separator", () => {
    const e = parseMountinfoLine(
      "36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue"
    )
    expect(e).toEqual({
      id: 36,
      parentId: 35,
      root: "/mnt1",
      mountPoint: "/mnt2",
      mountOptions: ["rw", "noatime"],
      fsType: "ext3",
      source: "/dev/root",
      superOptions: ["rw", "errors=continue"]
    })
  })
  it("unescapes octal escapes in paths", () => {
    const entries = parseMountinfo(HYBRID_SYSTEMD)
    expect(entries.find((e) => e.id === 32)?.mountPoint).toBe("/sys/fs/cgroup/cpuset,mems x")
  })
  it("skips malformed and empty lines", () => {
    expect(parseMountinfo("garbage\n\n1 2 3\n" + UNIFIED)).toHaveLength(1)
  })
})

describe("/proc/cgroups", () => {
  it("parses hierarchy numbers and enabled flags, skipping the header", () => {
    const entries = parseProcCgroups(PROC_CGROUPS_HERE + "rdma\t0\t1\t0\n")
    expect(entries.find((e) => e.name === "memory")).toEqual({
      name: "memory",
      hierarchy: 4,
      numCgroups: 22,
      enabled: true
    })
    expect(entries.find((e) => e.name === "rdma")?.enabled).toBe(false)
    expect(entries).toHaveLength(13)
  })
})

describe("detection", () => {
  it("this machine: v1 with separate cpu and cpuacct hierarchies, devices for the allow list, cpuset not used", () => {
    const mounts = cgroupMounts(parseMountinfo(HYBRID_HERE), parseProcCgroups(PROC_CGROUPS_HERE))
    expect(mounts.v2).toBe("/sys/fs/cgroup/unified")
    const d = chooseDriver(mounts, ["hugetlb"])
    expect(d).toEqual(Either.right({
      driver: "v1",
      hierarchies: [
        { mountPoint: "/sys/fs/cgroup/cpu", controllers: ["cpu"] },
        { mountPoint: "/sys/fs/cgroup/cpuacct", controllers: ["cpuacct"] },
        { mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"] },
        { mountPoint: "/sys/fs/cgroup/devices", controllers: ["devices"] },
        { mountPoint: "/sys/fs/cgroup/pids", controllers: ["pids"] }
      ]
    }))
  })
  it("systemd hybrid: a co-mount is one hierarchy, a bind of a subtree loses to the root mount", () => {
    const d = chooseDriver(cgroupMounts(parseMountinfo(HYBRID_SYSTEMD)), [])
    expect(Either.getOrThrow(d)).toEqual({
      driver: "v1",
      hierarchies: [
        { mountPoint: "/sys/fs/cgroup/cpu,cpuacct", controllers: ["cpu", "cpuacct"] },
        { mountPoint: "/sys/fs/cgroup/memory", controllers: ["memory"] },
        { mountPoint: "/sys/fs/cgroup/pids", controllers: ["pids"] }
      ]
    })
  })
  it("pure v2 host: the v2 driver on the cgroup2 mount", () => {
    const d = chooseDriver(cgroupMounts(parseMountinfo(UNIFIED)), ["cpuset", "cpu", "io", "memory", "pids"])
    expect(Either.getOrThrow(d)).toEqual({
      driver: "v2",
      root: "/sys/fs/cgroup",
      controllers: ["cpuset", "cpu", "io", "memory", "pids"]
    })
  })
  it("a controller disabled on the command line is not used", () => {
    const procs = parseProcCgroups("#h\nmemory\t4\t1\t0\npids\t8\t1\t1\n")
    const mounts = cgroupMounts(parseMountinfo(HYBRID_HERE), procs)
    expect(mounts.v1.some((h) => h.controllers.includes("memory"))).toBe(false)
    // memory is nowhere usable, pids still is on v1
    expect(Either.getOrThrow(chooseDriver(mounts, ["hugetlb"])).driver).toBe("v1")
  })
  it("no cgroup filesystem at all is an error", () => {
    expect(Either.isLeft(chooseDriver(cgroupMounts(parseMountinfo(HYBRID_HERE.split("\n")[0]!)), undefined))).toBe(true)
  })
})

describe("limits → writes", () => {
  const limits = { memory: 64 << 20, pids: 20, cpu: { quota: 50_000, period: 100_000 } }
  it("v1: limit_in_bytes, pids.max, cfs period before quota", () => {
    expect(Either.getOrThrow(v1Writes(limits))).toEqual([
      { controller: "memory", file: "memory.limit_in_bytes", value: "67108864" },
      { controller: "pids", file: "pids.max", value: "20" },
      { controller: "cpu", file: "cpu.cfs_period_us", value: "100000" },
      { controller: "cpu", file: "cpu.cfs_quota_us", value: "50000" }
    ])
  })
  it("v2: memory.max, pids.max, cpu.max \"quota period\"", () => {
    expect(Either.getOrThrow(v2Writes(limits))).toEqual([
      { controller: "memory", file: "memory.max", value: "67108864" },
      { controller: "pids", file: "pids.max", value: "20" },
      { controller: "cpu", file: "cpu.max", value: "50000 100000" }
    ])
  })
  it("no limits, no writes; bad numbers are refused", () => {
    expect(Either.getOrThrow(v1Writes({}))).toEqual([])
    expect(Either.getOrThrow(v2Writes({}))).toEqual([])
    expect(v1Writes({ pids: 1.5 })).toEqual(Either.left("pids must be an integer ≥ 1 (got 1.5)"))
    expect(Either.isLeft(v2Writes({ cpu: { quota: 50_000, period: 10 } }))).toBe(true)
    expect(Either.isLeft(v2Writes({ memory: -1 }))).toBe(true)
  })
})

describe("stats files", () => {
  it("flat keyed files and counts", () => {
    expect(parseFlatKeyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n").get("oom_kill")).toBe("3")
    expect(parseCount("max\n")).toBeUndefined()
    expect(parseCount("9223372036854771712\n")).toBeUndefined()
    expect(parseCount("67108864\n")).toBe(67108864)
    expect(parseCount(undefined)).toBeUndefined()
    expect(parsePids("12\n345\n\n")).toEqual([12, 345])
  })
  it("v1: ns → µs, unlimited memory absent, a pod group sums its containers' OOM kills", () => {
    expect(v1Stats({
      "cpuacct.usage": "123456789\n",
      "cpu.stat": "nr_periods 10\nnr_throttled 4\nthrottled_time 2000000\n",
      "memory.usage_in_bytes": "4096\n",
      "memory.max_usage_in_bytes": "8192\n",
      "memory.limit_in_bytes": "9223372036854771712\n",
      "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 1\n",
      "pids.current": "3\n",
      "pids.max": "max\n"
    }, [2, 0])).toEqual({
      cpuUsageUsec: 123456,
      cpuThrottledUsec: 2000,
      memoryBytes: 4096,
      memoryPeakBytes: 8192,
      oomKills: 3,
      pids: 3
    })
  })
  it("v2: cpu.stat, memory.events, absent memory.peak stays absent", () => {
    expect(v2Stats({
      "cpu.stat": "usage_usec 5000\nuser_usec 3000\nsystem_usec 2000\nnr_periods 0\nnr_throttled 0\nthrottled_usec 7\n",
      "memory.current": "1048576\n",
      "memory.max": "67108864\n",
      "memory.events": "low 0\nhigh 0\nmax 5\noom 1\noom_kill 1\noom_group_kill 0\n",
      "pids.current": "1\n",
      "pids.max": "20\n"
    })).toEqual({
      cpuUsageUsec: 5000,
      cpuThrottledUsec: 7,
      memoryBytes: 1048576,
      memoryLimitBytes: 67108864,
      oomKills: 1,
      pids: 1,
      pidsLimit: 20
    })
  })
})

describe("paths", () => {
  it("names must be DNS labels; the relative dir is tank/<pod>[/<container>]", () => {
    expect(validatePath({ pod: "web-1", container: "app" })).toBeUndefined()
    expect(validatePath({ pod: ".." })?.code).toBe("EINVAL")
    expect(validatePath({ pod: "a", container: "x/y" })?.message).toContain("container name")
    expect(relativeDir("tank", { pod: "p" })).toBe("tank/p")
    expect(relativeDir("tank", { pod: "p", container: "c" })).toBe("tank/p/c")
  })
})
