/**
 * Test harness for the native helper: a run dir with overlay upper/work/merged, a base monitor
 * config over a busybox lower, start + connect with finalizers that kill whatever is left; and
 * what the spawner tests look at in /proc (a process's children, descriptors, the spawner itself).
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
import { makeSpawnerWith, type SpawnerPools } from "../../src/runtime/helper/spawner.js"
import { alive } from "../support/poll.js"
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

/** The fields of /proc/PID/stat after the command name (state first, then ppid, ...). */
export const statOf = (pid: number): Array<string> => {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8")
  return stat.slice(stat.lastIndexOf(")") + 2).split(" ")
}

/** Live (not zombie) children of `pid`. */
export const childrenOf = (pid: number): Array<number> => {
  try {
    return fs.readFileSync(`/proc/${pid}/task/${pid}/children`, "utf8").trim().split(/\s+/).filter(Boolean)
      .map(Number).filter(alive)
  } catch {
    return []
  }
}

/** What each descriptor of `pid` names (`pipe:[123]`, a path...). */
export const fdTargets = (pid: number): Array<string> =>
  fs.readdirSync(`/proc/${pid}/fd`).flatMap((fd) => {
    try {
      return [fs.readlinkSync(`/proc/${pid}/fd/${fd}`)]
    } catch {
      return []
    }
  })

/** Poll (10 ms) until `f` gives a value, at most 5 s. */
export const eventually = <A>(what: string, f: () => A | undefined) =>
  Effect.promise(async () => {
    for (let i = 0; i < 500; i++) {
      const v = f()
      if (v !== undefined) return v
      await new Promise((r) => setTimeout(r, 10))
    }
    throw new Error(`never: ${what}`)
  })

/** Our child running `tank-helper spawner` (the pool tests start one at a time). */
export const ourSpawner = (): number | undefined =>
  childrenOf(process.pid).find((pid) => {
    try {
      return fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0")[1] === "spawner"
    } catch {
      return false
    }
  })

/** A spawner with these pools for the scope, started (its pools filling); its pid. */
export const poolSpawner = (pools: SpawnerPools) =>
  Effect.gen(function*() {
    const sp = yield* makeSpawnerWith(pools)
    yield* sp.warm
    const pid = yield* eventually("the spawner", ourSpawner)
    return { ...sp, pid }
  })
