/**
 * Finding a pod's monitors without its record: every container dir under `<run>/c/` names a
 * monitor socket (layout.ts) and a config file that the monitor's command line names. Used by the
 * undo of steps that start monitors when their result was never written (the agent died between
 * starting a monitor and recording it) and when the record cannot be read (a deleted pod).
 */
import { Effect, Option, Schedule } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { isListening } from "../helper/socket.js"
import { connectAgent, type MonitorRef, stopMonitor } from "../monitors.js"
import { procStartTime } from "../record.js"
import type { ReleaseFailed, Undo } from "./Step.js"

/** Container dir names under `<run>/c/`. */
export const containerDirs = (run: string): ReadonlyArray<string> => {
  try {
    return fs.readdirSync(path.join(run, "c")).sort()
  } catch {
    return []
  }
}

/** Pids of `tank-helper monitor --config <configPath>` processes (a scan of /proc). */
export const monitorPidsFor = (configPath: string): ReadonlyArray<number> => {
  const out: Array<number> = []
  for (const p of fs.readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue
    try {
      const argv = fs.readFileSync(`/proc/${p}/cmdline`, "utf8").split("\0")
      if (argv[0]?.endsWith("tank-helper") && argv[1] === "monitor" && argv[3] === configPath) {
        if (procStartTime(Number(p)) !== undefined) out.push(Number(p))
      }
    } catch {
      // gone meanwhile
    }
  }
  return out
}

/** Is anything of the pod's monitors alive (a socket that answers, a monitor process)? */
export const anyMonitorAlive = (undo: Pick<Undo, "layout">): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    for (const name of containerDirs(undo.layout.run)) {
      const L = undo.layout.container(name)
      if ((yield* isListening(L.socket)) || monitorPidsFor(L.config).length > 0) return true
    }
    return false
  })

const gone = (pid: number, startTime: number | undefined) => procStartTime(pid) !== startTime

/**
 * Stop every monitor found under the run dir: over its socket as the agent does (stop with the
 * default grace, release), else by SIGTERM to the monitor process (it stops its workload with a
 * 10 s grace, PROTOCOL.md §3). Fails naming each monitor still alive afterwards.
 */
export const stopMonitorsByName = (undo: Undo): Effect.Effect<void, ReleaseFailed> =>
  Effect.gen(function*() {
    const left: Array<string> = []
    for (const name of containerDirs(undo.layout.run)) {
      const L = undo.layout.container(name)
      if (yield* isListening(L.socket)) {
        const hello = yield* Effect.scoped(
          connectAgent({ name, socketPath: L.socket, monitorPid: 0 } as MonitorRef).pipe(Effect.map((c) => c.hello))
        ).pipe(Effect.option)
        if (Option.isSome(hello)) {
          const ref: MonitorRef = {
            name,
            socketPath: L.socket,
            exitPath: L.exit,
            pid: hello.value.pid,
            startTime: procStartTime(hello.value.pid) ?? -1,
            monitorPid: hello.value.monitorPid,
            ...(procStartTime(hello.value.monitorPid) !== undefined
              ? { monitorStartTime: procStartTime(hello.value.monitorPid)! }
              : {})
          }
          yield* stopMonitor(undo.deps.stopGraceMs)(ref)
        }
      }
      for (const pid of monitorPidsFor(L.config)) {
        const started = procStartTime(pid)
        yield* Effect.sync(() => {
          try {
            process.kill(pid, "SIGTERM")
          } catch {
            // gone
          }
        })
        const done = yield* Effect.sync(() => gone(pid, started)).pipe(
          Effect.repeat({
            schedule: Schedule.spaced("100 millis").pipe(Schedule.upTo("15 seconds")),
            until: (d) => d
          })
        )
        if (!done) left.push(`monitor ${pid} of container ${name}`)
      }
    }
    if (left.length > 0) {
      return yield* Effect.fail({ step: "monitors", message: `still alive after SIGTERM: ${left.join(", ")}` })
    }
  })
