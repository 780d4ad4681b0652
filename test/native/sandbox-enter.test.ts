/**
 * e2e (root): pod sandboxes (pinned net/uts/ipc) and `enter` (exec into a running workload):
 * every namespace joined (inode equality), the container's rootfs and hostname, the given cgroup,
 * exit code and signal passed through, nothing left mounted.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawnSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { helperPathCandidate } from "../../src/runtime/helper/binary.js"
import { enterArgs, type EnterOptions } from "../../src/runtime/helper/enter.js"
import { removeSandbox, sandbox } from "../../src/runtime/helper/sandbox.js"
import { assertNoLeaks, hostMounts, leakSnapshot } from "../support/leaks.js"
import { tmpDir } from "../support/tmp.js"
import { startRun } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const enter = (o: EnterOptions) => spawnSync(helperPathCandidate(), enterArgs(o), { encoding: "utf8", timeout: 20_000 })

const NS = ["mnt", "uts", "ipc", "net", "pid", "cgroup"] as const

/** A v1 pids cgroup at an absolute path, removed (after its processes are gone) with the scope. */
const pidsCgroup = Effect.acquireRelease(
  Effect.sync(() => {
    const dir = `/sys/fs/cgroup/pids/tank-native-test-${process.pid}-${Date.now()}`
    fs.mkdirSync(dir)
    return dir
  }),
  (dir) =>
    Effect.promise(async () => {
      for (let i = 0; i < 100; i++) {
        try {
          fs.rmdirSync(dir)
          return
        } catch {
          await new Promise((r) => setTimeout(r, 20))
        }
      }
    })
)

describe("Sandbox", () => {
  it.scopedLive("Sandbox_createRemove_pinsNamespaces_noMountsLeft", () =>
    Effect.gen(function*() {
      const base = yield* tmpDir("tank-native-sbx-")
      const dir = path.join(base, "ns")
      const before = yield* leakSnapshot({ pathPrefixes: [base] })
      const r = yield* sandbox({ dir, net: true, uts: true, ipc: true, hostname: "sbx-host" })
      expect(r).toEqual({ ok: true, dir, net: `${dir}/net`, uts: `${dir}/uts`, ipc: `${dir}/ipc` })
      const pins = hostMounts([dir]).filter((m) => m.includes(" nsfs "))
      expect(pins.map((m) => m.split(" ")[0]).sort()).toEqual([`${dir}/ipc`, `${dir}/net`, `${dir}/uts`])
      // The pinned net namespace is a different one from ours and has lo up.
      const own = fs.readlinkSync("/proc/self/ns/net")
      expect(pins.find((m) => m.startsWith(`${dir}/net`))).not.toContain(own.slice(5, -1))
      yield* removeSandbox(dir)
      expect(fs.existsSync(dir)).toBe(false)
      yield* assertNoLeaks(before, { pathPrefixes: [base] })
      yield* removeSandbox(dir) // idempotent
    }))

  it.scopedLive("Sandbox_badArgs_failsWithStep", () =>
    Effect.gen(function*() {
      const err = yield* Effect.flip(sandbox({ dir: "relative/dir", net: true }))
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "usage" })
    }))
})

describe("Enter", () => {
  it.scopedLive("Enter_joinsAllNamespaces_rootfsHostnameCgroup", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const base = yield* tmpDir("tank-native-enter-")
      const leakOpts = { pathPrefixes: [base], processMarkers: [base] }
      const before = yield* leakSnapshot(leakOpts)
      yield* Effect.scoped(Effect.gen(function*() {
        const dir = path.join(base, "ns")
        const sb = yield* Effect.acquireRelease(
          sandbox({ dir, net: true, uts: true, ipc: true, hostname: "pod-enter" }),
          () => Effect.orDie(removeSandbox(dir))
        )
        const cg = yield* pidsCgroup
        const run = yield* startRun(lower, {
          argv: ["sh", "-c", "echo marker > /tmp/marker; exec sleep 1000"],
          hostname: undefined,
          namespaces: { net: { join: sb.net! }, uts: { join: sb.uts! }, ipc: { join: sb.ipc! } }
        }, path.join(base, "run"))
        yield* run.client.proceed
        yield* Effect.sleep("100 millis")
        const pid = run.handle.pid
        const script = `hostname; cat /tmp/marker; cat /proc/self/cgroup | grep pids; echo $$; ` +
          NS.map((n) => `readlink /proc/self/ns/${n}`).join("; ")
        const r = enter({
          pid,
          startTime: run.handle.startTime,
          argv: ["sh", "-c", script],
          env: ["PATH=/bin"],
          cgroupProcs: [path.join(cg, "cgroup.procs")]
        })
        expect(r.stderr).toBe("")
        expect(r.status).toBe(0)
        const lines = r.stdout.trim().split("\n")
        expect(lines[0]).toBe("pod-enter")
        expect(lines[1]).toBe("marker")
        expect(lines[2]).toMatch(new RegExp(`pids:/${path.basename(cg)}$`))
        expect(Number(lines[3])).toBeLessThan(10) // a small pid: inside the container's pid namespace
        expect(lines.slice(4)).toEqual(NS.map((n) => fs.readlinkSync(`/proc/${pid}/ns/${n}`)))
        expect(lines.slice(4)).not.toContain(fs.readlinkSync("/proc/self/ns/net"))
        yield* run.client.stop(0)
        yield* run.client.release
      }))
      yield* assertNoLeaks(before, leakOpts)
    }))

  it.scopedLive("Enter_exitCodeSignalAndSetupErrors", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      yield* run.client.proceed
      const pid = run.handle.pid
      expect(enter({ pid, argv: ["sh", "-c", "exit 3"], env: ["PATH=/bin"] }).status).toBe(3)
      const killed = enter({ pid, argv: ["sh", "-c", "kill -USR1 $$"], env: ["PATH=/bin"] })
      expect(killed.signal).toBe("SIGUSR1")
      const missing = enter({ pid, argv: ["nope"], env: ["PATH=/bin"] })
      expect(missing.status).toBe(127)
      expect(JSON.parse(missing.stderr)).toMatchObject({ error: { step: "exec", errno: 2 } })
      const badCwd = enter({ pid, argv: ["true"], env: ["PATH=/bin"], cwd: "/nowhere" })
      expect(badCwd.status).toBe(126)
      expect(JSON.parse(badCwd.stderr)).toMatchObject({ error: { step: "chdir", errno: 2 } })
      const stale = enter({ pid, startTime: run.handle.startTime + 1, argv: ["true"] })
      expect(stale.status).toBe(125)
      expect(JSON.parse(stale.stderr)).toMatchObject({ error: { step: "open_ns_proc" } })
      const user = enter({
        pid,
        argv: ["id"],
        env: ["PATH=/bin"],
        uid: 1000,
        gid: 1000,
        groups: [10],
        capabilities: []
      })
      expect(user.stdout.trim()).toBe("uid=1000(tank) gid=1000(tank) groups=10(wheel)")
    }))
})
