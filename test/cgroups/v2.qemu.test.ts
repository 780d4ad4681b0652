/**
 * The v2 driver on a real cgroup2 kernel: this host is a v1/v2 hybrid whose memory, pids and cpu
 * cannot move to cgroup2 (reference/infra.md §5), so the test boots Debian's stock kernel under
 * qemu (TCG, cgroup_no_v1=all) with a busybox initramfs and this machine's node, runs guest.ts
 * (bundled by esbuild) inside, and asserts here on what it observed. ~20 s.
 *
 * The guest also gets native/tank-helper (the v2 driver's device port) and the static `devopen`
 * probe, and attacks the device allow list with them.
 *
 * Needs qemu-system-x86, the kernel (`test/cgroups/qemu/run-v2.sh fetch`) and a built helper;
 * skipped without them.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync, spawnSync } from "node:child_process"
import * as nfs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { fileURLToPath } from "node:url"
import { helperPathCandidate } from "../../src/runtime/helper/binary.js"
import { probe } from "../support/probe.js"

const here = path.dirname(fileURLToPath(import.meta.url))
const script = path.join(here, "qemu", "run-v2.sh")
const available = spawnSync(script, ["check"]).status === 0 && nfs.existsSync(helperPathCandidate())

describe.skipIf(!available)("v2 driver on a real cgroup2 kernel under qemu", () => {
  it("limits, accounts, OOM-kills, stops a fork loop, denies devices, removes", { timeout: 300_000 }, async () => {
    const dir = nfs.mkdtempSync(path.join(os.tmpdir(), "tank-qemu-bundle-"))
    try {
      const { build } = await import("esbuild")
      await build({
        entryPoints: [path.join(here, "qemu", "guest.ts")],
        bundle: true,
        platform: "node",
        format: "esm",
        outfile: path.join(dir, "guest.mjs"),
        logLevel: "warning"
      })
      const files = [path.join(dir, "guest.mjs"), helperPathCandidate(), probe("devopen")]
      const output = execFileSync(script, ["run", ...files], {
        encoding: "utf8",
        timeout: 280_000,
        maxBuffer: 16 << 20
      })
      const line = output.split(/\r?\n/).find((l) => l.startsWith("TANK-RESULT "))
      expect(line, output.split(/\r?\n/).filter((l) => l.startsWith("TANK-")).join("\n")).toBeDefined()
      const obs = JSON.parse(line!.slice("TANK-RESULT ".length))

      expect(obs.detected).toMatchObject({ driver: "v2", root: "/sys/fs/cgroup" })
      expect(obs.controllers).toEqual(["memory", "pids", "cpu"])
      // controllers enabled down the tree, limits on the leaf
      for (const f of ["rootSubtree", "tankSubtree", "podSubtree"]) {
        expect(obs.files[f].split(" ").sort()).toEqual(["cpu", "memory", "pids"])
      }
      expect(obs.files).toMatchObject({ memoryMax: "67108864", pidsMax: "20", cpuMax: "50000 100000" })
      expect(obs.procsFiles).toEqual(["/sys/fs/cgroup/tank/qpod/app/cgroup.procs"])
      // the process joined the leaf and is accounted there and in the pod group
      expect(obs.procCgroup).toBe("0::/tank/qpod/app")
      expect(obs.stats.pids).toBe(1)
      expect(obs.stats.memoryBytes).toBeGreaterThan(0)
      expect(obs.stats.memoryLimitBytes).toBe(64 << 20)
      expect(obs.stats.pidsLimit).toBe(20)
      expect(obs.stats.oomKills).toBe(0)
      expect(obs.podStats.pids).toBe(1)
      // the kernel's no-internal-processes rule holds for the pod group
      expect(obs.podJoin).toBe("EBUSY")
      expect(obs.listed).toEqual(["qpod"])
      // closing the scope killed the task (cgroup.kill) and removed the groups
      expect(obs.sleepExit.signal).toBe("SIGKILL")
      expect(obs.podLeft).toBe(false)
      // pids.max stops a fork loop
      expect(obs.bomb.exit.stderr).toMatch(/fork/i)
      expect(obs.bomb.events).toMatch(/^max [1-9]/)
      expect(obs.bomb.stats.pids).toBeLessThanOrEqual(20)
      expect(obs.bomb.left).toBe(false)
      // memory.max gets the allocation OOM-killed, memory.events counts it (pod group too)
      expect(obs.oom.exit.signal).toBe("SIGKILL")
      expect(obs.oom.stats.oomKills).toBe(1)
      expect(obs.oom.podStats.oomKills).toBe(1)
      expect(obs.oom.stats.memoryPeakBytes).toBeLessThanOrEqual(32 << 20)
      expect(obs.oom.left).toBe(false)
      // device allow list: mknod allowed, opening a host device EPERM under the default rules
      expect(obs.devices.defaults).toEqual({
        loop: "ok/EPERM",
        kvm: "ok/EPERM",
        kmsg: "ok/EPERM",
        null: "ok/ok",
        zero: "ok/ok"
      })
      // re-applied with kmsg: exactly that device opens (so the first program was replaced, not stacked)
      expect(obs.devices.withKmsg).toEqual({
        loop: "ok/EPERM",
        kvm: "ok/EPERM",
        kmsg: "ok/ok",
        null: "ok/ok",
        zero: "ok/ok"
      })
      // with the loop device instead: the program lets it through to the kernel, which has no loop
      // driver in this guest (ENXIO, not EPERM), and kmsg is denied again
      expect(obs.devices.withLoop).toEqual({ loop: "ok/ENXIO", kmsg: "ok/EPERM" })
      // the helper replaced the one program there with its own: one program attached
      expect(obs.devices.helper.detached).toHaveLength(1)
      expect(obs.devices.helper.attached).toEqual([obs.devices.helper.programId])
      expect(obs.devices.afterHelper).toEqual({ kmsg: "ok/EPERM", null: "ok/ok" })
      // the pod group's program (the union, without kvm) applies to its containers too
      expect(obs.devices.kvmUnderPod).toEqual({ kvm: "ok/EPERM" })
      expect(obs.devices.left).toBe(false)
      expect(obs.finalList).toEqual([])
    } finally {
      nfs.rmSync(dir, { recursive: true, force: true })
    }
  })
})
