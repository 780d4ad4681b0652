/**
 * One container's monitor: its config (pure), starting it with its undo registered, its record
 * entry, sync 3 (proceed), and stopping it. Used by the live Runtime for fresh starts and for
 * restarting a single container inside a running pod.
 */
import { Effect, ExecutionStrategy, Exit, Option, Ref, Schedule, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import type { Pod } from "../spec/Pod.js"
import { agentBusySchedule, retryBusy } from "./helper/busy.js"
import { connect, connectEarly, type MonitorClient } from "./helper/client.js"
import { capabilitiesFor, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, maskedHostPaths } from "./helper/defaults.js"
import { busyReason, type MonitorBusy } from "./helper/errors.js"
import { type MonitorHandle, readExitFile, startMonitor } from "./helper/monitor.js"
import type { ExitRecord, MonitorConfig } from "./helper/schema.js"
import type { RunLine } from "./helper/spawner.js"
import type { PodLayout } from "./layout.js"
import type { PreparedContainer } from "./prepare.js"
import { type ContainerRecord, monitorAlive, stillOurs } from "./record.js"
import { SetupFailed } from "./Runtime.js"
import { signalDropped } from "./signalFate.js"

export const step = (pod: string, name: string) => (e: unknown) =>
  e instanceof SetupFailed ? e : new SetupFailed({
    pod,
    step: (e as { step?: string }).step ? `${name}: ${(e as { step: string }).step}` : name,
    message: e instanceof Error ? e.message : String(e),
    ...(typeof (e as { errno?: unknown }).errno === "number" ? { errno: (e as { errno: number }).errno } : {})
  })

/** What names one container incarnation's monitor and workload (a pod record entry has it all). */
export type MonitorRef = Pick<
  ContainerRecord,
  "name" | "socketPath" | "exitPath" | "pid" | "startTime" | "monitorPid" | "monitorStartTime" | "stop"
>

/** How to stop a container: its recorded signal and grace, else SIGTERM and `defaultGraceMs`. */
const stopOf = (ref: MonitorRef, defaultGraceMs: number) => ({
  signal: ref.stop?.signal ?? SIGTERM,
  graceMs: ref.stop?.graceMs ?? defaultGraceMs
})

const SIGTERM = 15

/**
 * No exit was recorded and the monitor is gone (killed with its workload, e.g. by the OOM killer or
 * a forced cgroup removal): the exit is not known. It is reported as a SIGKILL — what such an end
 * almost always is — and said so in the log, never silently. (`Ending`, runtime/ending.ts, has no
 * "unknown" case yet: adding one reaches the stored status, the CLI and the web view.)
 */
const unknownKill = (): ExitRecord => ({
  version: 1,
  pid: 0,
  startTime: 0,
  finishedAt: new Date().toISOString(),
  reason: "signaled",
  signal: 9
})

const fromExitFile = (ref: MonitorRef) =>
  readExitFile(ref.exitPath).pipe(Effect.flatMap(Option.match({
    onSome: Effect.succeed,
    onNone: () =>
      Effect.as(
        Effect.logWarning(
          `container ${ref.name}: its monitor (pid ${ref.monitorPid}) is gone and recorded no exit ` +
            `(${ref.exitPath}); reported as killed by SIGKILL`
        ),
        unknownKill()
      )
  })))

const busyNote = (ref: MonitorRef) => (e: MonitorBusy) =>
  Effect.logWarning(
    `monitor of container ${ref.name} (pid ${ref.monitorPid}) is busy (${busyReason(e.slots)}), retrying`
  )

/** Connect as the agent: a busy monitor is retried (it is alive), never taken for gone. */
export const connectAgent = (ref: MonitorRef) =>
  connect(ref.socketPath).pipe(retryBusy(agentBusySchedule, busyNote(ref)))

/**
 * The exit over a fresh connection, reconnecting (busy, dropped link, socket file gone) every
 * second for as long as the monitor process lives; once it is gone, the exit file says how the
 * workload ended (no file: it was killed with its monitor).
 */
const awaitExit = (ref: MonitorRef): Effect.Effect<ExitRecord> =>
  Effect.scoped(Effect.flatMap(connect(ref.socketPath), (c) => c.wait)).pipe(
    Effect.retry({ schedule: Schedule.spaced("1 second"), while: () => Effect.sync(() => monitorAlive(ref)) }),
    Effect.catchAll(() => fromExitFile(ref))
  )

/** A container's exit: from its monitor (over `client`, else reconnecting while it lives), else the exit file. */
export const exitRecordOf = (client: MonitorClient | undefined, ref: MonitorRef): Effect.Effect<ExitRecord> =>
  client ? Effect.catchAll(client.wait, () => awaitExit(ref)) : awaitExit(ref)

const signal = (pid: number, sig: NodeJS.Signals | number) =>
  Effect.sync(() => {
    try {
      process.kill(pid, sig)
    } catch {
      // already gone
    }
  })

/**
 * Poll `done` for at most `ms`; whether it became true. The first polls come quickly (1, 2, 4 ms…,
 * then every 50 ms): a released monitor is gone within a millisecond or two, and a flat 50 ms poll
 * made every container stop wait for most of a tick.
 */
export const pollSchedule = Schedule.exponential("1 millis").pipe(
  Schedule.union(Schedule.spaced("50 millis"))
)

export const within = (ms: number, done: () => boolean): Effect.Effect<boolean> =>
  // Already done (a released monitor is nearly always gone by the first look): answered without
  // building the schedule's repetition, whose clock reads and driver cost 0.1-0.4 ms of every stop
  // on this VM for a single /proc read, and without a second look (issue 21).
  Effect.suspend(() =>
    done() ? Effect.succeed(true) : Effect.sync(done).pipe(
      Effect.repeat({ schedule: pollSchedule.pipe(Schedule.upTo(ms)), until: (d) => d }),
      Effect.zipRight(Effect.sync(done))
    )
  )

/** A released monitor exits at once (removing its socket): wait for it, so the path is free. */
const monitorGone = (ref: MonitorRef) =>
  Effect.flatMap(
    within(2_000, () => !monitorAlive(ref)),
    (gone) => gone ? Effect.void : Effect.logWarning(`monitor ${ref.monitorPid} of container ${ref.name} did not exit`)
  )

const readProc = (file: string): string | undefined => {
  try {
    return fs.readFileSync(file, "utf8")
  } catch {
    return undefined
  }
}

/** The workload (PID 1 of its pid namespace) dropped `sig`: no handler, not blocked, not pending. */
const dropped = (pid: number, sig: number) =>
  signalDropped(readProc(`/proc/${pid}/status`), readProc(`/proc/${pid}/syscall`), sig)

/**
 * The monitor lives but cannot be talked to (every slot held even after retries, its socket file
 * removed by someone): stop the workload by signals under the same grace, then release the
 * lingering monitor with SIGTERM (PROTOCOL.md §3). Never leaves a workload without its monitor.
 * As the monitor does: when the workload dropped the signal (PID 1 without a handler for it, a
 * plain `sleep`), the SIGKILL follows at once instead of after the grace; each poll looks again
 * (a blocked signal may still be taken, or dropped when it is unblocked).
 */
const stopUnreachable = (defaultGraceMs: number, ref: MonitorRef, why: string) =>
  Effect.gen(function*() {
    const stop = stopOf(ref, defaultGraceMs)
    yield* Effect.logWarning(
      `monitor ${ref.monitorPid} of container ${ref.name} is alive but cannot be reached (${why}); ` +
        `stopping its workload ${ref.pid} by signal`
    )
    if (stillOurs(ref)) yield* signal(ref.pid, stop.signal)
    // "Dropped" is believed when two looks in a row say so: one look reads the status and then the
    // syscall file, which can straddle a sigwaiter's (tini's) wake and misread it (as the monitor).
    let droppedBefore = false
    yield* within(stop.graceMs, () => {
      if (!stillOurs(ref)) return true
      const now = dropped(ref.pid, stop.signal)
      const sure = now && droppedBefore
      droppedBefore = now
      return sure
    })
    if (stillOurs(ref)) yield* signal(ref.pid, "SIGKILL")
    // The monitor reaps the workload and writes the exit file; a SIGTERM then lets it go.
    yield* within(5_000, () => fs.existsSync(ref.exitPath) || !monitorAlive(ref))
    yield* signal(ref.monitorPid, "SIGTERM").pipe(Effect.when(() => monitorAlive(ref)))
    yield* monitorGone(ref)
  })

/**
 * Stop a monitor's workload (grace, then SIGKILL), let the monitor go and wait until it has. A busy
 * monitor is retried; one alive but unreachable is stopped by signals; with the monitor dead, only
 * our workload (pid + start time, never a reused pid) is killed.
 */
export const stopMonitor = (defaultGraceMs: number) => (ref: MonitorRef): Effect.Effect<void> =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* connectAgent(ref)
      const stop = stopOf(ref, defaultGraceMs)
      yield* client.stop(stop.graceMs, stop.signal)
      yield* client.release.pipe(Effect.ignore)
    })
  ).pipe(
    Effect.zipRight(monitorGone(ref)),
    Effect.catchAll((e) =>
      monitorAlive(ref) ? stopUnreachable(defaultGraceMs, ref, e.message) : Effect.sync(() => {
        if (stillOurs(ref)) process.kill(ref.pid, "SIGKILL")
      })
    ),
    Effect.catchAllDefect((d) => Effect.logError(`stopping container ${ref.name}: ${String(d)}`))
  )

/** The monitor config of one container of a pod (pure). */
export const monitorConfig = (
  settings: Pick<LaunchSettings, "logs" | "agentPidFile" | "init">,
  pod: Pod,
  layout: PodLayout,
  c: PreparedContainer,
  procs: ReadonlyArray<string>,
  sandboxDir: string | undefined
): MonitorConfig => {
  const L = layout.container(c.spec.name)
  return {
    version: 1,
    socketPath: L.socket,
    exitPath: L.exit,
    log: { path: L.log, maxBytes: settings.logs.maxFileBytes, maxFiles: settings.logs.maxFiles },
    argv: c.argv as [string, ...Array<string>],
    env: c.env,
    cwd: c.cwd,
    uid: c.uid,
    gid: c.gid,
    groups: c.groups,
    tty: c.spec.tty,
    openStdin: c.spec.tty,
    namespaces: {
      net: pod.network === "host" ? "host" : { join: path.join(sandboxDir!, "net") },
      uts: { join: path.join(sandboxDir!, "uts") },
      ipc: { join: path.join(sandboxDir!, "ipc") }
    },
    rootfs: {
      // overlayfs wants the top-most layer first.
      lowerdirs: [...c.layers].reverse() as [string, ...Array<string>],
      upperdir: L.upper,
      workdir: L.work,
      merged: L.merged,
      ...(c.spec.readOnlyRootFilesystem ? { readOnly: true } : {})
    },
    etcFiles: ["hosts", "hostname", "resolv.conf"].map((f) => ({
      source: path.join(layout.etc, f),
      target: `/etc/${f}`,
      readOnly: false
    })),
    // Host directories are seen through the pod's id mapping; managed volumes belong to its range.
    volumes: c.volumes.map((v) => ({
      source: v.source,
      target: v.target,
      readOnly: v.readOnly,
      ...(c.ids && v.hostPath ? { idmap: true } : {})
    })),
    ...(c.ids ? { userNamespace: { path: path.join(sandboxDir!, "user"), ...c.ids } } : {}),
    readonlyPaths: DEFAULT_READONLY_PATHS,
    maskedPaths: [...DEFAULT_MASKED_PATHS, ...maskedHostPaths()],
    capabilities: capabilitiesFor(c.uid, c.security.capabilities),
    noNewPrivileges: c.security.noNewPrivileges,
    ...(c.security.seccomp !== undefined ? { seccomp: c.security.seccomp } : {}),
    rlimits: c.security.rlimits,
    ...(c.security.devices.length > 0 ? { devices: c.security.devices.map((d) => d.node) } : {}),
    cgroupProcs: procs,
    ...(settings.agentPidFile ? { agentPidFile: settings.agentPidFile } : {}),
    ...((pod.init ?? settings.init.byDefault) ? { init: settings.init.path } : {})
  }
}

/**
 * One container's monitor: started (parked) with its undo in a child scope of the run (closed
 * when the container is replaced or the run ends), a connection open.
 */
const refOf = (
  name: string,
  exitPath: string,
  h: MonitorHandle,
  stop: { readonly signal: number; readonly graceMs: number }
): MonitorRef => ({
  name,
  socketPath: h.socketPath,
  exitPath,
  pid: h.pid,
  startTime: h.startTime,
  monitorPid: h.monitorPid,
  monitorStartTime: h.monitorStartTime,
  stop
})

export interface LaunchSettings {
  /** The agent's grace period, for pods without `terminationGracePeriodSeconds`. */
  readonly graceMs: number
  /** tank-init: where it is, and whether pods without `init` get it (the config's `init`). */
  readonly init: { readonly path: string; readonly byDefault: boolean }
  readonly logs: { readonly maxFileBytes: number; readonly maxFiles: number }
  /** The agent lock file (the agent's pid): the monitor reserves connection slots for it. */
  readonly agentPidFile?: string
  /** How helper modes are started: the agent's spawner (helper/spawner.ts); absent, a direct spawn. */
  readonly runLine?: RunLine
}

export const launch = (
  settings: LaunchSettings,
  pod: Pod,
  layout: PodLayout,
  c: PreparedContainer,
  procs: ReadonlyArray<string>,
  runScope: Scope.Scope
) =>
  Effect.gen(function*() {
    const L = layout.container(c.spec.name)
    const stop = {
      signal: c.stopSignal,
      graceMs: pod.terminationGracePeriodSeconds !== undefined
        ? pod.terminationGracePeriodSeconds * 1000
        : settings.graceMs
    }
    const scope = yield* Scope.fork(runScope, ExecutionStrategy.sequential)
    // Started and its undo registered in one uninterruptible step: an interrupted bring-up
    // must never leave a monitor (and its parked workload) behind. The undo stops the
    // workload (grace, then SIGKILL; abort while parked) and lets the monitor go, over the
    // connection opened below when there is one.
    const conn = yield* Ref.make<MonitorClient | undefined>(undefined)
    // The connection lives until the undo has used it.
    const connScope = yield* Scope.make()
    const h = yield* Effect.uninterruptible(
      startMonitor(monitorConfig(settings, pod, layout, c, procs, layout.ns), L.config, settings.runLine).pipe(
        Effect.tap((h) =>
          Scope.addFinalizer(
            scope,
            Effect.flatMap(Ref.get(conn), (client) => {
              const ours = refOf(c.spec.name, L.exit, h, stop)
              return client
                ? client.stop(stop.graceMs, stop.signal).pipe(
                  Effect.zipRight(client.release),
                  Effect.zipRight(monitorGone(ours)),
                  // Any cause, an interruption too: the undo must go on to the fresh connection's stop.
                  Effect.catchAllCause(() => stopMonitor(settings.graceMs)(ours))
                )
                : stopMonitor(settings.graceMs)(ours)
            }).pipe(Effect.ensuring(Scope.close(connScope, Exit.void)))
          )
        )
      )
    )
    const ref = refOf(c.spec.name, L.exit, h, stop)
    // Not waiting for the monitor's hello: it is read while the record is written, and `proceed`
    // goes out at once, its reply trusted only after the hello (connectEarly, helper/client.ts).
    const client = yield* Scope.extend(
      connectEarly(ref.socketPath, { protocol: h.protocol, monitorPid: h.monitorPid, pid: h.pid }, connectAgent(ref)),
      connScope
    )
    yield* Ref.set(conn, client)
    return {
      name: c.spec.name,
      h,
      ref,
      client,
      exitPath: L.exit,
      c,
      procs,
      log: L.log,
      scope,
      stop,
      startedAt: new Date()
    }
  }).pipe(Effect.mapError(step(pod.name, `monitor ${c.spec.name}`)))

export type Launched = Effect.Effect.Success<ReturnType<typeof launch>>

export const containerRecord = (s: Launched): ContainerRecord => ({
  name: s.name,
  socketPath: s.h.socketPath,
  exitPath: s.exitPath,
  pid: s.h.pid,
  monitorPid: s.h.monitorPid,
  ...(s.h.monitorStartTime !== undefined ? { monitorStartTime: s.h.monitorStartTime } : {}),
  startTime: s.h.startTime,
  startedAt: s.startedAt.toISOString(),
  env: s.c.env,
  cwd: s.c.cwd,
  uid: s.c.uid,
  gid: s.c.gid,
  groups: s.c.groups,
  tty: s.c.spec.tty,
  cgroupProcs: s.procs,
  logPath: s.log,
  stop: s.stop,
  security: {
    capabilities: s.c.security.capabilities,
    noNewPrivileges: s.c.security.noNewPrivileges,
    ...(s.c.security.seccomp !== undefined ? { seccomp: s.c.security.seccomp } : {}),
    rlimits: s.c.security.rlimits
  }
})

/** sync 3 for one container: its setup runs and it execs. */
export const proceedOne = (pod: string, s: { readonly name: string; readonly client: MonitorClient }) =>
  s.client.proceed.pipe(Effect.mapError((e) =>
    e._tag === "MonitorSetupFailed"
      ? new SetupFailed({ pod, step: `${s.name}: ${e.step}`, message: e.message, errno: e.errno })
      : step(pod, `proceed ${s.name}`)(e)
  ))
