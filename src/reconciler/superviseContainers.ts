/**
 * Supervision of the containers of one running pod with several, as the kubelet does: each
 * container restarts alone, under the pod's restart policy, with its own backoff; the others keep
 * running. Resolves when no container will restart any more (every one ended for good), with the
 * ending that says how the pod ended: the first failure, else a clean exit.
 */
import { Duration, Effect, Either } from "effect"
import type { ContainerRun, RunHandle } from "../runtime/Runtime.js"
import type { RestartPolicy } from "../spec/Pod.js"
import type { ContainerStatus, LastExit } from "../store/status.js"
import type { Recorder } from "./record.js"
import { isoAt, now, toLastExit } from "./record.js"
import { decide, describeEnding, type Ending } from "./restarts.js"
import type { Env } from "./supervise.js"

const runningStatus = (c: ContainerRun, restarts: number, lastExit: LastExit | undefined): ContainerStatus => ({
  name: c.name,
  state: "running",
  restarts,
  hostPid: c.hostPid,
  startedAt: c.startedAt.toISOString(),
  ...(lastExit ? { lastExit } : {})
})

export const superviseContainers = (
  env: Env,
  rec: Recorder,
  policy: RestartPolicy,
  h: RunHandle,
  options: {
    /** Restarts of the pod as a whole (bring-up failures), counted into the pod's `restarts`. */
    readonly podRestarts: number
    /** Container states from before an agent restart (adoption), to carry their restart counts on. */
    readonly prior: ReadonlyArray<ContainerStatus>
    /**
     * The pod's "running"/"adopted" event, written once the containers' states are in the status:
     * a watcher (src/api/watch.ts) takes the status from the event, so it must be the whole one.
     */
    readonly announce: Effect.Effect<void>
  }
): Effect.Effect<Ending> =>
  Effect.gen(function*() {
    const priorOf = (name: string) => options.prior.find((c) => c.name === name)

    /** Change one container's status; the pod's restarts and host pid follow its containers. */
    const setContainer = (name: string, next: ContainerStatus) =>
      rec.update((s) => {
        const containers = (s.containers ?? []).map((c) => c.name === name ? next : c)
        const first = containers[0]
        return {
          ...s,
          containers,
          restarts: options.podRestarts + containers.reduce((n, c) => n + c.restarts, 0),
          ...(first?.hostPid !== undefined ? { hostPid: first.hostPid } : {})
        }
      })

    yield* rec.update((s) => {
      const containers = h.containers.map((c) =>
        runningStatus(c, priorOf(c.name)?.restarts ?? 0, priorOf(c.name)?.lastExit)
      )
      return {
        ...s,
        containers,
        restarts: options.podRestarts + containers.reduce((n, c) => n + c.restarts, 0)
      }
    })
    yield* options.announce

    const one = (first: ContainerRun): Effect.Effect<Ending> =>
      Effect.gen(function*() {
        const name = first.name
        let restarts = priorOf(name)?.restarts ?? 0
        let run: ContainerRun = first
        let lastStartAt = first.startedAt.getTime()
        let ending: Ending = yield* run.wait
        while (true) {
          const at = yield* now
          const d = decide(policy, ending, { restarts, lastStartAt }, at, env.config.backoff)
          const lastExit = toLastExit(ending, at)
          const failed = ending._tag === "SetupFailed"
          const about = { container: name, hostPid: run.hostPid }
          yield* rec.event(failed ? "failed" : "exited", {
            ...about,
            restarts,
            lastExit,
            message: `container ${name} ${describeEnding(ending)}`
          })
          if (d.action === "terminal") {
            yield* setContainer(name, {
              name,
              state: failed ? "failed" : "terminal",
              restarts,
              lastExit,
              reason: d.reason
            })
            yield* rec.event("terminal", { ...about, restarts, message: `container ${name}: ${d.reason}` })
            return ending
          }
          restarts = d.restarts
          yield* setContainer(name, {
            name,
            state: failed ? "failed" : "backing-off",
            restarts,
            lastExit,
            reason: d.reason,
            nextRestartAt: isoAt(at + d.delayMs)
          })
          yield* rec.event("backing-off", {
            ...about,
            restarts,
            delayMs: d.delayMs,
            message: `container ${name}: ${d.reason}`
          })
          yield* Effect.sleep(Duration.millis(d.delayMs))
          lastStartAt = yield* now
          const next = yield* Effect.either(h.restartContainer(name))
          if (Either.isLeft(next)) {
            const e = next.left
            ending = { _tag: "SetupFailed", step: e.step, message: e.message }
            continue
          }
          run = next.right
          lastStartAt = run.startedAt.getTime()
          yield* setContainer(name, runningStatus(run, restarts, lastExit))
          yield* rec.event("running", {
            container: name,
            hostPid: run.hostPid,
            restarts,
            message: `container ${name} restarted`
          })
          ending = yield* run.wait
        }
      })

    const endings = yield* Effect.forEach(h.containers, one, { concurrency: "unbounded" })
    return endings.find((e) => !(e._tag === "Exited" && e.code === 0)) ?? endings[0]!
  })
