/**
 * An in-process Runtime for the reconciler's unit tier: a real implementation of the Runtime port
 * whose "workloads" live in memory. A workload runs until the test makes it end (`exit`) or its
 * scope closes (stop). `keepOnClose` leaves it running across a reconciler's shutdown so a second
 * reconciler can adopt it, as the real monitors allow. The e2e tier uses the real runtime.
 */
import { Deferred, Duration, Effect, Layer, Option } from "effect"
import { type RunExit, type RunHandle, Runtime, type RuntimeService, SetupFailed } from "../../src/runtime/Runtime.js"
import type { Pod } from "../../src/spec/Pod.js"

/** One incarnation of one container. */
export interface FakeIncarnation {
  readonly hostPid: number
  readonly startedAt: Date
  readonly exit: Deferred.Deferred<RunExit>
  ended: boolean
}

export interface FakeWorkload {
  readonly name: string
  readonly spec: Pod
  readonly hostPid: number
  readonly startedAt: Date
  /** The first container's first incarnation's exit (the pod's, for one-container pods). */
  readonly exit: Deferred.Deferred<RunExit>
  /** Current incarnation of every container, by name. */
  readonly containers: Map<string, FakeIncarnation>
  /** Set by keepOnClose; cleared when adopted. */
  kept: boolean
  ended: boolean
}

export interface FakeRuntimeOptions {
  /** Time a bring-up takes (on the Clock: TestClock in `it.effect`). */
  readonly startDelayMs?: number
  /** How long the first start with an image takes to pull it (between "pulling" and "starting"). */
  readonly pullDelayMs?: number
  /** Time a stop takes (the grace period in use), for every pod or per pod name. */
  readonly stopDelayMs?: number | ((name: string) => number)
  readonly firstPid?: number
}

export interface FakeRuntime {
  readonly layer: Layer.Layer<Runtime>
  readonly service: RuntimeService
  /** Live workloads (running, or ended but not yet cleaned up), by pod name. */
  readonly workloads: Map<string, FakeWorkload>
  /** Names with debris only (no workload), as `leftovers` reports them. */
  readonly debris: Set<string>
  /** What happened, in order: "start web 40001", "stop web 40001", "keep ...", "adopt ...", "sweep x", "purge x". */
  readonly log: Array<string>
  /** End the pod's workload (its first container) as if it exited or was killed. */
  readonly end: (name: string, exit: RunExit) => Effect.Effect<void>
  /** End one container's current incarnation. */
  readonly endContainer: (pod: string, container: string, exit: RunExit) => Effect.Effect<void>
  /** The current pid of one container. */
  readonly containerPid: (pod: string, container: string) => number | undefined
  /** Make the next `times` starts of this pod fail at `step`. */
  readonly failStarts: (name: string, step: string, message: string, times?: number) => void
  /** Make the next start of this pod die (a bug in the runtime, not a typed failure). */
  readonly dieOnStart: (name: string) => void
  readonly stats: { inFlight: number; maxInFlight: number; starts: number }
  readonly pidOf: (name: string) => number | undefined
}

export const makeFakeRuntime = (options: FakeRuntimeOptions = {}): Effect.Effect<FakeRuntime> =>
  Effect.sync(() => {
    const workloads = new Map<string, FakeWorkload>()
    const debris = new Set<string>()
    const log: Array<string> = []
    const failures = new Map<string, { step: string; message: string; times: number }>()
    const pulled = new Set<string>()
    const dying = new Set<string>()
    const stats = { inFlight: 0, maxInFlight: 0, starts: 0 }
    let nextPid = options.firstPid ?? 40_000

    const release = (w: FakeWorkload) =>
      Effect.gen(function*() {
        if (w.kept) {
          log.push(`keep ${w.name} ${w.hostPid}`)
          return
        }
        if (!w.ended) {
          log.push(`stop ${w.name} ${w.hostPid}`)
          const delay = typeof options.stopDelayMs === "function" ? options.stopDelayMs(w.name) : options.stopDelayMs
          if (delay) yield* Effect.sleep(Duration.millis(delay))
          w.ended = true
          for (const inc of w.containers.values()) {
            inc.ended = true
            yield* Deferred.succeed(inc.exit, { _tag: "Signaled", signal: 15 })
          }
        } else {
          log.push(`cleanup ${w.name} ${w.hostPid}`)
        }
        if (workloads.get(w.name) === w) workloads.delete(w.name)
      })

    const remove = (what: "sweep" | "purge", name: string) => {
      log.push(`${what} ${name}`)
      debris.delete(name)
      const w = workloads.get(name)
      if (w) {
        w.ended = true
        workloads.delete(name)
      }
    }

    const run = (name: string, inc: FakeIncarnation) => ({
      name,
      hostPid: inc.hostPid,
      startedAt: inc.startedAt,
      wait: Deferred.await(inc.exit)
    })

    const incarnation = (pid: number) =>
      Effect.gen(function*() {
        return {
          hostPid: pid,
          startedAt: new Date(yield* Effect.clockWith((c) => c.currentTimeMillis)),
          exit: yield* Deferred.make<RunExit>(),
          ended: false
        }
      })

    const handle = (w: FakeWorkload): RunHandle => {
      const containers = [...w.containers].map(([name, inc]) => run(name, inc))
      return {
        pod: w.name,
        hostPid: w.hostPid,
        startedAt: w.startedAt,
        addresses: [],
        wait: Effect.raceAll(containers.map((c) => c.wait)),
        containers,
        restartContainer: (name) =>
          Effect.gen(function*() {
            const inc = w.containers.get(name)
            if (!inc || !inc.ended) return yield* Effect.dieMessage(`fake runtime: ${w.name}/${name} is not ended`)
            const next = yield* incarnation(nextPid++)
            w.containers.set(name, next)
            log.push(`restart ${w.name}/${name} ${next.hostPid}`)
            return run(name, next)
          }),
        keepOnClose: Effect.sync(() => {
          w.kept = true
        })
      }
    }

    const service: RuntimeService = {
      start: (pod, opts) =>
        Effect.gen(function*() {
          const image = pod.containers[0]?.image
          if (typeof image === "string" && !pulled.has(image)) {
            if (opts?.onProgress) yield* opts.onProgress("pulling")
            if (options.pullDelayMs) yield* Effect.sleep(Duration.millis(options.pullDelayMs))
            pulled.add(image)
          }
          if (opts?.onProgress) yield* opts.onProgress("starting")
          stats.inFlight++
          stats.maxInFlight = Math.max(stats.maxInFlight, stats.inFlight)
          yield* Effect.sleep(Duration.millis(options.startDelayMs ?? 0)).pipe(
            Effect.ensuring(Effect.sync(() => stats.inFlight--))
          )
          if (dying.delete(pod.name)) return yield* Effect.dieMessage(`fake runtime: injected defect for ${pod.name}`)
          const failure = failures.get(pod.name)
          if (failure && failure.times > 0) {
            failure.times--
            log.push(`fail ${pod.name} ${failure.step}`)
            return yield* new SetupFailed({ pod: pod.name, step: failure.step, message: failure.message })
          }
          if (workloads.has(pod.name)) return yield* Effect.die(`fake runtime: ${pod.name} started twice`)
          stats.starts++
          const first = yield* incarnation(nextPid++)
          const containers = new Map([[pod.containers[0]!.name, first]])
          for (const c of pod.containers.slice(1)) containers.set(c.name, yield* incarnation(nextPid++))
          const w: FakeWorkload = {
            name: pod.name,
            spec: pod,
            hostPid: first.hostPid,
            startedAt: first.startedAt,
            exit: first.exit,
            containers,
            kept: false,
            ended: false
          }
          workloads.set(pod.name, w)
          log.push(`start ${pod.name} ${w.hostPid}`)
          yield* Effect.addFinalizer(() => release(w))
          return handle(w)
        }),
      adopt: (pod) =>
        Effect.gen(function*() {
          const w = workloads.get(pod.name)
          if (!w || !w.kept) return Option.none()
          w.kept = false
          log.push(`adopt ${pod.name} ${w.hostPid}`)
          yield* Effect.addFinalizer(() => release(w))
          return Option.some(handle(w))
        }),
      leftovers: Effect.sync(() => [...new Set([...workloads.keys(), ...debris])].sort()),
      sweep: (name) => Effect.sync(() => remove("sweep", name)),
      purge: (name) => Effect.sync(() => remove("purge", name))
    }

    return {
      layer: Layer.succeed(Runtime, service),
      service,
      workloads,
      debris,
      log,
      stats,
      end: (name, exit) =>
        Effect.gen(function*() {
          const w = workloads.get(name)
          if (!w || w.ended) return yield* Effect.dieMessage(`fake runtime: ${name} is not running`)
          w.ended = true
          log.push(`end ${name} ${w.hostPid} ${exit._tag === "Exited" ? `code ${exit.code}` : `signal ${exit.signal}`}`)
          const first = w.containers.get(w.spec.containers[0]!.name)!
          first.ended = true
          yield* Deferred.succeed(first.exit, exit)
        }),
      endContainer: (pod, container, exit) =>
        Effect.gen(function*() {
          const inc = workloads.get(pod)?.containers.get(container)
          if (!inc || inc.ended) return yield* Effect.dieMessage(`fake runtime: ${pod}/${container} is not running`)
          inc.ended = true
          const how = exit._tag === "Exited" ? `code ${exit.code}` : `signal ${exit.signal}`
          log.push(`end ${pod}/${container} ${inc.hostPid} ${how}`)
          yield* Deferred.succeed(inc.exit, exit)
        }),
      containerPid: (pod, container) => {
        const inc = workloads.get(pod)?.containers.get(container)
        return inc && !inc.ended ? inc.hostPid : undefined
      },
      failStarts: (name, step, message, times = 1) => {
        failures.set(name, { step, message, times })
      },
      dieOnStart: (name) => {
        dying.add(name)
      },
      pidOf: (name) => {
        const w = workloads.get(name)
        return w && !w.ended ? w.hostPid : undefined
      }
    }
  })
