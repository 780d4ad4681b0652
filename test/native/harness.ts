/**
 * Test harness for the native helper: a run dir with overlay upper/work/merged, a base monitor
 * config over a busybox lower, start + connect with finalizers that kill whatever is left.
 */
import type { Scope } from "effect"
import { Effect } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { connect, type MonitorClient } from "../../src/runtime/helper/client.js"
import { capabilitiesFor, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS } from "../../src/runtime/helper/defaults.js"
import type {
  HelperNotBuilt,
  HelperProtocolError,
  MonitorBusy,
  MonitorGone,
  MonitorSetupFailed
} from "../../src/runtime/helper/errors.js"
import { type MonitorHandle, startMonitor } from "../../src/runtime/helper/monitor.js"
import type { ExitRecord, MonitorConfig } from "../../src/runtime/helper/schema.js"
import { tmpDir } from "../support/tmp.js"

export const runDir = Effect.gen(function*() {
  const dir = yield* tmpDir("tank-native-")
  for (const d of ["upper", "work", "merged"]) fs.mkdirSync(path.join(dir, d))
  return dir
})

/** Overrides win; an override set to `undefined` removes the field (e.g. `hostname` when joining uts). */
export const baseConfig = (dir: string, lower: string, over: ConfigPatch = {}): MonitorConfig =>
  Object.fromEntries(Object.entries(defaults(dir, lower, over)).filter(([, v]) => v !== undefined)) as MonitorConfig

const defaults = (dir: string, lower: string, over: ConfigPatch) => ({
  version: 1,
  socketPath: path.join(dir, "mon.sock"),
  exitPath: path.join(dir, "exit.json"),
  log: { path: path.join(dir, "ctr.log"), maxBytes: 1 << 20, maxFiles: 2 },
  argv: ["true"],
  env: ["PATH=/bin"],
  cwd: "/",
  uid: 0,
  gid: 0,
  groups: [],
  tty: false,
  namespaces: { net: "new", uts: "new", ipc: "new" },
  hostname: "tank-test",
  rootfs: {
    lowerdirs: [lower],
    upperdir: path.join(dir, "upper"),
    workdir: path.join(dir, "work"),
    merged: path.join(dir, "merged")
  },
  etcFiles: [],
  volumes: [],
  maskedPaths: DEFAULT_MASKED_PATHS,
  readonlyPaths: DEFAULT_READONLY_PATHS,
  capabilities: capabilitiesFor(0),
  noNewPrivileges: true,
  cgroupProcs: [],
  lingerMs: 120_000,
  ...over
})

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return !/\) Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8"))
  } catch {
    return false
  }
}

/** SIGKILL the workload and the monitor if they are still around, then wait until they are gone. */
export const killAll = (h: MonitorHandle) =>
  Effect.promise(async () => {
    for (const pid of [h.pid, h.monitorPid]) {
      try {
        process.kill(pid, "SIGKILL")
      } catch {
        // already gone
      }
    }
    for (let i = 0; i < 100 && (alive(h.pid) || alive(h.monitorPid)); i++) await new Promise((r) => setTimeout(r, 20))
  })

export interface Run {
  readonly dir: string
  readonly config: MonitorConfig
  readonly handle: MonitorHandle
  readonly client: MonitorClient
}

/** Start a monitor (workload parked) and connect to it; everything is killed when the scope closes. */
export type ConfigPatch = { readonly [K in keyof MonitorConfig]?: MonitorConfig[K] | undefined }
export type Overrides = ConfigPatch | ((dir: string) => ConfigPatch)

export const startRun = (
  lower: string,
  over: Overrides = {},
  dir?: string
): Effect.Effect<
  Run,
  HelperNotBuilt | HelperProtocolError | MonitorSetupFailed | MonitorGone | MonitorBusy,
  Scope.Scope
> =>
  Effect.gen(function*() {
    const d = dir ?? (yield* runDir)
    for (const sub of ["upper", "work", "merged"]) fs.mkdirSync(path.join(d, sub), { recursive: true })
    const config = baseConfig(d, lower, typeof over === "function" ? over(d) : over)
    const handle = yield* Effect.acquireRelease(startMonitor(config, path.join(d, "config.json")), killAll)
    const client = yield* connect(config.socketPath)
    return { dir: d, config, handle, client }
  })

export interface LogRecord {
  readonly ts: string
  readonly stream: string
  readonly flag: string
  readonly text: string
}

export const parseLog = (text: string): Array<LogRecord> =>
  text.split("\n").filter((l) => l.length > 0).map((l) => {
    const m = /^(\S+) (stdout|stderr|tty) ([FP]) (.*)$/s.exec(l)
    if (!m) throw new Error(`malformed log line: ${JSON.stringify(l)}`)
    return { ts: m[1]!, stream: m[2]!, flag: m[3]!, text: m[4]! }
  })

export const readLog = (file: string): Array<LogRecord> => parseLog(fs.readFileSync(file, "utf8"))

/** Full stdout text (records joined the way a reader would: P records continue the line). */
export const streamText = (recs: ReadonlyArray<LogRecord>, stream: string): string =>
  recs.filter((r) => r.stream === stream).map((r) => r.text + (r.flag === "F" ? "\n" : "")).join("")

/** Run to completion: proceed, wait; returns the exit and the log. */
export const runToExit = (lower: string, over: Overrides = {}) =>
  Effect.gen(function*() {
    const run = yield* startRun(lower, over)
    yield* run.client.proceed
    const exit = yield* run.client.wait
    yield* run.client.release
    const log = readLog(run.config.log.path)
    return { ...run, exit, log, stdout: streamText(log, "stdout"), stderr: streamText(log, "stderr") }
  })

export const expectExited = (e: ExitRecord): number => {
  if (e.reason !== "exited") throw new Error(`expected a normal exit, got ${JSON.stringify(e)}`)
  return e.exitCode
}
