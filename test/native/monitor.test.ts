/**
 * e2e (root): the monitor runs a real workload in real namespaces over an overlay of a busybox
 * rootfs. Each test checks what it claims from inside the container and that nothing leaks.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { helperPathCandidate } from "../../src/runtime/helper/binary.js"
import { capabilitiesFor } from "../../src/runtime/helper/defaults.js"
import { readExitFile } from "../../src/runtime/helper/monitor.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { expectExited, runDir, runToExit, startRun } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

describe("Monitor exit reporting", () => {
  it.scopedLive("Monitor_exit_codeReportedExactly", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, { argv: ["sh", "-c", "echo out; echo err >&2; exit 7"] })
      expect(expectExited(r.exit)).toBe(7)
      expect(r.stdout).toBe("out\n")
      expect(r.stderr).toBe("err\n")
      const file = yield* readExitFile(r.config.exitPath)
      expect(file._tag === "Some" && file.value).toEqual(r.exit)
      expect(r.exit.pid).toBe(r.handle.pid)
    }))

  it.scopedLive("Monitor_signal_reportedAsSignal", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      yield* run.client.proceed
      expect((yield* run.client.state).status).toBe("running")
      yield* run.client.signal(9)
      const exit = yield* run.client.wait
      expect(exit).toMatchObject({ reason: "signaled", signal: 9 })
    }))

  it.scopedLive("Monitor_pushedExit_answersWaitAndStopWithoutRoundTrip", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sh", "-c", "exit 3"] })
      yield* run.client.proceed
      // The monitor writes its "exited" event before the reply to a pending wait: after this
      // wait the client has seen it, whichever way this one was answered.
      const first = yield* run.client.wait
      expect(expectExited(first)).toBe(3)
      // A stopped monitor answers nothing: wait and stop must come from the pushed exit.
      process.kill(run.handle.monitorPid, "SIGSTOP")
      const again = yield* Effect.all([run.client.wait, run.client.stop(1000)]).pipe(
        Effect.timeout("3 seconds"),
        Effect.ensuring(Effect.sync(() => process.kill(run.handle.monitorPid, "SIGCONT")))
      )
      expect(again).toEqual([first, first])
      yield* run.client.release
    }))

  it.scopedLive("Monitor_setupFailure_missingCwd_stepAndErrno_noLeaks", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const before = yield* leakSnapshot({ pathPrefixes: ["/tmp/tank-native-"], processMarkers: ["tank-native-"] })
      const run = yield* startRun(lower, { argv: ["true"], cwd: "/does/not/exist" })
      const err = yield* Effect.flip(run.client.proceed)
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "chdir", errno: 2 })
      const exit = yield* run.client.wait
      expect(exit).toMatchObject({ reason: "setup_failed", setupError: { step: "chdir", errno: 2 } })
      yield* run.client.release
      yield* assertNoLeaks(before, {
        pathPrefixes: ["/tmp/tank-native-"],
        processMarkers: ["tank-native-"],
        pids: [run.handle.pid, run.handle.monitorPid]
      })
    }))

  it.scopedLive("Monitor_setupFailure_badLowerdir_mountRootfs", () =>
    Effect.gen(function*() {
      const r = yield* runToExit("/nonexistent/lower", { argv: ["true"] }).pipe(
        Effect.catchTag("MonitorSetupFailed", (e) => Effect.succeed(e))
      )
      expect(r).toMatchObject({ _tag: "MonitorSetupFailed", step: "mount_rootfs", errno: 2 })
    }))

  it.scopedLive("Monitor_setupFailure_whileParked_proceedAfterTheExit_getsTheSetupError", () =>
    Effect.gen(function*() {
      // The rootfs is set up while parked: its failure can end the workload before the agent's
      // proceed arrives; that proceed must still get the setup error (not `not_parked`).
      const run = yield* startRun("/nonexistent/lower", { argv: ["true"] })
      const exit = yield* run.client.wait
      expect(exit).toMatchObject({ reason: "setup_failed", setupError: { step: "mount_rootfs", errno: 2 } })
      const err = yield* Effect.flip(run.client.proceed)
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "mount_rootfs", errno: 2 })
      yield* run.client.release
    }))

  it.scopedLive("Monitor_setupFailure_missingExecutable_exec", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["no-such-binary"] })
      const err = yield* Effect.flip(run.client.proceed)
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "exec", errno: 2 })
    }))

  it.scopedLive("Monitor_setupFailure_beforeReady_missingNetns_nothingRuns", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const before = yield* leakSnapshot({ processMarkers: ["tank-native-"] })
      const err = yield* Effect.flip(
        startRun(lower, { namespaces: { net: { join: "/nonexistent/net" }, uts: "new", ipc: "new" } })
      )
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "open_ns_net", errno: 2 })
      const err2 = yield* Effect.flip(
        startRun(lower, { cgroupProcs: ["/sys/fs/cgroup/pids/no-such-tank-group/cgroup.procs"] })
      )
      expect(err2).toMatchObject({ _tag: "MonitorSetupFailed", step: "cgroup_join", errno: 2 })
      yield* assertNoLeaks(before, { processMarkers: ["tank-native-"] })
    }))

  it.scopedLive("Monitor_abort_atCheckpoint", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      expect((yield* run.client.state).status).toBe("parked")
      yield* run.client.abort
      const exit = yield* run.client.wait
      expect(exit).toMatchObject({ reason: "setup_failed", setupError: { step: "aborted" } })
    }))
})

describe("Monitor isolation", () => {
  // The parked workload mounts its rootfs while the agent's proceed is on its way, but everything
  // that changes who it is or what it may do (ids, capabilities, no_new_privs, seccomp, the image's
  // program) waits for proceed (spawn.c child_main): a profile denying recvmsg could not keep the
  // proceed out, and nothing of the image runs before the agent says so.
  it.scopedLive("Monitor_parked_rootfsBeforeProceed_identityAndRestrictionsOnlyAfter", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const dir = yield* runDir
      const profile = path.join(dir, "profile.json")
      const filter = path.join(dir, "filter.bpf")
      fs.writeFileSync(
        profile,
        JSON.stringify({ defaultAction: "SCMP_ACT_ALLOW", syscalls: [{ names: ["swapon"], action: "SCMP_ACT_ERRNO" }] })
      )
      execFileSync(helperPathCandidate(), ["seccomp-compile", "--profile", profile, "--out", filter])
      const run = yield* startRun(lower, {
        argv: ["sleep", "600"],
        uid: 1000,
        gid: 1000,
        groups: [1000],
        capabilities: capabilitiesFor(1000),
        noNewPrivileges: true,
        seccomp: filter
      }, dir)
      const pid = run.handle.pid
      const status = () => fs.readFileSync(`/proc/${pid}/status`, "utf8")
      const field = (text: string, name: string) => new RegExp(`^${name}:\\s*(.*)$`, "m").exec(text)?.[1]
      const exe = () => fs.statSync(`/proc/${pid}/exe`).ino
      const helperIno = fs.statSync(helperPathCandidate()).ino
      // Before proceed: the overlay becomes its root (pivot_root) without any proceed...
      const rootIsOverlay = () =>
        fs.readFileSync(`/proc/${pid}/mountinfo`, "utf8").split("\n").some((l) => / \/ \S+ .* - overlay /.test(l))
      for (let i = 0; i < 200 && !rootIsOverlay(); i++) yield* Effect.sleep("10 millis")
      expect(rootIsOverlay()).toBe(true)
      // ...while it is still the helper, root, with the monitor's capabilities and no restriction.
      const before = status()
      expect(exe()).toBe(helperIno)
      expect(field(before, "Uid")).toBe("0\t0\t0\t0")
      expect(field(before, "CapEff")).toBe(
        field(fs.readFileSync(`/proc/${run.handle.monitorPid}/status`, "utf8"), "CapEff")
      )
      expect(field(before, "NoNewPrivs")).toBe("0")
      expect(field(before, "Seccomp")).toBe("0")
      yield* run.client.proceed
      // After it (proceed answers once the exec happened): the workload, as 1000, restricted.
      const after = status()
      expect(exe()).not.toBe(helperIno)
      expect(field(after, "Uid")).toBe("1000\t1000\t1000\t1000")
      expect(field(after, "CapEff")).toBe("0000000000000000")
      expect(field(after, "NoNewPrivs")).toBe("1")
      expect(field(after, "Seccomp")).toBe("2")
    }))

  it.scopedLive("Monitor_pidns_workloadIsPid1_psSeesOnlyOwn", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const r = yield* runToExit(lower, {
        argv: ["sh", "-c", "echo pid=$$; ps -o pid,comm > /tmp/ps; tail -n +2 /tmp/ps"]
      })
      const lines = r.stdout.trim().split("\n").map((l) => l.trim().split(/\s+/))
      expect(lines[0]).toEqual(["pid=1"])
      // Exactly the shell (pid 1) and ps itself: nothing of the host is visible.
      expect(lines.slice(1).map((l) => l[1])).toEqual(["sh", "ps"])
      expect(lines[1]![0]).toBe("1")
    }))

  it.scopedLive("Monitor_identity_hostnameEtcEnvCwdUser", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* runDirWithEtc()
      const r = yield* runToExit(lower, {
        argv: [
          "sh",
          "-c",
          "hostname; cat /etc/hosts /etc/hostname /etc/resolv.conf; echo G=$GREETING; pwd; id -u; id -g; id -G"
        ],
        env: ["PATH=/bin", "GREETING=hello tank"],
        cwd: "/home/tank",
        uid: 1000,
        gid: 1000,
        groups: [1000, 10],
        capabilities: { bounding: [], effective: [], permitted: [], inheritable: [], ambient: [] },
        hostname: "pod-one",
        etcFiles: [
          { source: path.join(run, "hosts"), target: "/etc/hosts" },
          { source: path.join(run, "hostname"), target: "/etc/hostname" },
          { source: path.join(run, "resolv.conf"), target: "/etc/resolv.conf" }
        ]
      })
      expect(r.stdout.split("\n")).toEqual([
        "pod-one",
        "127.0.0.1\tlocalhost pod-one",
        "pod-one",
        "nameserver 10.0.0.1",
        "G=hello tank",
        "/home/tank",
        "1000",
        "1000",
        "1000 10",
        ""
      ])
    }))

  it.scopedLive("Monitor_volumes_rwAndRo_roGivesEROFS", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const rw = yield* runDirWithEtc()
      const ro = yield* runDirWithEtc()
      fs.writeFileSync(path.join(ro, "seed"), "seed\n")
      const r = yield* runToExit(lower, {
        argv: [
          "sh",
          "-c",
          "echo written > /data/out && cat /conf/seed && (echo x > /conf/new) 2>&1; grep -E ' /(data|conf) ' /proc/mounts | cut -d' ' -f2,4 | cut -d, -f1"
        ],
        volumes: [{ source: rw, target: "/data" }, { source: ro, target: "/conf", readOnly: true }]
      })
      expect(fs.readFileSync(path.join(rw, "out"), "utf8")).toBe("written\n")
      expect(fs.existsSync(path.join(ro, "new"))).toBe(false)
      expect(r.stdout).toContain("seed\n")
      expect(r.stdout).toContain("Read-only file system")
      expect(r.stdout).toContain("/data rw\n")
      expect(r.stdout).toContain("/conf ro\n")
    }))

  it.scopedLive("Monitor_overlay_lowerUnchangedAfterWritesEverywhere", () =>
    Effect.gen(function*() {
      const { treeFingerprint } = yield* Effect.promise(() => import("./rootfs.js"))
      const lower = yield* busyboxRootfs
      const before = treeFingerprint(lower)
      const r = yield* runToExit(lower, {
        argv: [
          "sh",
          "-c",
          "echo x >> /etc/passwd; rm /bin/ls; mkdir -p /srv/new; touch /bin/extra; chmod 700 /tmp; echo done"
        ]
      })
      expect(r.stdout).toBe("done\n")
      expect(treeFingerprint(lower)).toBe(before)
      expect(fs.existsSync(path.join(r.config.rootfs.upperdir, "srv/new"))).toBe(true)
      expect(fs.readFileSync(path.join(r.config.rootfs.upperdir, "etc/passwd"), "utf8")).toMatch(/x\n$/)
    }))
})

describe("Monitor rootfs", () => {
  it.scopedLive("Monitor_overlay_manyLongLowerdirs_beyondOnePage", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const extra = yield* runDirWithEtc()
      // 40 layers with ~150-byte paths: the lowerdir option alone is ~6 KiB, over mount(2)'s page.
      const layers = Array.from({ length: 40 }, (_, i) => {
        const d = path.join(extra, "layer-" + "x".repeat(120), String(i).padStart(3, "0"))
        fs.mkdirSync(d, { recursive: true })
        fs.writeFileSync(path.join(d, `from-${i}`), String(i))
        return d
      })
      const r2 = yield* runToExit(lower, (dir) => ({
        argv: ["sh", "-c", "ls / | grep -c from-; cat /from-7"],
        rootfs: {
          lowerdirs: [layers[0]!, ...layers.slice(1), lower],
          upperdir: path.join(dir, "upper"),
          workdir: path.join(dir, "work"),
          merged: path.join(dir, "merged")
        }
      }))
      expect(r2.stdout).toBe("40\n7")
    }))
})

const runDirWithEtc = () =>
  Effect.gen(function*() {
    const { tmpDir } = yield* Effect.promise(() => import("../support/tmp.js"))
    const d = yield* tmpDir("tank-native-etc-")
    fs.writeFileSync(path.join(d, "hosts"), "127.0.0.1\tlocalhost pod-one\n")
    fs.writeFileSync(path.join(d, "hostname"), "pod-one\n")
    fs.writeFileSync(path.join(d, "resolv.conf"), "nameserver 10.0.0.1\n")
    return d
  })

describe("Monitor config validation", () => {
  const runRaw = (dir: string, raw: unknown) =>
    Effect.gen(function*() {
      const { helperPath } = yield* Effect.promise(() => import("../../src/runtime/helper/binary.js"))
      const { runForLine } = yield* Effect.promise(() => import("../../src/runtime/helper/exec.js"))
      const file = path.join(dir, "raw.json")
      fs.writeFileSync(file, typeof raw === "string" ? raw : JSON.stringify(raw))
      const r = yield* runForLine(yield* helperPath, ["monitor", "--config", file])
      return { code: r.code, out: JSON.parse(r.line) as { error?: { step: string; errno: number; message: string } } }
    })

  it.scopedLive("Config_rejected_withFieldNamed_nothingCreated", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const { baseConfig, runDir } = yield* Effect.promise(() => import("./harness.js"))
      const dir = yield* runDir
      const good = baseConfig(dir, lower)
      const cases: Array<[unknown, RegExp]> = [
        ["{not json", /not a JSON object/],
        [{ ...good, version: 2 }, /`version` must be 1/],
        [{ ...good, argv: [] }, /`argv` must be a non-empty array/],
        [{ ...good, cwd: "relative" }, /`cwd` must be absolute/],
        [{ ...good, capabilities: { ...good.capabilities, bounding: ["CAP_NOPE"] } }, /capabilities.bounding\[0\]/],
        [{ ...good, namespaces: { net: "bogus", uts: "new", ipc: "new" } }, /namespaces.net/],
        [{ ...good, namespaces: { ...good.namespaces, uts: "host" } }, /`hostname` needs/],
        [{ ...good, rootfs: { ...good.rootfs, lowerdirs: ["/a:b"] } }, /lowerdirs\[0\]/]
      ]
      for (const [raw, message] of cases) {
        const r = yield* runRaw(dir, raw)
        expect(r.code).toBe(1)
        expect(r.out.error).toMatchObject({ step: "config", errno: 22 })
        expect(r.out.error!.message).toMatch(message)
      }
      expect(fs.existsSync(good.socketPath)).toBe(false)
    }))

  it.scopedLive("Config_socketOfLiveMonitor_notDisplaced", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const run = yield* startRun(lower, { argv: ["sleep", "1000"] })
      const r = yield* Effect.flip(startRun(lower, { argv: ["true"], socketPath: run.config.socketPath }))
      expect(r).toMatchObject({ _tag: "MonitorSetupFailed", step: "socket", errno: 98 })
      expect((yield* run.client.state).status).toBe("parked")
    }))
})
