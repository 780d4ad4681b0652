/**
 * Finding a running container from any process, without the agent: the runtime's query port
 * (runtime/lookup.ts) names each container's workload pid, start time, monitor socket and exec
 * context. "Running" means: a record, a live workload that is still the same process
 * (pid + start time), and — unless the caller will ask the monitor itself — a monitor that answers
 * and says `running` (a parked workload has no rootfs yet: entering it would land on the host's).
 */
import { Effect, Option } from "effect"
import type { TankConfig } from "../config/Config.js"
import { clientBusySchedule, retryBusy } from "../runtime/helper/busy.js"
import { connect } from "../runtime/helper/client.js"
import { busyReason, type MonitorBusy as Busy } from "../runtime/helper/errors.js"
import { type ContainerRecord, lookup, type RunView, stillOurs } from "../runtime/lookup.js"
import { ContainerNotFound, NotRunning, PodMonitorBusy } from "./errors.js"

export interface Target {
  readonly pod: string
  readonly record: RunView
  readonly container: ContainerRecord
}

export interface FindOptions {
  /** Default: the pod's first container. */
  readonly container?: string | undefined
  /** Ask the monitor whether the workload is running (exec); attach asks it by attaching. */
  readonly askMonitor?: boolean
}

/**
 * Retry while the container's monitor is busy (all its connection slots held), saying so once on
 * stderr (as a warning log line); then fail with MonitorBusy. Busy is never "not running".
 */
export const whileBusy = (pod: string, container: string) => <A, E, R>(eff: Effect.Effect<A, E | Busy, R>) =>
  eff.pipe(
    retryBusy(clientBusySchedule, (e) =>
      Effect.logWarning(`monitor of pod ${pod} (container ${container}) is busy (${busyReason(e.slots)}), retrying`)),
    Effect.catchIf(
      (e): e is Busy =>
        (e as { _tag?: unknown })._tag === "MonitorBusy",
      (e) =>
        Effect.fail(new PodMonitorBusy({ pod, container, slots: e.slots }))
    )
  )

const askMonitor = (pod: string, c: ContainerRecord) =>
  Effect.scoped(
    Effect.gen(function*() {
      const client = yield* connect(c.socketPath)
      return yield* client.state
    })
  ).pipe(
    Effect.timeoutFail({
      duration: "5 seconds",
      onTimeout: () => new NotRunning({ pod, container: c.name, reason: "its monitor does not answer" })
    }),
    whileBusy(pod, c.name),
    Effect.catchTags({
      MonitorGone: () => Effect.fail(new NotRunning({ pod, container: c.name, reason: "its monitor is gone" })),
      HelperProtocolError: (e) => Effect.fail(new NotRunning({ pod, container: c.name, reason: e.message })),
      MonitorRequestFailed: (e) => Effect.fail(new NotRunning({ pod, container: c.name, reason: e.message }))
    }),
    Effect.flatMap((s) =>
      s.status === "running" && s.pid === c.pid
        ? Effect.void
        : Effect.fail(new NotRunning({ pod, container: c.name, reason: `its workload is ${s.status}` }))
    )
  )

export const findTarget = (
  pod: string,
  options: FindOptions = {}
): Effect.Effect<Target, NotRunning | ContainerNotFound | PodMonitorBusy, TankConfig> =>
  Effect.gen(function*() {
    const record = yield* lookup(pod).pipe(
      Effect.catchTag("RecordUnreadable", (e) => Effect.fail(new NotRunning({ pod, reason: e.message })))
    )
    if (Option.isNone(record)) return yield* new NotRunning({ pod, reason: "it has no run on this machine" })
    if (record.value.phase === "starting") return yield* new NotRunning({ pod, reason: "it is starting" })
    const containers = record.value.containers
    const c = options.container === undefined ? containers[0] : containers.find((x) => x.name === options.container)
    if (!c) {
      return yield* new ContainerNotFound({
        pod,
        container: options.container ?? "(first)",
        available: containers.map((x) => x.name)
      })
    }
    if (!stillOurs(c)) return yield* new NotRunning({ pod, container: c.name, reason: "its workload exited" })
    if (options.askMonitor !== false) yield* askMonitor(pod, c)
    return { pod, record: record.value, container: c }
  })
