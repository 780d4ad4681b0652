/**
 * A machine for the security tests: the live Runtime over a temp data dir (test/exec/support.ts's
 * Machine: registry with the fixture images, cgroups, networking), a busybox rootfs carrying the C
 * probes (test/support/probes/*.c, static), and helpers to run a probe in a pod or beside it
 * through exec and read its one JSON line.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { execCapture } from "../../src/exec/Exec.js"
import type { RunHandle } from "../../src/runtime/Runtime.js"
import { Machine, onMachine, podName, startPod } from "../exec/support.js"
import { buildBusyboxRootfs } from "../native/rootfs.js"
import { installProbe } from "../support/probe.js"
import { tmpDir } from "../support/tmp.js"

export { Machine, MachineLive, onMachine, podName, RUN_TAG, startPod } from "../exec/support.js"

export const PROBES = ["syscalls", "capstatus", "tiocsti", "devopen", "fdpass"] as const

/**
 * A busybox rootfs with every probe under /probe, plus /probe/capstatus-suid: the capstatus probe
 * setuid root (mode 4755), for the "setuid binary in an image" attack.
 */
export const probeRootfs = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-sec-rootfs-")
  yield* Effect.sync(() => {
    buildBusyboxRootfs(dir)
    for (const p of PROBES) installProbe(dir, p)
    const suid = path.join(dir, "probe", "capstatus-suid")
    fs.copyFileSync(path.join(dir, "probe", "capstatus"), suid)
    fs.chownSync(suid, 0, 0)
    fs.chmodSync(suid, 0o4755)
  })
  return dir
})

/**
 * A pod of one long-running container on `rootfs`, with container fields `extra`. Its shell ends
 * on SIGTERM (a bare `sleep` as PID 1 ignores it and every stop would wait the whole grace).
 */
export const sleeperPod = (
  rootfs: string,
  what: string,
  extra: Record<string, unknown> = {},
  pod: Record<string, unknown> = {}
) => ({
  name: podName(what),
  restart: "never",
  ...pod,
  containers: [{
    name: "app",
    image: { rootfs },
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 3600 & wait"],
    ...extra
  }]
})

/** Start it for the rest of the scope; returns the handle and the pod name. */
export const startSleeper = (
  rootfs: string,
  what: string,
  extra: Record<string, unknown> = {},
  pod: Record<string, unknown> = {}
) =>
  Effect.gen(function*() {
    const spec = sleeperPod(rootfs, what, extra, pod)
    const h: RunHandle = yield* startPod(spec)
    return { name: spec.name, h }
  })

/** Run argv beside the workload (exec) and parse the last stdout line as JSON. */
export const execJson = (pod: string, argv: ReadonlyArray<string>) =>
  Effect.gen(function*() {
    const r = yield* onMachine(execCapture(pod, argv))
    const last = r.stdout.trim().split("\n").pop() ?? ""
    try {
      return JSON.parse(last) as Record<string, unknown>
    } catch {
      return yield* Effect.die(new Error(`not JSON from ${argv.join(" ")}: ${JSON.stringify(r)}`))
    }
  })

/** Run a pod whose one container runs argv to its end; its stdout's last line as JSON. */
export const runJson = (
  rootfs: string,
  what: string,
  argv: ReadonlyArray<string>,
  extra: Record<string, unknown> = {},
  pod: Record<string, unknown> = {}
) =>
  Effect.gen(function*() {
    const { env } = yield* Machine
    const spec = { ...sleeperPod(rootfs, what, { ...extra, command: argv }, pod) }
    const h = yield* Effect.scoped(Effect.flatMap(startPod(spec), (h) => h.wait))
    const log = fs.readFileSync(path.join(env.dataDir, "logs", spec.name, "app.log"), "utf8")
    const lines = log.split("\n").filter((l) => / stdout F /.test(l)).map((l) => l.split(" ").slice(3).join(" "))
    const last = lines.pop() ?? ""
    try {
      return { exit: h, json: JSON.parse(last) as Record<string, unknown> }
    } catch {
      return yield* Effect.die(new Error(`not JSON from ${argv.join(" ")}: exit ${JSON.stringify(h)}, log:\n${log}`))
    }
  })
