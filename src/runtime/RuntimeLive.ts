/**
 * The live Runtime: brings a pod up through the native helper and supervises it.
 *
 * Bring-up is the ordered list of steps in `steps/` (list the folder: userns, volumes, images,
 * sandbox, network, cgroups, files, init, monitors, proceed), run by `steps/runner.ts`, which
 * journals each step in the run record (`<run>/pod.json`) as it begins and completes. Any failure or
 * stop undoes exactly the steps begun, in reverse, every one even when another fails.
 *
 * All of it lives in a detachable scope: when the agent leaves with live restore (`keepOnClose`),
 * the scope is not closed and the pod keeps running under its monitors; a later agent `adopt`s it
 * from its record — finishing a bring-up whose workloads were being released, undoing one cut
 * short. A record that exists but cannot be read is never taken for "gone": the run is left alone.
 */
import { Effect, Either, ExecutionStrategy, Exit, Layer, Option, Ref, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Cgroups } from "../cgroups/Cgroups.js"
import { TankConfig } from "../config/Config.js"
import { hostPathPolicy } from "../config/hostPaths.js"
import { Host } from "../host/Host.js"
import { Images } from "../image/Images.js"
import { Network } from "../net/Network.js"
import { PodNetworks, staticOnly } from "../net/PodNetworks.js"
import { canonicalJson } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import { fromExitRecord, oomKill } from "./ending.js"
import { TeardownFailed } from "./errors.js"
import { withFieldEnv } from "./fieldEnv.js"
import { initPathCandidate } from "./helper/binary.js"
import type { MonitorClient } from "./helper/client.js"
import { readExitFile } from "./helper/monitor.js"
import type { ExitRecord } from "./helper/schema.js"
import { makeSpawner } from "./helper/spawner.js"
import { agentLockFile, cgroupName, layersDir, type PodLayout, podLayout, runsDir, socketDir } from "./layout.js"
import {
  connectAgent,
  containerRecord,
  exitRecordOf,
  launch,
  type MonitorRef,
  proceedOne,
  step,
  stopMonitor
} from "./monitors.js"
import { prepareContainer, volumeSources } from "./prepare.js"
import { type ContainerRecord, monitorAlive, readRecord, RecordUnreadable, type RunRecord, viewOf } from "./record.js"
import { openRunRoot, RunRootFailed } from "./runRoot.js"
import {
  type RunHandle,
  Runtime,
  type RuntimeNotice,
  type RuntimeService,
  SetupFailed,
  type StartOptions
} from "./Runtime.js"
import { parseHardLimits } from "./security/rlimits.js"
import { makeLayerDirs } from "./steps/07-files.js"
import type { StepHooks } from "./steps/hooks.js"
import { stages } from "./steps/index.js"
import { anyMonitorAlive } from "./steps/monitorsByName.js"
import { type Journal, journalOf, openJournal, runSteps, undoRun } from "./steps/runner.js"
import type { LiveOutputs, StepDeps } from "./steps/Step.js"
import { makeTrash } from "./trash.js"
import { UserNamespaces } from "./userns/UserNamespaces.js"

export interface RuntimeOptions {
  /** Namespace holding the macvlan parents (default: the agent's own). Tests use a hub netns. */
  readonly parentNetns?: string
  /** Mixed into NIC MACs so same-named pods on two machines differ. */
  readonly macSeed?: string
  /** Test-only hook points between bring-up steps (steps/hooks.ts). */
  readonly hooks?: StepHooks
}

/** Off the event loop (a run dir of many containers takes a while), its entries removed in parallel. */
const rm = (p: string) => Effect.promise(() => fs.promises.rm(p, { recursive: true, force: true }))

export const make = (options: RuntimeOptions = {}) =>
  Effect.gen(function*() {
    const config = yield* TankConfig
    const images = yield* Images
    const cgroups = yield* Cgroups
    const network = yield* Network
    const host = yield* Host
    // The agent's network services (pools, bridges, ports, DNS) when it provides them; else static NICs only.
    const podNetworks = Option.getOrElse(yield* Effect.serviceOption(PodNetworks), () => staticOnly(network))
    const dataDir = config.dataDir
    const graceMs = config.reconciler.stopGracePeriodMs
    // One small helper process forks the monitors and sandboxes (far cheaper than Node spawning).
    const spawner = yield* makeSpawner
    yield* spawner.warm
    const settings = {
      runLine: spawner.runLine,
      graceMs,
      logs: config.logs,
      agentPidFile: agentLockFile(dataDir),
      init: { path: initPathCandidate(), byDefault: config.init ?? false }
    }
    const stopContainer = stopMonitor(graceMs)
    const hostPaths = hostPathPolicy(config)
    // The runs' state on a tmpfs (runRoot.ts); made before the trashes, so let go after them.
    const runRoot = yield* openRunRoot(dataDir)
    // Runs of the layout before the run root (`<dataDir>/run/<pod>`): their monitors would be
    // strangers to this runtime, which would start second copies of their pods beside them.
    const earlier = path.join(dataDir, "run")
    const earlierRuns = fs.existsSync(earlier) ? fs.readdirSync(earlier).sort() : []
    if (earlierRuns.length > 0) {
      return yield* new RunRootFailed({
        path: runRoot,
        reason: `${earlier} holds runs of an earlier Tank (${earlierRuns.join(", ")}): stop them with the ` +
          `Tank that started them (tank delete), or remove ${earlier} once none of them runs (after a reboot)`
      })
    }
    fs.mkdirSync(socketDir(dataDir), { recursive: true, mode: 0o700 })
    // Undone run dirs and writable layers leave by a rename and are removed off the stop's path
    // (trash.ts): each in a trash on its own file system.
    const trash = yield* makeTrash(runRoot)
    const layerTrash = yield* makeTrash(dataDir)
    // Layers whose run is gone (a reboot emptied the run root; an agent died between the two
    // removals): nothing can use them any more. A run dir is made before its layers and removed
    // before them, so a bring-up or undo under way elsewhere is never cut short here.
    yield* Effect.forEach(
      fs.existsSync(layersDir(dataDir)) ? fs.readdirSync(layersDir(dataDir)) : [],
      (name) =>
        fs.existsSync(path.join(runsDir(dataDir), name))
          ? Effect.void
          : layerTrash.discard(path.join(layersDir(dataDir), name)),
      { discard: true }
    )
    const userNamespaces = yield* Effect.serviceOption(UserNamespaces)
    /** Bring-ups under way (StepDeps.alone: a lone one makes its few file calls on this thread). */
    let bringingUp = 0
    // Read once: workloads get explicit rlimits, capped by the hard limits the agent runs under.
    const security = { dataDir, hostHard: parseHardLimits(fs.readFileSync("/proc/self/limits", "utf8")) }
    const deps: StepDeps = {
      dataDir,
      images,
      cgroups,
      network,
      host,
      podNetworks,
      userNamespaces,
      settings,
      security,
      hostPaths,
      stopGraceMs: graceMs,
      nodeName: config.node.name,
      trash,
      layerTrash,
      alone: () => bringingUp <= 1,
      monitorsRecorded: new Set(),
      ...(options.hooks ? { hooks: options.hooks } : {}),
      ...(options.parentNetns ? { parentNetns: options.parentNetns } : {}),
      ...(options.macSeed ? { macSeed: options.macSeed } : {})
    }

    /** How the workload of one container ended, with OOM kills told apart from other SIGKILLs. */
    const oomKills = (pod: string, container: string) =>
      cgroups.stats({ pod: cgroupName(dataDir, pod), container }).pipe(
        Effect.map((s) => s.oomKills ?? 0),
        Effect.orElseSucceed(() => 0)
      )

    /**
     * `oomBefore`: the container cgroup's OOM kills before this incarnation (it outlives restarts).
     * Under tank-init (`init: true`) a workload killed by SIGKILL ends as exit code 137 (128 + 9, PID 1
     * cannot die of the same signal): with an OOM kill counted meanwhile, it was the OOM killer.
     */
    const exitOf = (pod: string, container: string, r: ExitRecord, oomBefore = 0) =>
      r.reason === "signaled" && r.signal === 9
        ? Effect.map(oomKills(pod, container), (n) => fromExitRecord(r, n > oomBefore))
        : r.reason === "exited" && r.exitCode === 128 + 9
        ? Effect.map(
          oomKills(pod, container),
          (n) => n > oomBefore ? oomKill : fromExitRecord(r, false)
        )
        : Effect.succeed(fromExitRecord(r, false))

    const undoOf = (pod: string) => ({ deps, pod, layout: podLayout(dataDir, pod) })

    /**
     * Undo a run: from its journal (in-process scopes first), or everything by name without one.
     * Every failure is logged and comes back in TeardownFailed.
     */
    const teardown = (
      pod: string,
      journal: Option.Option<Journal>,
      scopes?: ReadonlyMap<string, Scope.CloseableScope>
    ) =>
      undoRun(stages, undoOf(pod), journal, scopes as never).pipe(
        Effect.mapError((failures) => new TeardownFailed({ pod, failures })),
        Effect.tapError((e) => Effect.logError(e.message))
      )

    /** Report a teardown that left something behind (it was logged already). */
    const notify = (onNotice: StartOptions["onNotice"]) => (e: TeardownFailed) =>
      onNotice ? onNotice({ type: "teardown-failed", message: e.message } satisfies RuntimeNotice) : Effect.void

    /**
     * Tear down a pod that is gone (deleted, or a leftover nobody wants): from its journal when it
     * can be read, else everything by name — the store, not the record, says it is gone.
     */
    const teardownGone = (pod: string) =>
      Effect.gen(function*() {
        const layout = podLayout(dataDir, pod)
        const record = yield* Effect.either(readRecord(pod, layout.record))
        if (Either.isLeft(record)) {
          yield* Effect.logWarning(`${record.left.message}; the pod is gone: its run is found and removed by name`)
          return yield* teardown(pod, Option.none())
        }
        if (Option.isNone(record.right) && !fs.existsSync(layout.run)) return
        return yield* teardown(pod, Option.map(record.right, (r) => journalOf(layout, r)))
      })

    /** A container incarnation's undo and connection: closed when it is replaced or the run ends. */
    interface Live {
      /** Undefined for an adopted monitor that could not be reached: its exit is awaited by reconnecting. */
      readonly client: MonitorClient | undefined
      readonly ref: MonitorRef
      readonly startedAt: Date
      /** Fresh incarnations own a child scope of the run; adopted ones are undone by the teardown. */
      readonly scope: Scope.CloseableScope | undefined
    }

    const containerRun = (pod: string, name: string, pid: number, live: Live, oomBefore = 0) => ({
      name,
      hostPid: pid,
      startedAt: live.startedAt,
      wait: Effect.flatMap(exitRecordOf(live.client, live.ref), (r) => exitOf(pod, name, r, oomBefore))
    })

    /** A handle over running monitors (fresh or adopted). */
    const handleOf = (
      spec: Pod,
      layout: PodLayout,
      /** Where restarted containers' monitors live (closed in parallel, see `containersScope`). */
      monitorsScope: Scope.Scope,
      journal: Journal,
      lives: ReadonlyArray<Live>,
      keep: Ref.Ref<boolean>
    ): Effect.Effect<RunHandle> =>
      Effect.gen(function*() {
        const pod = spec.name
        const initial = viewOf(journal.current())
        const current = new Map(initial.containers.map((c, i) => [c.name, lives[i]!]))
        // One restart of a given pod's containers at a time: each rewrites the pod record.
        const lock = yield* Effect.makeSemaphore(1)
        const containers = initial.containers.map((c, i) => containerRun(pod, c.name, c.pid, lives[i]!))

        const restartContainer = (name: string) =>
          lock.withPermits(1)(Effect.gen(function*() {
            const record = viewOf(journal.current())
            const idx = record.containers.findIndex((c) => c.name === name)
            const c = spec.containers.find((c) => c.name === name)
            if (idx < 0 || !c) {
              return yield* new SetupFailed({ pod, step: "restart", message: `no container "${name}" in this run` })
            }
            const old = record.containers[idx]!
            // Until the new monitor is recorded the run's undo searches for monitors by name.
            const recorded = deps.monitorsRecorded!.delete(layout.run)
            // Let the previous incarnation go (its monitor is released, its workload is gone).
            const prev = current.get(name)
            if (prev?.scope) yield* Scope.close(prev.scope, Exit.void)
            else yield* stopContainer(old)
            const L = layout.container(name)
            yield* Effect.try({
              try: () => {
                // A new container gets a fresh writable layer, as in Kubernetes; volumes persist.
                for (const d of [L.upper, L.work]) fs.rmSync(d, { recursive: true, force: true })
                makeLayerDirs(L, record.userns)
                fs.rmSync(L.exit, { force: true })
              },
              catch: step(pod, `restart ${name}`)
            })
            const oomBefore = yield* oomKills(pod, name)
            const volumes = yield* volumeSources(spec, layout, hostPaths, record.userns)
            const prepared = withFieldEnv(
              yield* prepareContainer(images, spec, c, volumes, security, record.userns),
              { addresses: record.addresses, nodeName: config.node.name }
            )
            const s = yield* launch(settings, spec, layout, prepared, old.cgroupProcs, monitorsScope)
            yield* journal.update((r) => ({
              ...r,
              results: {
                ...r.results,
                monitors: (r.results.monitors ?? []).map((x, i) => i === idx ? containerRecord(s) : x)
              }
            }))
            if (recorded) deps.monitorsRecorded!.add(layout.run)
            const live: Live = { client: s.client, ref: s.ref, startedAt: s.startedAt, scope: s.scope }
            current.set(name, live)
            yield* proceedOne(pod, s)
            return containerRun(pod, name, s.h.pid, live, oomBefore)
          }))

        return {
          pod,
          hostPid: initial.containers[0]!.pid,
          startedAt: new Date(initial.startedAt),
          addresses: initial.addresses,
          ...(initial.userns ? { userNamespace: initial.userns } : {}),
          wait: Effect.raceAll(containers.map((c) => c.wait)),
          containers,
          restartContainer,
          keepOnClose: Ref.set(keep, true)
        }
      })

    /**
     * The run's scope, closed (and the run undone from its journal) with the caller's scope unless
     * the agent leaves it for live restore.
     */
    const detachable = (
      pod: string,
      journal: Journal,
      scopes: Map<string, Scope.CloseableScope>,
      onNotice: StartOptions["onNotice"]
    ) =>
      Effect.gen(function*() {
        const keep = yield* Ref.make(false)
        const runScope = yield* Scope.make()
        yield* Effect.addFinalizer((exit) =>
          Ref.get(keep).pipe(
            Effect.flatMap((k) =>
              k ? Effect.void : teardown(pod, Option.some(journal), scopes).pipe(
                Effect.catchAll(notify(onNotice)),
                Effect.zipRight(Scope.close(runScope, exit))
              )
            )
          )
        )
        return { keep, runScope }
      })

    /**
     * A connection to a monitor a previous agent left: busy is retried (it is alive), and a
     * monitor that answers for another workload is not ours. Undefined when none could be had.
     */
    const adoptConnection = (pod: string, c: ContainerRecord, runScope: Scope.Scope) =>
      Scope.extend(connectAgent(c), runScope).pipe(
        Effect.flatMap((client) =>
          client.hello.pid === c.pid
            ? Effect.succeed<MonitorClient | undefined>(client)
            : Effect.as(
              Effect.logWarning(
                `pod ${pod}: the monitor at ${c.socketPath} serves pid ${client.hello.pid}, not ${c.pid}`
              ),
              undefined
            )
        ),
        Effect.catchAll((e) =>
          Effect.as(
            monitorAlive(c)
              ? Effect.logWarning(
                `pod ${pod}: the monitor of container ${c.name} (pid ${c.monitorPid}) is alive but not reachable ` +
                  `(${e.message}); adopted all the same, its exit is awaited by reconnecting`
              )
              : Effect.void,
            undefined
          )
        )
      )

    /**
     * What an earlier run of this name left (nobody adopted it) goes before a new run starts: never
     * two monitors for one container. A record that cannot be read stops the start instead.
     */
    const clearEarlier = (pod: string, layout: PodLayout) =>
      Effect.gen(function*() {
        if (!fs.existsSync(layout.run)) return
        const earlier = yield* readRecord(pod, layout.record).pipe(
          Effect.mapError((e) => new SetupFailed({ pod, step: "record", message: e.advice }))
        )
        if (Option.isNone(earlier) && (yield* anyMonitorAlive({ layout }))) {
          return yield* new SetupFailed({
            pod,
            step: "leftover",
            message: `${layout.run} has no record but a monitor of an earlier run is alive; not starting a second one`
          })
        }
        yield* teardown(pod, Option.map(earlier, (r) => journalOf(layout, r))).pipe(
          Effect.mapError((e) => new SetupFailed({ pod, step: "leftover", message: e.message }))
        )
      })

    const start = (pod: Pod, opts: StartOptions = {}): Effect.Effect<RunHandle, SetupFailed, Scope.Scope> =>
      Effect.gen(function*() {
        const progress = opts.onProgress ?? (() => Effect.void)
        const layout = podLayout(dataDir, pod.name)
        yield* clearEarlier(pod.name, layout)
        const scopes = new Map<string, Scope.CloseableScope>()
        // The run dir and the finalizer that undoes it come together: an interrupt between them
        // would leave a run dir nobody removes.
        const { journal, keep, runScope } = yield* Effect.uninterruptible(Effect.gen(function*() {
          const journal = yield* openJournal(layout, pod.name, canonicalJson(pod), deps.alone!())
          return { journal, ...(yield* detachable(pod.name, journal, scopes, opts.onNotice)) }
        }))
        const live: LiveOutputs = {}
        yield* runSteps(stages, { deps, pod, layout, journal, runScope, progress }, scopes as never, live)
        const lives = (live.launched ?? []).map((s): Live => ({
          client: s.client,
          ref: s.ref,
          startedAt: s.startedAt,
          scope: s.scope
        }))
        return yield* handleOf(pod, layout, live.monitorsScope!, journal, lives, keep)
      }).pipe(
        (bringUp) =>
          Effect.acquireUseRelease(
            Effect.sync(() => bringingUp++),
            () => bringUp,
            () => Effect.sync(() => bringingUp--)
          ),
        Effect.withSpan("Runtime.start", { attributes: { pod: pod.name } })
      )

    /** A run whose workloads were being told to run when its agent went: tell the parked ones. */
    const finishProceed = (pod: string, journal: Journal, lives: ReadonlyArray<Live>) =>
      Effect.gen(function*() {
        yield* Effect.forEach(lives, (l) =>
          l.client === undefined ? Effect.void : l.client.state.pipe(
            Effect.flatMap((s) =>
              s.status === "parked" ? proceedOne(pod, { name: l.ref.name, client: l.client! }) : Effect.void
            ),
            // Its exit (setup_failed) tells the supervisor.
            Effect.catchAll((e) => Effect.logWarning(`pod ${pod}: finishing container ${l.ref.name}: ${e.message}`))
          ), { discard: true })
        yield* journal.update((r) => ({ ...r, phase: "running" })).pipe(
          Effect.catchAll((e) => Effect.logWarning(`pod ${pod}: ${e.message}`))
        )
        yield* Effect.logInfo(`pod ${pod}: finished a bring-up its previous agent left proceeding`)
      })

    const adopt = (
      pod: Pod,
      opts: Pick<StartOptions, "onNotice"> = {}
    ): Effect.Effect<Option.Option<RunHandle>, RecordUnreadable, Scope.Scope> =>
      Effect.gen(function*() {
        const layout = podLayout(dataDir, pod.name)
        const found = yield* readRecord(pod.name, layout.record)
        if (Option.isNone(found)) {
          if (!fs.existsSync(layout.run)) return Option.none()
          if (yield* anyMonitorAlive({ layout })) {
            return yield* new RecordUnreadable({
              pod: pod.name,
              file: layout.record,
              problem: "missing",
              reason: "there is no record, but a monitor of the pod's run is alive"
            })
          }
          yield* teardown(pod.name, Option.none()).pipe(Effect.catchAll(notify(opts.onNotice)))
          return Option.none()
        }
        const record: RunRecord = found.value
        const journal = journalOf(layout, record)
        if (record.phase === "starting") {
          // Cut short before any workload was told to run: undo exactly what was done.
          yield* Effect.logInfo(
            `pod ${pod.name}: undoing a bring-up its previous agent left at ${record.steps.at(-1)?.name ?? "its start"}`
          )
          yield* teardown(pod.name, Option.some(journal)).pipe(Effect.catchAll(notify(opts.onNotice)))
          return Option.none()
        }
        const scopes = new Map<string, Scope.CloseableScope>()
        const { keep, runScope } = yield* detachable(pod.name, journal, scopes, opts.onNotice)
        const view = viewOf(record)
        const lives = yield* Effect.forEach(
          view.containers,
          (c) =>
            Effect.map(adoptConnection(pod.name, c, runScope), (client): Live => ({
              client,
              ref: c,
              startedAt: new Date(c.startedAt ?? view.startedAt),
              scope: undefined
            })),
          { concurrency: "unbounded" }
        )
        // No monitor lives and no exit was recorded: the run died with its monitors; sweep it. A live
        // monitor that could not be reached is adopted all the same: its workload is running.
        const anything = yield* Effect.forEach(
          lives,
          (l) =>
            l.client || monitorAlive(l.ref)
              ? Effect.succeed(true)
              : Effect.map(readExitFile(l.ref.exitPath), Option.isSome)
        )
        if (!anything.some(Boolean)) {
          yield* Ref.set(keep, true)
          yield* Scope.close(runScope, Exit.void)
          yield* teardown(pod.name, Option.some(journal)).pipe(Effect.catchAll(notify(opts.onNotice)))
          return Option.none()
        }
        if (record.phase === "proceeding") yield* finishProceed(pod.name, journal, lives)
        const monitorsScope = yield* Scope.fork(runScope, ExecutionStrategy.parallel)
        scopes.set("monitors", monitorsScope)
        return Option.some(yield* handleOf(pod, layout, monitorsScope, journal, lives, keep))
      })

    // Only this data dir's runs: the cgroup tree under tank/ is shared by every agent on the host.
    const leftovers = Effect.sync(() => {
      const runDir = runsDir(dataDir)
      return fs.existsSync(runDir) ? fs.readdirSync(runDir).sort() : []
    })

    const sweep = (name: string) => teardownGone(name)

    const purge = (name: string) =>
      Effect.gen(function*() {
        const layout = podLayout(dataDir, name)
        // Everything else goes too, also when the teardown left something behind (reported at the end).
        const torn = yield* Effect.either(teardownGone(name))
        yield* podNetworks.release(name)
        // Its host id range goes back to the pool only now: a stopped run's files (volumes) still
        // belong to it until they are removed below.
        if (Option.isSome(userNamespaces)) {
          yield* userNamespaces.value.release(name).pipe(
            Effect.catchAll((e) => Effect.logWarning(`pod ${name}: its host id range was not released: ${e.message}`))
          )
        }
        yield* rm(layout.volumes)
        if (!config.logs.keepOnDelete) {
          yield* rm(layout.logs)
        }
        if (Either.isLeft(torn)) return yield* torn.left
      })

    return Runtime.of({ start, adopt, leftovers, sweep, purge } satisfies RuntimeService)
  })

export const layer = (options?: RuntimeOptions) => Layer.scoped(Runtime, make(options))
