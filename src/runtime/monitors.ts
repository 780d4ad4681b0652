/**
 * One container's monitor: its config (pure), starting it with its undo registered, its record
 * entry, sync 3 (proceed), and stopping it. Used by the live Runtime for fresh starts and for
 * restarting a single container inside a running pod.
 */
import { Effect, ExecutionStrategy, Exit, Option, Ref, Scope } from "effect"
import * as path from "node:path"
import type { Pod } from "../spec/Pod.js"
import { connect, type MonitorClient } from "./helper/client.js"
import { capabilitiesFor, DEFAULT_MASKED_PATHS, DEFAULT_READONLY_PATHS, maskedHostPaths } from "./helper/defaults.js"
import { readExitFile, startMonitor } from "./helper/monitor.js"
import type { ExitRecord, MonitorConfig } from "./helper/schema.js"
import type { PodLayout } from "./layout.js"
import type { PreparedContainer } from "./prepare.js"
import { type ContainerRecord, stillOurs } from "./record.js"
import { type RunExit, SetupFailed } from "./Runtime.js"

export const step = (pod: string, name: string) => (e: unknown) =>
  e instanceof SetupFailed ? e : new SetupFailed({
    pod,
    step: (e as { step?: string }).step ? `${name}: ${(e as { step: string }).step}` : name,
    message: e instanceof Error ? e.message : String(e),
    ...(typeof (e as { errno?: unknown }).errno === "number" ? { errno: (e as { errno: number }).errno } : {})
  })

export const toRunExit = (r: ExitRecord, oomKilled: boolean): RunExit =>
  r.reason === "exited"
    ? { _tag: "Exited", code: r.exitCode }
    : r.reason === "signaled"
    ? { _tag: "Signaled", signal: r.signal, ...(oomKilled ? { oomKilled } : {}) }
    // A setup failure after proceed was already reported by start; if it is all we know (adopted),
    // report it like the shell does for an exec failure.
    : { _tag: "Exited", code: 127 }

/** A container's exit: from its monitor, else from the exit file, else (both gone) an unknown kill. */
export const exitRecordOf = (client: MonitorClient | undefined, exitPath: string): Effect.Effect<ExitRecord> => {
  const fromFile = readExitFile(exitPath).pipe(
    Effect.map(Option.getOrElse((): ExitRecord => ({
      version: 1,
      pid: 0,
      startTime: 0,
      finishedAt: new Date().toISOString(),
      reason: "signaled",
      signal: 9
    })))
  )
  return client ? Effect.catchAll(client.wait, () => fromFile) : fromFile
}

/** Stop a monitor's workload (grace, then SIGKILL), let the monitor go. Tolerates a dead monitor. */
export const stopMonitor = (graceMs: number) => (c: Pick<ContainerRecord, "socketPath" | "pid" | "startTime">) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* connect(c.socketPath)
      yield* client.stop(graceMs)
      yield* client.release.pipe(Effect.ignore)
    })
  ).pipe(
    Effect.catchAll(() =>
      // No monitor to ask: make sure our workload (and nothing that reused its pid) is gone.
      Effect.sync(() => {
        if (stillOurs(c)) process.kill(c.pid, "SIGKILL")
      })
    ),
    Effect.ignore
  )

/** The monitor config of one container of a pod (pure). */
export const monitorConfig = (
  logs: { readonly maxFileBytes: number; readonly maxFiles: number },
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
    log: { path: L.log, maxBytes: logs.maxFileBytes, maxFiles: logs.maxFiles },
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
      merged: L.merged
    },
    etcFiles: ["hosts", "hostname", "resolv.conf"].map((f) => ({
      source: path.join(layout.etc, f),
      target: `/etc/${f}`,
      readOnly: false
    })),
    volumes: c.volumes.map((v) => ({ source: v.source, target: v.target, readOnly: v.readOnly })),
    readonlyPaths: DEFAULT_READONLY_PATHS,
    maskedPaths: [...DEFAULT_MASKED_PATHS, ...maskedHostPaths()],
    capabilities: capabilitiesFor(c.uid, c.security.capabilities),
    noNewPrivileges: c.security.noNewPrivileges,
    ...(c.security.seccomp !== undefined ? { seccomp: c.security.seccomp } : {}),
    rlimits: c.security.rlimits,
    ...(c.security.devices.length > 0 ? { devices: c.security.devices.map((d) => d.node) } : {}),
    cgroupProcs: procs
  }
}

/**
 * One container's monitor: started (parked) with its undo in a child scope of the run (closed
 * when the container is replaced or the run ends), a connection open.
 */
export const launch = (
  settings: { readonly graceMs: number; readonly logs: { readonly maxFileBytes: number; readonly maxFiles: number } },
  pod: Pod,
  layout: PodLayout,
  c: PreparedContainer,
  procs: ReadonlyArray<string>,
  runScope: Scope.Scope
) =>
  Effect.gen(function*() {
    const L = layout.container(c.spec.name)
    const scope = yield* Scope.fork(runScope, ExecutionStrategy.sequential)
    // Started and its undo registered in one uninterruptible step: an interrupted bring-up
    // must never leave a monitor (and its parked workload) behind. The undo stops the
    // workload (grace, then SIGKILL; abort while parked) and lets the monitor go, over the
    // connection opened below when there is one.
    const conn = yield* Ref.make<MonitorClient | undefined>(undefined)
    // The connection lives until the undo has used it.
    const connScope = yield* Scope.make()
    const h = yield* Effect.uninterruptible(
      startMonitor(monitorConfig(settings.logs, pod, layout, c, procs, layout.ns), L.config).pipe(
        Effect.tap((h) =>
          Scope.addFinalizer(
            scope,
            Effect.flatMap(Ref.get(conn), (client) => {
              const ours = { socketPath: h.socketPath, pid: h.pid, startTime: h.startTime }
              return client
                ? client.stop(settings.graceMs).pipe(
                  Effect.zipRight(client.release),
                  Effect.catchAll(() => stopMonitor(settings.graceMs)(ours))
                )
                : stopMonitor(settings.graceMs)(ours)
            }).pipe(Effect.ensuring(Scope.close(connScope, Exit.void)))
          )
        )
      )
    )
    const client = yield* Scope.extend(connect(h.socketPath), connScope)
    yield* Ref.set(conn, client)
    return {
      name: c.spec.name,
      h,
      client,
      exitPath: L.exit,
      c,
      procs,
      log: L.log,
      scope,
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
    e._tag === "SetupFailed"
      ? new SetupFailed({ pod, step: `${s.name}: ${e.step}`, message: e.message, errno: e.errno })
      : step(pod, `proceed ${s.name}`)(e)
  ))
