/**
 * exec end to end (root): real pods from busybox images under the live Runtime; the captured and
 * streaming forms in-process, the interactive form in a separate client process under a real PTY.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Either, Fiber, Schedule } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { PassThrough } from "node:stream"
import { type CaptureOptions, execCapture, execInteractive, execStream } from "../../src/exec/Exec.js"
import { podLayout } from "../../src/runtime/layout.js"
import { readRecord, viewOf } from "../../src/runtime/record.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { clientInPty, resultOf, sttyAround } from "./pty.js"
import { Machine, MachineLive, onMachine, podName, RUN_TAG, startPod } from "./support.js"

const sleeper = (name: string, extra: Record<string, unknown> = {}) => ({
  name,
  restart: "never",
  containers: [{ name: "app", ...extra }]
})

const leakOpts = (dataDir: string) => ({ pathPrefixes: [dataDir], processMarkers: [RUN_TAG] })

const run = (pod: string, argv: ReadonlyArray<string>, opts: CaptureOptions & { readonly encoding?: "utf8" } = {}) =>
  onMachine(execCapture(pod, argv, opts))

/** The host pid of the process with this exact cmdline in a cgroup.procs file (retried briefly). */
const findInCgroup = (procsFile: string, cmdline: string) =>
  Effect.retry(
    Effect.suspend(() => {
      const found = fs.readFileSync(procsFile, "utf8").split("\n").filter(Boolean).find((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, "utf8") === cmdline
        } catch {
          return false
        }
      })
      return found ? Effect.succeed(Number(found)) : Effect.fail(`no ${cmdline} in ${procsFile}`)
    }),
    { times: 250, schedule: Schedule.spaced("20 millis") }
  )

/** Dead: gone, or a zombie (an orphan is re-parented to the pod's pid 1, which need not reap it). */
const alive = (pid: number) => {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z"
  } catch {
    return false
  }
}

const gone = (pid: number) =>
  Effect.retry(
    Effect.suspend(() => alive(pid) ? Effect.fail(`${pid} alive`) : Effect.void),
    { times: 250, schedule: Schedule.spaced("20 millis") }
  )

const recordOf = (dataDir: string, pod: string) =>
  Effect.map(
    readRecord(pod, podLayout(dataDir, pod).record),
    (o) => o._tag === "Some" ? viewOf(o.value) : assert.fail("no record")
  )

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("exec (live, root)", (it) => {
  it.scoped("runs inside the pod: its rootfs, hostname, pid/net/uts/ipc/mnt namespaces, cgroups, env, cwd", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const before = yield* leakSnapshot(leakOpts(env.dataDir))
      const name = podName("exec-ns")
      yield* Effect.scoped(Effect.gen(function*() {
        const h = yield* startPod(sleeper(name, {
          image: env.refs.busybox,
          command: ["sleep", "3600"],
          env: { FOO: "spec" },
          workingDir: "/tmp"
        }))
        // A file only the image has (not the host's).
        assert.isFalse(fs.existsSync("/var/www/index.html"))
        assert.strictEqual((yield* run(name, ["cat", "/var/www/index.html"])).stdout, "hello from tank httpd\n")
        assert.strictEqual((yield* run(name, ["hostname"])).stdout.trim(), name)
        // pid 1 is the pod's own process, and the pid namespace holds nothing else of the host.
        assert.strictEqual((yield* run(name, ["cat", "/proc/1/cmdline"])).stdout, "sleep\u00003600\u0000")
        // Namespace membership, compared by inode with the workload's on the host.
        const types = ["net", "pid", "uts", "ipc", "mnt"]
        const inside = (yield* run(name, ["sh", "-c", types.map((t) => `readlink /proc/self/ns/${t}`).join(";")]))
          .stdout.trim().split("\n")
        const workload = types.map((t) => fs.readlinkSync(`/proc/${h.hostPid}/ns/${t}`))
        const host = types.map((t) => fs.readlinkSync(`/proc/self/ns/${t}`))
        assert.deepStrictEqual(inside, workload)
        for (let i = 0; i < types.length; i++) assert.notStrictEqual(inside[i], host[i], types[i])
        // A network "none" pod: the exec'd process sees the pod's interfaces (lo only), not the host's.
        assert.strictEqual((yield* run(name, ["ls", "/sys/class/net"])).stdout.trim(), "lo")
        assert.match((yield* run(name, ["ip", "-o", "link"])).stdout.trim(), /^1: lo: /)
        assert.strictEqual((yield* run(name, ["ip", "-o", "link"])).stdout.trim().split("\n").length, 1)
        // env: the container's (image + spec), the caller's merged last; cwd: the container's.
        const e = yield* run(name, ["sh", "-c", "echo $FOO $BAR $TERM; pwd"], { env: { BAR: "caller" } })
        assert.strictEqual(e.stdout, "spec caller\n/tmp\n") // no TERM without a terminal
        assert.strictEqual((yield* run(name, ["pwd"], { cwd: "/var/www", env: { FOO: "x" } })).stdout, "/var/www\n")
        // cgroups: a long exec shows up in the container's cgroup.procs (host pid of its process).
        const record = yield* recordOf(env.dataDir, name)
        const fiber = yield* Effect.fork(run(name, ["sleep", "3601"]))
        const sleepPid = yield* findInCgroup(record.containers[0]!.cgroupProcs[0]!, "sleep\u00003601\u0000")
        for (const procs of record.containers[0]!.cgroupProcs) {
          assert.include(fs.readFileSync(procs, "utf8").split("\n"), String(sleepPid), procs)
        }
        assert.strictEqual(fs.readlinkSync(`/proc/${sleepPid}/ns/pid`), workload[1])
        // Leaving (interrupting) the exec ends its process; the pod keeps running.
        yield* Fiber.interrupt(fiber)
        yield* gone(sleepPid)
        assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`))
      }))
      yield* assertNoLeaks(before, leakOpts(env.dataDir))
    }))

  it.scoped("runs as the workload does: its user, groups, working dir and capability sets", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const caps = (status: string) =>
        Object.fromEntries(
          status.split("\n").filter((l) => /^Cap(Eff|Prm|Bnd|Amb|Inh):/.test(l)).map((l) => l.split(/:\s+/))
        )
      for (const image of [env.refs.busyboxUser, env.refs.busybox]) {
        const name = podName("exec-id")
        const h = yield* startPod(sleeper(name, { image, command: ["sleep", "3600"] }))
        const workload = fs.readFileSync(`/proc/${h.hostPid}/status`, "utf8")
        const r = yield* run(name, ["sh", "-c", "id; pwd; cat /proc/self/status"])
        const [id, cwd] = r.stdout.split("\n")
        const uid = /^Uid:\s+(\d+)/m.exec(workload)![1]
        assert.match(id!, new RegExp(`^uid=${uid}\\(`))
        if (uid === "1000") assert.strictEqual(cwd, "/home/tank")
        assert.strictEqual(/^Groups:(.*)$/m.exec(r.stdout)![1]!.trim(), /^Groups:(.*)$/m.exec(workload)![1]!.trim())
        assert.deepStrictEqual(caps(r.stdout), caps(workload), `caps of exec vs workload (uid ${uid})`)
      }
    }))

  // `enter` leaves the inheritable set empty, as the workload's is (CVE-2022-24769).
  it.scoped("the exec's inheritable capability set is empty, like the workload's", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-inh")
      const h = yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      const inh = (status: string) => /^CapInh:\s+(\S+)/m.exec(status)?.[1]
      const r = yield* run(name, ["cat", "/proc/self/status"])
      assert.strictEqual(inh(r.stdout), inh(fs.readFileSync(`/proc/${h.hostPid}/status`, "utf8")))
    }))

  it.scoped("exit codes and signals pass through; typed errors for what cannot run", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-rc")
      const h = yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      const r42 = yield* run(name, ["sh", "-c", "echo out; echo err >&2; exit 42"])
      assert.deepStrictEqual(r42, { exitCode: 42, stdout: "out\n", stderr: "err\n" })
      const killed = yield* run(name, ["sh", "-c", "kill -9 $$"])
      assert.deepStrictEqual([killed.exitCode, killed.signal], [null, 9])
      // A command's own 127 is its exit code, not a helper failure.
      assert.strictEqual((yield* run(name, ["sh", "-c", "exit 127"])).exitCode, 127)
      const notFound = yield* Effect.either(run(name, ["no-such-command"]))
      assert.isTrue(Either.isLeft(notFound))
      const nf = Either.getLeft(notFound).pipe((o) => o._tag === "Some" ? o.value : assert.fail("no error"))
      assert.strictEqual(nf._tag, "EnterFailed")
      if (nf._tag === "EnterFailed") assert.deepInclude(nf, { step: "exec", errno: 2, exitCode: 127, container: "app" })
      const badCwd = yield* Effect.flip(run(name, ["true"], { cwd: "/no/such/dir" }))
      assert.deepInclude(badCwd, { _tag: "EnterFailed", step: "chdir", errno: 2, exitCode: 126 })
      const input = yield* run(name, ["sh", "-c", "tr a-z A-Z"], { input: "piped in\n" })
      assert.strictEqual(input.stdout, "PIPED IN\n")
      const bin = yield* onMachine(execCapture(name, ["head", "-c", "4", "/dev/urandom"], { encoding: "buffer" }))
      assert.strictEqual(bin.stdout.length, 4)

      const unknown = yield* Effect.flip(run(podName("nope"), ["true"]))
      assert.strictEqual(unknown._tag, "NotRunning")
      assert.strictEqual((yield* Effect.flip(run("../../etc", ["true"])))._tag, "NotRunning")
      const noContainer = yield* Effect.flip(run(name, ["true"], { container: "other" }))
      assert.deepInclude(noContainer, { _tag: "ContainerNotFound", container: "other", available: ["app"] })

      // The workload exits: the record is still there (the run is not torn down yet) but exec refuses.
      const short = podName("exec-done")
      const h2 = yield* startPod(sleeper(short, { image: env.refs.busybox, command: ["sh", "-c", "exit 0"] }))
      yield* h2.wait
      const gone = yield* Effect.flip(run(short, ["true"]))
      assert.strictEqual(gone._tag, "NotRunning")
      assert.match(gone.message, /exited/)
      assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`)) // the other pod is untouched by all this
    }))

  it.scoped("the streaming form passes stdin, stdout, stderr and the exit code through", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-stream")
      yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      const stdin = new PassThrough()
      const stdout = new PassThrough()
      const stderr = new PassThrough()
      const out: Array<Buffer> = []
      const err: Array<Buffer> = []
      stdout.on("data", (d: Buffer) => out.push(d))
      stderr.on("data", (d: Buffer) => err.push(d))
      const fiber = yield* Effect.fork(
        onMachine(execStream(name, ["sh", "-c", "while read l; do echo \"got $l\"; echo \"e $l\" >&2; done; exit 3"], {
          stdin,
          stdout,
          stderr
        }))
      )
      stdin.write("one\n")
      stdin.end("two\n")
      const r = yield* Fiber.join(fiber)
      assert.deepStrictEqual(r, { exited: 3 })
      assert.strictEqual(Buffer.concat(out).toString(), "got one\ngot two\n")
      assert.strictEqual(Buffer.concat(err).toString(), "e one\ne two\n")
    }))

  it.scoped("interactive under a real PTY: commands, window size and resize, Ctrl-C, exit code, terminal restored", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-tty")
      const h = yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      const t = yield* clientInPty(env.dataDir, ["exec", name, "--", "sh"], { cols: 101, rows: 31 })
      yield* t.waitFor(/@@PID \d+@@/)
      yield* t.waitFor(/\/ # /) // the container shell's prompt
      let m = t.mark()
      t.write("echo $((6*7)) $TERM $(hostname)\r")
      yield* t.waitFor(new RegExp(`42 xterm ${name}`), m)
      // The terminal comes from the container's own devpts: `tty` names a device that exists inside.
      m = t.mark()
      t.write("T=$(tty) && test -c $T && echo TTY=$T\r")
      yield* t.waitFor(/TTY=\/dev\/pts\/\d+/, m)
      m = t.mark()
      t.write("stty size\r")
      yield* t.waitFor(/\b31 101\b/, m)
      // The caller's window changes: SIGWINCH in the client → the exec's terminal follows.
      t.resize(120, 40)
      yield* Effect.sleep("300 millis")
      m = t.mark()
      t.write("stty size\r")
      yield* t.waitFor(/\b40 120\b/, m)
      // Ctrl-C reaches the container's foreground process (raw mode: it is a byte, not our SIGINT).
      m = t.mark()
      t.write("sleep 100\r")
      yield* Effect.sleep("500 millis")
      t.write("\x03")
      yield* t.waitFor(/\^C/, m, 5_000)
      m = t.mark()
      t.write("echo after=$?\r")
      yield* t.waitFor(/after=130/, m, 5_000) // 128 + SIGINT: sleep died of the signal
      // A second concurrent session; leaving it does not stop the pod.
      const t2 = yield* clientInPty(env.dataDir, ["exec", name, "--", "sh", "-c", "echo second; exit 4"])
      assert.deepStrictEqual(yield* resultOf(t2), { exited: 4 })
      // Ctrl-P Ctrl-Q is input for exec (no detach): the session goes on.
      m = t.mark()
      t.write("stty raw -echo; head -c 2 | od -An -tx1; stty sane\r")
      yield* Effect.sleep("500 millis")
      t.write("\x10")
      t.write("\x11")
      yield* t.waitFor(/10 11/, m)
      t.write("exit 5\r")
      assert.deepStrictEqual(yield* resultOf(t), { exited: 5 })
      const { after, before } = yield* sttyAround(t)
      assert.strictEqual(after, before)
      assert.match(t.output(), /@@RC 0@@/)
      assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`), "the pod keeps running")
    }))

  it.scoped("in-process with injected streams; interrupting the session hangs it up, the pod stays", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-hup")
      const h = yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      const stdin = new PassThrough()
      const stdout = new PassThrough()
      let text = ""
      stdout.on("data", (d: Buffer) => (text += d.toString("utf8")))
      const seen = (re: RegExp) =>
        Effect.retry(Effect.suspend(() => re.test(text) ? Effect.void : Effect.fail(text)), {
          times: 250,
          schedule: Schedule.spaced("20 millis")
        })
      const fiber = yield* Effect.fork(onMachine(execInteractive(name, ["sh"], {
        stdin,
        stdout,
        size: () => ({ rows: 20, cols: 70 })
      })))
      yield* seen(/\/ # /)
      // A foreground job and a background job (its own process group: the terminal's hangup
      // signal to the foreground group does not reach it; ending the session must).
      stdin.write("stty size; sleep 3604 & sleep 3603\r")
      yield* seen(/\b20 70\b/)
      const cg = (yield* recordOf(env.dataDir, name)).containers[0]!.cgroupProcs[0]!
      const pids = yield* Effect.forEach(
        ["sleep\u00003603\u0000", "sleep\u00003604\u0000", "sh\u0000"],
        (c) => findInCgroup(cg, c)
      )
      yield* Fiber.interrupt(fiber)
      yield* Effect.forEach(pids, gone)
      assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`))
    }))

  it.scoped("a 200 KB paste through an interactive exec arrives intact", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-paste")
      yield* startPod(sleeper(name, { image: env.refs.busybox, command: ["sleep", "3600"] }))
      // Lines well under the 4 KiB canonical-mode line limit; 2000 lines of 100 bytes + a tail.
      const lines: Array<string> = []
      for (let i = 0; lines.join("").length < 204_800 - 100; i++) {
        lines.push(`${String(i).padStart(6, "0")} ${"abcdefghijklmnopqrstuvwxyz".repeat(4).slice(0, 92)}\n`)
      }
      let text = lines.join("")
      text += "z".repeat(204_800 - text.length - 1) + "\n"
      assert.strictEqual(text.length, 204_800)
      const md5 = createHash("md5").update(text).digest("hex")
      const t = yield* clientInPty(env.dataDir, [
        "exec",
        name,
        "--",
        "sh",
        "-c",
        "stty -echo; echo READY; head -c 204800 > /tmp/paste; wc -c < /tmp/paste; md5sum < /tmp/paste"
      ])
      yield* t.waitFor(/READY/)
      const m = t.mark()
      t.write(text) // one write: the client pumps it with backpressure
      yield* t.waitFor(new RegExp(`204800\\s+${md5}`), m, 30_000)
      assert.deepStrictEqual(yield* resultOf(t), { exited: 0 })
    }))
})
