/**
 * Stats end to end (root): real pods, their cgroups and network namespaces.
 */
import { assert, layer } from "@effect/vitest"
import { Chunk, Context, Effect, Layer, Option, Stream } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import { performance } from "node:perf_hooks"
import { sample, Stats, stats, statsStream } from "../../src/observe/stats.js"
import { lookup } from "../../src/runtime/lookup.js"
import { Machine, MachineLive, onMachine, podName, startPod } from "./machine.js"

const pod = (name: string, image: string, script: string, extra: object = {}, podExtra: object = {}) => ({
  name,
  restart: "never",
  ...podExtra,
  containers: [{ name: "app", image, command: ["sh", "-c", script], ...extra }]
})

/** utime + stime of a process, seconds (USER_HZ is 100 on Linux). */
const procCpuSeconds = (pid: number) => {
  const f = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ")
  return (Number(rest[11]) + Number(rest[12])) / 100
}

const podRecord = (name: string) => lookup(name).pipe(Effect.map(Option.getOrThrow))

/** Poll until `ok` holds for a fresh value (or give up after ~`ms`), returning the last value. */
const until = <A, E, R>(eff: Effect.Effect<A, E, R>, ok: (a: A) => boolean, ms = 10_000) =>
  Effect.gen(function*() {
    let last = yield* eff
    for (let t = 0; t < ms && !ok(last); t += 200) {
      yield* Effect.sleep("200 millis")
      last = yield* eff
    }
    return last
  })

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("stats (live, root)", (it) => {
  it.scoped("CPU percent of a busy pod matches /proc and dwarfs an idle one's (> 50% on a quiet machine); memory rises in a memory-hungry pod", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const busy = podName("st-busy")
      const idle = podName("st-idle")
      const hungry = podName("st-mem")
      yield* startPod(pod(busy, env.refs.busybox, "while :; do :; done"))
      yield* startPod(pod(idle, env.refs.busybox, "sleep 3600"))
      // tail keeps ~60 MB of newline-free input, then blocks writing it to a reader that never reads.
      yield* startPod(
        pod(hungry, env.refs.busybox, "sleep 1; head -c 60000000 /dev/zero | tail | sleep 3600", {
          limits: { memory: 256 * 1024 * 1024 }
        })
      )
      const m0 = (yield* onMachine(sample(hungry))).cgroup.memoryBytes!
      // An independent oracle for CPU: the workload's utime+stime from /proc over the same window.
      // (Absolute percentages depend on what else this 2-core machine runs; the oracle does not.)
      const busyPid = (yield* onMachine(podRecord(busy))).containers[0]!.pid
      const t0 = procCpuSeconds(busyPid)
      const w0 = performance.now()
      const [b, i] = yield* onMachine(
        Effect.all([stats(busy, { intervalMs: 2000 }), stats(idle, { intervalMs: 2000 })], {
          concurrency: 2
        })
      )
      const oracle = ((procCpuSeconds(busyPid) - t0) / ((performance.now() - w0) / 1000)) * 100
      assert.isAbove(b.cpuPercent!, 0.6 * oracle, `stats ${b.cpuPercent} vs /proc ${oracle}`)
      assert.isBelow(b.cpuPercent!, 1.4 * oracle + 5, `stats ${b.cpuPercent} vs /proc ${oracle}`)
      assert.isAbove(b.cpuPercent!, 10 * i.cpuPercent! + 2, `busy ${b.cpuPercent} idle ${i.cpuPercent}`)
      if (os.loadavg()[0]! < 1.5) assert.isAbove(b.cpuPercent!, 50) // a quiet machine gives it a core
      assert.isAbove(b.containers[0]!.cpuPercent!, 0.6 * oracle)
      assert.isBelow(i.cpuPercent!, 10, JSON.stringify(i))
      assert.isAbove(b.cpuUsageUsec!, i.cpuUsageUsec!)
      assert.isAtLeast(i.pids!, 1)
      const m1 = yield* until(onMachine(stats(hungry, { intervalMs: 200 })), (s) => s.memoryBytes! > m0 + 40e6)
      assert.isAbove(m1.memoryBytes!, m0 + 40e6, `before ${m0}, after ${m1.memoryBytes}`)
      assert.isAtLeast(m1.memoryPeakBytes!, m1.memoryBytes!)
      assert.strictEqual(m1.memoryLimitBytes, 256 * 1024 * 1024)
      assert.strictEqual(m1.oomKills ?? 0, 0)
      assert.isAtLeast(m1.pids!, 3) // sh, tail, sleep (head has finished)

      // The live stream: every running pod of the machine, rates filled in.
      const batch = yield* onMachine(statsStream([busy, idle], 300).pipe(Stream.take(1), Stream.runCollect))
      const rows = Chunk.toArray(batch)[0]!
      assert.deepStrictEqual(rows.map((r) => r.pod).sort(), [busy, idle].sort())
      assert.isTrue(rows.every((r) => r.cpuPercent !== undefined))

      // The Stats service keeps a short history per pod.
      const { ctx } = yield* Machine
      const svcCtx = yield* Layer.build(
        Stats.layer({ intervalMs: 200, historySize: 3 }).pipe(Layer.provide(Layer.succeedContext(ctx)))
      )
      const svc = Context.get(svcCtx, Stats)
      yield* until(svc.history(busy), (h) => h.length === 3, 5_000)
      const h = yield* svc.history(busy)
      assert.strictEqual(h.length, 3)
      assert.isTrue(h[0]!.at < h[2]!.at)
      const cur = (pod: string) => Effect.map(svc.current(pod), (o) => Option.getOrThrow(o).cpuPercent!)
      assert.isAbove(yield* cur(busy), 5 * (yield* cur(idle)) + 1)
      assert.includeMembers((yield* svc.all).map((s) => s.pod), [busy, idle, hungry])
    }))

  it.scoped("network counters move with traffic in the pod's netns (lo); host pods have none", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("st-net")
      yield* startPod(pod(name, env.refs.busybox, "sleep 1; ping -c 20 -i 0.1 -s 1000 127.0.0.1; sleep 3600"))
      const s0 = yield* onMachine(sample(name))
      const lo0 = s0.network!.find((i) => i.name === "lo")!
      assert.deepStrictEqual(s0.network!.map((i) => i.name), ["lo"])
      const s1 = yield* until(
        onMachine(stats(name, { intervalMs: 200 })),
        (s) => s.network!.find((i) => i.name === "lo")!.rxBytes >= lo0.rxBytes + 20 * 1000
      )
      const lo1 = s1.network!.find((i) => i.name === "lo")!
      assert.isAtLeast(lo1.rxBytes, lo0.rxBytes + 20 * 1000)
      assert.isAtLeast(lo1.txPackets, lo0.txPackets + 20)
      // lo is the pod's own traffic: not counted as network IO of the pod.
      assert.strictEqual(s1.netRxBytes, 0)

      const host = podName("st-host")
      yield* startPod(pod(host, env.refs.busybox, "sleep 3600", {}, { network: "host" }))
      const hs = yield* onMachine(stats(host, { intervalMs: 100 }))
      assert.isUndefined(hs.network)
      assert.isUndefined(hs.netRxBytes)

      const gone = yield* onMachine(sample(podName("st-none"))).pipe(Effect.flip)
      assert.strictEqual(gone._tag, "PodNotRunning")
    }))
})
