import { describe, expect, it } from "@effect/vitest"
import { formatEvent, formatLogEntry, formatStatsTable, humanBytes, logEntryJson } from "../../src/observe/format.js"
import type { RawSample } from "../../src/observe/statsModel.js"
import { Ring, toStats } from "../../src/observe/statsModel.js"

const raw = (mono: number, over: Partial<RawSample> = {}): RawSample => ({
  pod: "web",
  at: new Date(1_700_000_000_000 + mono),
  mono,
  run: "r1",
  cgroup: { cpuUsageUsec: mono * 500, memoryBytes: 10_000_000, pids: 3 },
  containers: [{ name: "app", cgroup: { cpuUsageUsec: mono * 500, memoryBytes: 9_000_000, memoryLimitBytes: 64e6 } }],
  network: [
    { name: "lo", rxBytes: mono, txBytes: mono, rxPackets: 1, txPackets: 1 },
    { name: "eth0", rxBytes: 2 * mono, txBytes: mono, rxPackets: 1, txPackets: 1 }
  ],
  ...over
})

describe("stats model", () => {
  it("CPU percent and byte rates from two samples of the same run", () => {
    // 500 µs of CPU per ms of wall time = half a CPU.
    const s = toStats(raw(3000), raw(1000))
    expect(s.cpuPercent).toBeCloseTo(50)
    expect(s.containers[0]!.cpuPercent).toBeCloseTo(50)
    expect(s.network!.find((i) => i.name === "eth0")!.rxBytesPerSec).toBeCloseTo(2000)
    expect(s.netRxBytes).toBe(6000) // eth0 only: lo stays inside the pod
    // The pod group has no limit of its own: its containers' limits bound it.
    expect(s.memoryLimitBytes).toBe(64e6)
  })

  it("no rates without a previous sample, across runs, or when counters go back", () => {
    expect(toStats(raw(3000)).cpuPercent).toBeUndefined()
    expect(toStats(raw(3000, { run: "r2" }), raw(1000)).cpuPercent).toBeUndefined()
    const reset = raw(3000, { cgroup: { cpuUsageUsec: 5 } })
    expect(toStats(reset, raw(1000)).cpuPercent).toBeUndefined()
    // Host-network pods have no per-pod network.
    const host = toStats(raw(2000, { network: undefined }), raw(1000, { network: undefined }))
    expect(host.network).toBeUndefined()
    expect(host.netRxBytes).toBeUndefined()
  })

  it("ring buffer keeps the newest items in order", () => {
    const r = new Ring<number>(3)
    expect(r.toArray()).toEqual([])
    expect(r.last).toBeUndefined()
    for (let i = 1; i <= 5; i++) r.push(i)
    expect(r.toArray()).toEqual([3, 4, 5])
    expect(r.size).toBe(3)
    expect(r.last).toBe(5)
    r.clear()
    r.push(9)
    expect(r.toArray()).toEqual([9])
    expect(() => new Ring(0)).toThrow(RangeError)
  })
})

describe("formatters", () => {
  it("stats table like podman stats", () => {
    const table = formatStatsTable([
      toStats(raw(3000), raw(1000)),
      toStats(raw(2000, {
        pod: "db",
        network: undefined,
        containers: [{ name: "app", cgroup: { memoryBytes: 1 } }] // no limit anywhere: the host's memory
      }))
    ], 8e9)
    const lines = table.split("\n")
    expect(lines[0]).toMatch(/^NAME\s+CPU %\s+MEM USAGE \/ LIMIT\s+MEM %\s+PIDS\s+NET IO$/)
    expect(lines[1]).toMatch(/^web\s+50\.00%\s+10\.0MB \/ 64\.0MB\s+15\.63%\s+3\s+6\.00kB \/ 3\.00kB$/)
    expect(lines[2]).toMatch(/^db\s+--\s+10\.0MB \/ 8\.00GB\s+0\.13%\s+3\s+--$/)
    // Columns line up.
    expect(lines[1]!.indexOf("50.00%")).toBe(lines[0]!.indexOf("CPU %"))
    expect(humanBytes(999)).toBe("999B")
    expect(humanBytes(1_500_000)).toBe("1.50MB")
  })

  it("log lines and events", () => {
    const e = {
      container: "app",
      stream: "stderr" as const,
      at: new Date("2026-11-23T12:00:00.123Z"),
      ts: "2026-11-23T12:00:00.123456789Z",
      text: "oops",
      partial: false
    }
    expect(formatLogEntry(e)).toBe("oops")
    expect(formatLogEntry(e, { timestamps: true, container: true })).toBe("2026-11-23T12:00:00.123456789Z app | oops")
    expect(logEntryJson(e)).toEqual({ time: e.ts, container: "app", stream: "stderr", text: "oops" })
    expect(formatEvent({
      id: 3,
      at: "2026-11-23T12:00:00.000Z",
      pod: "web",
      type: "backing-off",
      restarts: 2,
      lastExit: { code: 1, at: "2026-11-23T12:00:00.000Z" },
      delayMs: 20_000
    })).toBe("2026-11-23T12:00:00.000Z web backing-off restarts=2 (exit code 1) retry in 20.0s")
  })
})
