/**
 * e2e (root): `init` in the monitor config (PROTOCOL.md §3) makes tank-init PID 1 of the container.
 * A workload without signal handlers stops at the stop signal instead of at the SIGKILL after the
 * grace period; orphans of a double-forking workload are reaped; exit codes pass through (a
 * signal as 128 + N). Each claim has its control without init.
 */
import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { spawn } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { initPathCandidate } from "../../src/runtime/helper/binary.js"
import { expectExited, runToExit, startRun, streamText } from "./harness.js"
import { busyboxRootfs } from "./rootfs.js"

const init = initPathCandidate()

/** Processes in the pid namespace of `pid` (host pids) and their states. */
const inNamespaceOf = (pid: number) => {
  const ns = fs.readlinkSync(`/proc/${pid}/ns/pid`)
  const out: Array<{ pid: number; state: string }> = []
  for (const e of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(e)) continue
    try {
      if (fs.readlinkSync(path.join("/proc", e, "ns/pid")) !== ns) continue
      const stat = fs.readFileSync(path.join("/proc", e, "stat"), "utf8")
      out.push({ pid: Number(e), state: stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) })
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** `procs`: stop only once that many processes run in the container (an init of the image's own has
 * forked, so it has blocked its signals: one sent before that would be dropped, as in any runtime). */
const stopTook = (over: Record<string, unknown>, graceMs: number, rootfs?: string, procs = 0) =>
  Effect.gen(function*() {
    const lower = rootfs ?? (yield* busyboxRootfs)
    const run = yield* startRun(lower, { argv: ["sleep", "600"], ...over })
    yield* run.client.proceed
    while (inNamespaceOf(run.handle.pid).length < procs) yield* Effect.sleep("2 millis")
    const t0 = Date.now()
    const exit = yield* run.client.stop(graceMs)
    return { ms: Date.now() - t0, exit }
  })

describe("tank-init (live, root)", () => {
  it.scopedLive("sleep as the workload stops at SIGTERM under init; without it only by SIGKILL", () =>
    Effect.gen(function*() {
      const withInit = yield* stopTook({ init }, 10_000)
      expect(withInit.ms).toBeLessThan(1_000)
      // sleep died of SIGTERM; PID 1 reports it as 128 + 15.
      expect(withInit.exit).toMatchObject({ reason: "exited", exitCode: 128 + 15 })
      // Without init, sleep is PID 1 without a handler: SIGTERM is dropped by the kernel, and the
      // monitor, seeing no handler, sends the SIGKILL without waiting out the grace period.
      const without = yield* stopTook({}, 60_000)
      expect(without.ms).toBeLessThan(30_000)
      expect(without.exit).toMatchObject({ reason: "signaled", signal: 9 })
    }))

  it.scopedLive(
    "a stop under CPU load never ends a sigwaiting init by SIGKILL, ours or the image's own",
    () =>
      Effect.gen(function*() {
        const lower = yield* busyboxRootfs
        // The image's own init: tank-init copied into the image and run as the workload (like tini in
        // an image), so the monitor knows nothing of it and must judge by /proc what became of the stop.
        fs.copyFileSync(init, path.join(lower, "bin/own-init"))
        fs.chmodSync(path.join(lower, "bin/own-init"), 0o755)
        // Busy loops on every core: the monitor's look at /proc (status, then syscall) used to straddle
        // the init's wake from sigwaitinfo, read "dropped" and send the SIGKILL at once (9 of 80 stops
        // under this load before the fix; CI at 8b17bf2 once).
        const hogs = Array.from(
          { length: 3 },
          () => spawn("/bin/sh", ["-c", "while :; do :; done"], { stdio: "ignore" })
        )
        yield* Effect.addFinalizer(() => Effect.sync(() => hogs.forEach((h) => h.kill("SIGKILL"))))
        const stops = (over: Record<string, unknown>, procs: number) =>
          Effect.gen(function*() {
            const exits: Array<unknown> = []
            for (let i = 0; i < 25; i++) exits.push((yield* stopTook(over, 10_000, lower, procs)).exit)
            return exits
          })
        // Ours is stopped right after the proceed: nothing sent to it is dropped, even then.
        const ours = yield* stops({ argv: ["sleep", "600"], init }, 0)
        const own = yield* stops({ argv: ["/bin/own-init", "/bin/sleep", "sleep", "600"] }, 2)
        for (const exit of [...ours, ...own]) expect(exit).toMatchObject({ reason: "exited", exitCode: 128 + 15 })
      }),
    120_000
  )

  it.scopedLive("a SIGTERM sent with the proceed is queued for tank-init; the workload starts with nothing blocked", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // Both requests leave together: the monitor sends the SIGTERM right after forwarding the
      // proceed, while its child is still changing identity, before tank-init exists. That child is
      // PID 1 without a handler: the kernel would drop the signal unless it is blocked there, and
      // then tank-init takes it from its queue and forwards it.
      const run = yield* startRun(lower, { argv: ["sleep", "600"], init })
      yield* Effect.all([run.client.proceed, run.client.signal(15)], { concurrency: "unbounded" })
      const exit = yield* run.client.wait.pipe(
        Effect.timeoutFail({ duration: "5 seconds", onTimeout: () => new Error("the SIGTERM was lost: still running") })
      )
      expect(exit).toMatchObject({ reason: "exited", exitCode: 128 + 15 })
      // tank-init runs with everything blocked; what it forks must not inherit that.
      const r = yield* runToExit(lower, { argv: ["grep", "^SigBlk", "/proc/self/status"], init })
      expect(r.stdout).toBe("SigBlk:\t0000000000000000\n")
    }))

  it.scopedLive("orphans of a double-forking workload are reaped under init; without it they stay zombies", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // Three background sleeps whose parent subshell exits at once: re-parented to PID 1, they end
      // after 0.1 s. PID 1 of the control is `sleep`, which never waits for anyone.
      const script = "for i in 1 2 3; do (sleep 0.1 &); done; exec sleep 600"
      const zombiesAfter = (over: Record<string, unknown>) =>
        Effect.gen(function*() {
          const run = yield* startRun(lower, { argv: ["sh", "-c", script], ...over })
          yield* run.client.proceed
          yield* Effect.sleep("800 millis")
          const procs = inNamespaceOf(run.handle.pid)
          yield* run.client.signal(9)
          yield* run.client.wait
          return procs
        })
      const reaped = yield* zombiesAfter({ init })
      expect(reaped.filter((p) => p.state === "Z")).toEqual([])
      // tank-init and the workload: nothing else is left.
      expect(reaped.length).toBe(2)
      const control = yield* zombiesAfter({})
      expect(control.filter((p) => p.state === "Z").length).toBe(3)
    }))

  it.scopedLive("exit codes pass through, a signal ends as 128 + N, a missing command fails the setup", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const code = yield* runToExit(lower, { argv: ["sh", "-c", "echo via-init; exit 7"], init })
      expect(expectExited(code.exit)).toBe(7)
      expect(code.stdout).toBe("via-init\n")
      const killed = yield* runToExit(lower, { argv: ["sh", "-c", "kill -USR1 $$"], init })
      expect(expectExited(killed.exit)).toBe(128 + 10)
      // A missing command is a setup failure, as without init (not an exit code of tank-init).
      const run = yield* startRun(lower, { argv: ["/nope"], init })
      const err = yield* Effect.flip(run.client.proceed)
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "exec", errno: 2 })
      expect(yield* run.client.wait).toMatchObject({ reason: "setup_failed", setupError: { step: "exec" } })
    }))

  it.scopedLive("on a tty the workload's process group is the terminal's foreground group (^C reaches it)", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      // /proc/self/stat: field 5 the process group, field 8 the terminal's foreground group.
      const r = yield* runToExit(lower, { argv: ["sh", "-c", "cat /proc/self/stat"], tty: true, init })
      const stat = streamText(r.log, "tty").trim()
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ")
      expect(fields[2]).not.toBe("1") // not tank-init's group
      expect(fields[5]).toBe(fields[2])
    }))

  it.scopedLive("a missing init binary fails the start (step init), nothing left running", () =>
    Effect.gen(function*() {
      const lower = yield* busyboxRootfs
      const err = yield* Effect.flip(startRun(lower, { argv: ["true"], init: "/nonexistent/tank-init" }))
      expect(err).toMatchObject({ _tag: "MonitorSetupFailed", step: "init", errno: 2 })
    }))
})
