/**
 * Starting a monitor: write its config file, run `tank-helper monitor --config FILE`, and wait for
 * its ready line (sync 1-2 done: the workload is cloned, in its cgroups, parked). The monitor then
 * lives on by itself (double-forked); talk to it with `connect(socketPath)`.
 */
import { Effect, Option, Schema } from "effect"
import * as fs from "node:fs"
import { helperPath } from "./binary.js"
import { type HelperNotBuilt, type HelperProtocolError, MonitorSetupFailed } from "./errors.js"
import { decodeLine, runForLine } from "./exec.js"
import { ExitRecord, MonitorConfig, MonitorReady } from "./schema.js"
import type { RunLine } from "./spawner.js"

export interface MonitorHandle {
  /** The protocol version of the ready line (its hello says the same: `connectEarly` trusts it). */
  readonly protocol: number
  readonly monitorPid: number
  /** The monitor's /proc start time (absent from older helpers), for liveness checks. */
  readonly monitorStartTime?: number
  /** Host pid of the parked workload. */
  readonly pid: number
  /** /proc/<pid>/stat start time (clock ticks): pass to `enter --start-time` against pid reuse. */
  readonly startTime: number
  readonly socketPath: string
  readonly exitPath: string
  readonly configPath: string
}

/**
 * Validate and write the config (mode 0600) to `configPath`, start the monitor, wait for ready.
 * Fails with MonitorSetupFailed (step + errno) when the config, socket, namespaces, clone or cgroup
 * placement fail; nothing is left running then (the config file is the caller's). `run` starts the
 * helper: a direct spawn by default, the agent's spawner (spawner.ts) when it has one.
 */
export const startMonitor = (
  config: MonitorConfig,
  configPath: string,
  run: RunLine = runForLine
): Effect.Effect<MonitorHandle, HelperNotBuilt | HelperProtocolError | MonitorSetupFailed> =>
  Effect.gen(function*() {
    const helper = yield* helperPath
    const encoded = yield* Schema.encode(MonitorConfig)(config).pipe(
      Effect.orDieWith((e) => new Error(`invalid MonitorConfig: ${e.message}`))
    )
    // A full disk (ENOSPC) or a missing run dir is the bring-up's typed failure, not a defect.
    yield* Effect.try({
      try: () => fs.writeFileSync(configPath, JSON.stringify(encoded), { mode: 0o600 }),
      catch: (e) => {
        const err = e as NodeJS.ErrnoException
        return new MonitorSetupFailed({
          step: "config",
          errno: Math.abs(err.errno ?? 0),
          message: `cannot write the monitor config ${configPath}: ${err.code ?? err.message}`
        })
      }
    })
    const line = yield* run(helper, ["monitor", "--config", configPath])
    const ready = yield* decodeLine(MonitorReady, "monitor ready line", line)
    return {
      protocol: ready.protocol,
      monitorPid: ready.monitorPid,
      ...(ready.monitorStartTime !== undefined ? { monitorStartTime: ready.monitorStartTime } : {}),
      pid: ready.pid,
      startTime: ready.startTime,
      socketPath: config.socketPath,
      exitPath: config.exitPath,
      configPath
    }
  })

/** The exit file, if the monitor wrote one (None when missing or unreadable/torn). */
export const readExitFile = (exitPath: string): Effect.Effect<Option.Option<ExitRecord>> =>
  Effect.sync(() => {
    try {
      return Schema.decodeUnknownOption(ExitRecord)(JSON.parse(fs.readFileSync(exitPath, "utf8")))
    } catch {
      return Option.none()
    }
  })
