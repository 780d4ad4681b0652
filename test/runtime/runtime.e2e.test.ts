/**
 * The live Runtime end to end (root): real images from a local registry, real namespaces, overlay
 * rootfs, cgroups, the native monitor. Every test checks nothing is left behind.
 */
import { assert, describe, it } from "@effect/vitest"
import { Context, Effect, Exit, Fiber, Layer, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { podLayout } from "../../src/runtime/layout.js"
import { Runtime } from "../../src/runtime/Runtime.js"
import { decodePod } from "../../src/spec/decode.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { untilCatches } from "../support/poll.js"
import { runtimeLayer, type TankEnv, tankEnv } from "../support/tankEnv.js"
import { tmpDir } from "../support/tmp.js"

const readLog = (env: TankEnv, pod: string, container = "app") => {
  const f = path.join(env.dataDir, "logs", pod, `${container}.log`)
  return fs.existsSync(f) ? fs.readFileSync(f, "utf8") : ""
}
/** The text of each log record ("<ts> <stream> <F|P> <text>"). */
const logLines = (env: TankEnv, pod: string, stream = "stdout") =>
  readLog(env, pod).split("\n").filter(Boolean).map((l) => l.split(" ")).filter((f) => f[1] === stream).map((f) =>
    f.slice(3).join(" ")
  )

const uniq = (p: string) => `${p}-${process.pid.toString(36)}${Math.random().toString(36).slice(2, 6)}`

/** Run a pod to its end in a fresh scope; returns how it ended. The scope's close tears it down. */
const runToEnd = (spec: unknown) =>
  Effect.gen(function*() {
    const runtime = yield* Runtime
    const pod = yield* decodePod(spec)
    const scope = yield* Scope.make()
    const h = yield* Scope.extend(runtime.start(pod), scope)
    const exit = yield* h.wait
    yield* Scope.close(scope, Exit.void)
    return { exit, hostPid: h.hostPid }
  })

describe("Runtime (live, root)", () => {
  it.scopedLive(
    "runs a busybox pod: exit code, logs, hostname, pid 1, /etc files, env and cwd",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const name = uniq("rt-basic")
        const script = [
          "echo host=$(hostname)",
          "echo pid=$$",
          "echo procs=$(ps -o pid= | wc -l)",
          "cat /etc/hostname",
          "grep nameserver /etc/resolv.conf",
          "echo cwd=$(pwd) foo=$FOO",
          "id",
          "exit 7"
        ].join("; ")
        const { exit } = yield* runToEnd({
          name,
          restart: "never",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", script],
            env: { FOO: "bar" },
            workingDir: "/tmp"
          }]
        }).pipe(Effect.provide(ctx))
        assert.deepStrictEqual(exit, { _tag: "Exited", code: 7 })
        const out = logLines(env, name)
        assert.include(out, `host=${name}`)
        assert.include(out, "pid=1")
        assert.include(out, name)
        assert.include(out, "nameserver 10.0.0.1")
        assert.include(out, "cwd=/tmp foo=bar")
        assert.isTrue(out.some((l) => l.startsWith("uid=0(root)")), out.join("\n"))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, name).run))
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "image Entrypoint/Cmd/Env/WorkingDir/User are honoured; user overrides work",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        const a = uniq("rt-user")
        const r1 = yield* runToEnd({
          name: a,
          restart: "never",
          containers: [{ name: "app", image: env.refs.busyboxUser }]
        })
          .pipe(Effect.provide(ctx))
        assert.deepStrictEqual(r1.exit, { _tag: "Exited", code: 0 })
        assert.deepStrictEqual(logLines(env, a), [
          `hello-from-tank uid=1000 gid=1000 user=tank cwd=/home/tank host=${a}`
        ])
        const b = uniq("rt-user2")
        yield* runToEnd({
          name: b,
          restart: "never",
          containers: [{ name: "app", image: env.refs.busyboxUser, user: "nobody", env: { GREETING: "hi" } }]
        }).pipe(Effect.provide(ctx))
        assert.match(logLines(env, b)[0] ?? "", /^hi uid=65534 gid=65534 user=nobody cwd=\/home\/tank /)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "signals are reported; a memory limit OOM-kills as signal 9; a pids limit stops a fork loop",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        // A signal from outside (PID 1 of a pid namespace only takes signals it handles, or SIGKILL
        // from an ancestor namespace): reported as the signal, not as an OOM kill.
        const runtime = Context.get(ctx, Runtime)
        const scope = yield* Scope.make()
        const h = yield* Scope.extend(
          runtime.start(
            yield* decodePod({
              name: uniq("rt-sig"),
              containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "300"] }]
            })
          ),
          scope
        )
        process.kill(h.hostPid, "SIGKILL")
        assert.deepStrictEqual(yield* h.wait, { _tag: "Signaled", signal: 9 })
        yield* Scope.close(scope, Exit.void)
        const oom = yield* runToEnd({
          name: uniq("rt-oom"),
          restart: "never",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", "exec tail /dev/zero"],
            limits: { memory: 32 * 1024 * 1024 }
          }]
        }).pipe(Effect.provide(ctx))
        assert.deepStrictEqual(oom.exit, { _tag: "Signaled", signal: 9, oomKilled: true })
        const pidsName = uniq("rt-pids")
        const pids = yield* runToEnd({
          name: pidsName,
          restart: "never",
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", "for i in $(seq 40); do sleep 5 & done; echo all-started"],
            limits: { pids: 10 }
          }]
        }).pipe(Effect.provide(ctx))
        assert.notDeepEqual(pids.exit, { _tag: "Exited", code: 0 })
        assert.include(logLines(env, pidsName, "stderr").join("\n"), "can't fork")
        assert.notInclude(readLog(env, pidsName), "all-started")
      }),
    { timeout: 90_000 }
  )

  it.scopedLive(
    "volumes: managed rw, host bind ro (EROFS); the image cache is unchanged after writes",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        // Outside the data dir: host volumes inside it are refused (test/security/hostPaths.test.ts).
        const hostDir = yield* tmpDir("tank-hostvol-")
        fs.writeFileSync(path.join(hostDir, "shipped"), "hello-ro\n")
        const name = uniq("rt-vol")
        const layersDir = path.join(env.dataDir, "images")
        const { exit } = yield* runToEnd({
          name,
          restart: "never",
          volumes: [{ name: "data" }, { name: "conf", source: { host: hostDir } }],
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: [
              "sh",
              "-c",
              "echo cargo > /data/probe; cat /conf/shipped; echo x > /conf/nope || echo ro-refused; rm -rf /bin/ls /etc/passwd; echo scribble > /scribble"
            ],
            mounts: [{ volume: "data", path: "/data" }, { volume: "conf", path: "/conf", readOnly: true }]
          }]
        }).pipe(Effect.provide(ctx))
        assert.deepStrictEqual(exit, { _tag: "Exited", code: 0 })
        const out = logLines(env, name)
        assert.include(out, "hello-ro")
        assert.include(out, "ro-refused")
        assert.strictEqual(fs.readFileSync(path.join(env.dataDir, "volumes", name, "data", "probe"), "utf8"), "cargo\n")
        assert.isFalse(fs.existsSync(path.join(hostDir, "nope")))
        // The shared layer dirs still hold what the container deleted or never wrote.
        const found = (f: string) =>
          fs.readdirSync(path.join(layersDir, "layers", "sha256")).some((l) =>
            fs.existsSync(path.join(layersDir, "layers", "sha256", l, f))
          )
        assert.isTrue(found("bin/ls") && found("etc/passwd"))
        assert.isFalse(found("scribble"))
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a bring-up failure leaves nothing behind (missing host volume; unknown user; bad command)",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        const runtime = Context.get(ctx, Runtime)
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const cases: ReadonlyArray<[unknown, string]> = [
          [{
            name: uniq("rt-f1"),
            volumes: [{ name: "v", source: { host: "/no/such/dir" } }],
            containers: [{ name: "app", image: env.refs.busybox, mounts: [{ volume: "v", path: "/v" }] }]
          }, "volumes"],
          [{ name: uniq("rt-f2"), containers: [{ name: "app", image: env.refs.busybox, user: "ghost" }] }, "user"],
          [
            { name: uniq("rt-f3"), containers: [{ name: "app", image: env.refs.busybox, command: ["/no/such/bin"] }] },
            "exec"
          ],
          [
            { name: uniq("rt-f4"), containers: [{ name: "app", image: env.refs.busybox, workingDir: "/no/such/dir" }] },
            "chdir"
          ]
        ]
        for (const [spec, stepWord] of cases) {
          const pod = yield* decodePod(spec)
          const err = yield* Effect.scoped(Effect.flip(runtime.start(pod)))
          assert.strictEqual(err._tag, "SetupFailed")
          assert.include(err.step, stepWord, `${err.step}: ${err.message}`)
          assert.isFalse(fs.existsSync(podLayout(env.dataDir, pod.name).run))
        }
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "stop: SIGTERM then SIGKILL after the grace period tears everything down",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv({ stopGracePeriodMs: 500 })
        const ctx = yield* Layer.build(runtimeLayer(env, { stopGracePeriodMs: 500 }))
        const runtime = Context.get(ctx, Runtime)
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir] })
        const pod = yield* decodePod({
          name: uniq("rt-stop"),
          // A SIGTERM handler that does nothing: only the SIGKILL after the grace period stops it.
          containers: [{
            name: "app",
            image: env.refs.busybox,
            command: ["sh", "-c", "trap : TERM; while true; do sleep 0.05; done"]
          }]
        })
        const scope = yield* Scope.make()
        const h = yield* Scope.extend(runtime.start(pod), scope)
        assert.isTrue(fs.existsSync(`/proc/${h.hostPid}`))
        yield* untilCatches(h.hostPid)
        const t0 = Date.now()
        yield* Scope.close(scope, Exit.void)
        assert.isAtLeast(Date.now() - t0, 400)
        assert.isFalse(
          fs.existsSync(`/proc/${h.hostPid}/cmdline`) && fs.readFileSync(`/proc/${h.hostPid}/cmdline`).length > 0
        )
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "keepOnClose leaves the pod running; adopt re-attaches to the same workload",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        const runtime = Context.get(ctx, Runtime)
        const pod = yield* decodePod({
          name: uniq("rt-adopt"),
          containers: [{ name: "app", image: env.refs.busybox, command: ["sh", "-c", "sleep 2; exit 3"] }]
        })
        const s1 = yield* Scope.make()
        const h1 = yield* Scope.extend(runtime.start(pod), s1)
        yield* h1.keepOnClose
        yield* Scope.close(s1, Exit.void)
        assert.isTrue(fs.existsSync(`/proc/${h1.hostPid}`), "workload survives the closed scope")
        assert.deepStrictEqual(yield* runtime.leftovers, [pod.name])
        const s2 = yield* Scope.make()
        const h2 = yield* Scope.extend(runtime.adopt(pod), s2)
        assert.strictEqual(h2._tag, "Some")
        if (h2._tag === "Some") {
          assert.strictEqual(h2.value.hostPid, h1.hostPid)
          assert.deepStrictEqual(yield* h2.value.wait, { _tag: "Exited", code: 3 })
        }
        yield* Scope.close(s2, Exit.void)
        assert.deepStrictEqual(yield* runtime.leftovers, [])
        yield* runtime.purge(pod.name)
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "an interrupted bring-up, at any point, leaves no monitor, mount or cgroup behind",
    () =>
      Effect.gen(function*() {
        const env = yield* tankEnv()
        const ctx = yield* Layer.build(runtimeLayer(env))
        const runtime = Context.get(ctx, Runtime)
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        // Warm the cache so the interruptions land in the bring-up itself, not in the pull.
        const warm = yield* decodePod({ name: uniq("rt-int"), containers: [{ name: "app", image: env.refs.busybox }] })
        yield* Effect.scoped(Effect.flatMap(runtime.start(warm), () => Effect.void))
        for (const delayMs of [0, 5, 15, 30, 60, 120]) {
          const pod = yield* decodePod({
            name: uniq("rt-int"),
            containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "300"] }]
          })
          const fiber = yield* Effect.fork(Effect.scoped(Effect.zipRight(runtime.start(pod), Effect.never)))
          yield* Effect.sleep(`${delayMs} millis`)
          yield* Fiber.interrupt(fiber)
          assert.isFalse(fs.existsSync(podLayout(env.dataDir, pod.name).run), `run dir after ${delayMs} ms`)
        }
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 90_000 }
  )
})
