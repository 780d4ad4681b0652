/**
 * The live Runtime: brings a pod up through the native helper and supervises it.
 *
 * Bring-up, in order (each step's undo registered in the run's scope, so any failure or stop undoes
 * exactly what was done, in reverse):
 *   pull images → resolve run params/users → run dir + volumes → pod sandbox (net/uts/ipc pinned)
 *   → network (macvlan NICs, routes) → cgroups (pod + one per container, limits) → /etc files
 *   → one monitor per container (workload cloned into its cgroups, parked) → pod record → proceed.
 *
 * All of it lives in a detachable scope: when the agent leaves with live restore (`keepOnClose`),
 * the scope is not closed and the pod keeps running under its monitors; a later agent `adopt`s it.
 */
import { Effect, ExecutionStrategy, Exit, Layer, Option, Ref, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { Cgroups } from "../cgroups/Cgroups.js"
import { TankConfig } from "../config/Config.js"
import { hostPathPolicy } from "../config/hostPaths.js"
import { Host } from "../host/Host.js"
import { Images } from "../image/Images.js"
import { Network } from "../net/Network.js"
import { PodNetworks, staticOnly } from "../net/PodNetworks.js"
import { resolvConf } from "../net/resolvConf.js"
import { canonicalJson } from "../spec/decode.js"
import type { Pod } from "../spec/Pod.js"
import { hostnameFile, hostsFile } from "./etcFiles.js"
import { withFieldEnv } from "./fieldEnv.js"
import { initPathCandidate } from "./helper/binary.js"
import type { MonitorClient } from "./helper/client.js"
import { readExitFile } from "./helper/monitor.js"
import { sandbox } from "./helper/sandbox.js"
import type { ExitRecord } from "./helper/schema.js"
import { isListening } from "./helper/socket.js"
import { agentLockFile, cgroupName, type ContainerLayout, type PodLayout, podLayout, socketDir } from "./layout.js"
import {
  connectAgent,
  containerRecord,
  exitRecordOf,
  launch,
  type MonitorRef,
  proceedOne,
  step,
  stopMonitor,
  toRunExit
} from "./monitors.js"
import { unmountTmpfs } from "./podVolumes.js"
import { containerField, prepareContainer, volumeSources } from "./prepare.js"
import { type ContainerRecord, monitorAlive, type PodRecord, readRecord, writeRecord } from "./record.js"
import { type RunHandle, Runtime, type RuntimeService, SetupFailed, type StartOptions } from "./Runtime.js"
import { deviceRules, passDevices } from "./security/devices.js"
import { parseHardLimits } from "./security/rlimits.js"
import { unpinSandbox } from "./unpin.js"
import { type IdRange, UserNamespaces } from "./userns/UserNamespaces.js"

export interface RuntimeOptions {
  /** Namespace holding the macvlan parents (default: the agent's own). Tests use a hub netns. */
  readonly parentNetns?: string
  /** Mixed into NIC MACs so same-named pods on two machines differ. */
  readonly macSeed?: string
}

/**
 * A container's overlay dirs: writable layer, overlay work dir, mount point. In a user namespace the
 * writable layer belongs to the pod's root: the merged root dir is the upper dir's, and what the
 * pod writes is stored under its host ids.
 */
const makeLayerDirs = (L: ContainerLayout, ids?: IdRange) => {
  for (const d of [L.upper, L.work, L.merged]) fs.mkdirSync(d, { recursive: true, mode: 0o755 })
  if (ids) { for (const d of [L.upper, L.work]) fs.chownSync(d, ids.hostUid, ids.hostGid) }
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
    const settings = {
      graceMs,
      logs: config.logs,
      agentPidFile: agentLockFile(dataDir),
      init: { path: initPathCandidate(), byDefault: config.init ?? false }
    }
    const stopContainer = stopMonitor(graceMs)
    const hostPaths = hostPathPolicy(config)
    fs.mkdirSync(socketDir(dataDir), { recursive: true, mode: 0o700 })
    const userNamespaces = yield* Effect.serviceOption(UserNamespaces)
    const rangeFor = (pod: string): Effect.Effect<IdRange, SetupFailed> =>
      Option.match(userNamespaces, {
        onNone: () =>
          Effect.fail(
            new SetupFailed({
              pod,
              step: "userns",
              message: "hostUsers: false, but this runtime has no host id range for pods"
            })
          ),
        onSome: (u) =>
          u.rangeFor(pod).pipe(Effect.mapError((e) => new SetupFailed({ pod, step: "userns", message: e.message })))
      })
    // Read once: workloads get explicit rlimits, capped by the hard limits the agent runs under.
    const security = { dataDir, hostHard: parseHardLimits(fs.readFileSync("/proc/self/limits", "utf8")) }

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
        ? Effect.map(oomKills(pod, container), (n) => toRunExit(r, n > oomBefore))
        : r.reason === "exited" && r.exitCode === 128 + 9
        ? Effect.map(
          oomKills(pod, container),
          (n) => n > oomBefore ? { _tag: "Signaled" as const, signal: 9, oomKilled: true } : toRunExit(r, false)
        )
        : Effect.succeed(toRunExit(r, false))

    /** Remove everything of a pod's run, whatever state it is in. Idempotent. */
    const teardown = (layout: PodLayout, pod: string) =>
      Effect.gen(function*() {
        const record = yield* readRecord(layout.record)
        if (Option.isSome(record)) {
          yield* Effect.forEach(record.value.containers, stopContainer, { concurrency: "unbounded", discard: true })
          // A dead monitor's socket file is stale; a live one's is never removed here (the monitor
          // removes its own when it exits), or a second monitor could be started beside it.
          yield* Effect.forEach(
            record.value.containers,
            (c) =>
              Effect.flatMap(
                isListening(c.socketPath),
                (listening) => listening || monitorAlive(c) ? Effect.void : rm(c.socketPath)
              ),
            { discard: true }
          )
        }
        yield* unpinSandbox(layout.ns).pipe(Effect.ignore)
        yield* cgroups.remove({ pod: cgroupName(dataDir, pod) }, { force: true }).pipe(Effect.ignore)
        yield* unmountTmpfs(layout.run)
        yield* rm(layout.run)
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
      runScope: Scope.Scope,
      initial: PodRecord,
      lives: ReadonlyArray<Live>,
      keep: Ref.Ref<boolean>
    ): Effect.Effect<RunHandle> =>
      Effect.gen(function*() {
        const pod = spec.name
        const recordRef = yield* Ref.make(initial)
        const current = new Map(initial.containers.map((c, i) => [c.name, lives[i]!]))
        // One restart of a given pod's containers at a time: each rewrites the pod record.
        const lock = yield* Effect.makeSemaphore(1)
        const containers = initial.containers.map((c, i) => containerRun(pod, c.name, c.pid, lives[i]!))

        const restartContainer = (name: string) =>
          lock.withPermits(1)(Effect.gen(function*() {
            const record = yield* Ref.get(recordRef)
            const idx = record.containers.findIndex((c) => c.name === name)
            const c = spec.containers.find((c) => c.name === name)
            if (idx < 0 || !c) {
              return yield* new SetupFailed({ pod, step: "restart", message: `no container "${name}" in this run` })
            }
            const old = record.containers[idx]!
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
            const s = yield* launch(settings, spec, layout, prepared, old.cgroupProcs, runScope)
            const next: PodRecord = {
              ...record,
              containers: record.containers.map((x, i) => i === idx ? containerRecord(s) : x)
            }
            yield* writeRecord(layout.record, next)
            yield* Ref.set(recordRef, next)
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

    /** Close the run's scope unless the agent leaves it for live restore. */
    const detachable = (pod: string, layout: PodLayout, adopted: boolean) =>
      Effect.gen(function*() {
        const keep = yield* Ref.make(false)
        const runScope = yield* Scope.make()
        // A fresh run's scope holds an undo for every step it took; an adopted run's holds none.
        const after = adopted ? teardown(layout, pod) : Effect.zipRight(unmountTmpfs(layout.run), rm(layout.run))
        yield* Effect.addFinalizer((exit) =>
          Ref.get(keep).pipe(
            Effect.flatMap((k) => k ? Effect.void : Scope.close(runScope, exit).pipe(Effect.zipRight(after)))
          )
        )
        return { keep, runScope }
      })

    /**
     * The scope every container monitor of a run lives in: closed before the rest of the run (it is
     * forked last) and in parallel, so a pod's containers stop at once under one grace period.
     */
    const containersScope = (runScope: Scope.Scope) => Scope.fork(runScope, ExecutionStrategy.parallel)

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

    const start = (pod: Pod, opts: StartOptions = {}): Effect.Effect<RunHandle, SetupFailed, Scope.Scope> =>
      Effect.gen(function*() {
        const progress = opts.onProgress ?? (() => Effect.void)
        const layout = podLayout(dataDir, pod.name)
        // Anything of an earlier run of this name that nobody adopted is a leftover now. Its monitors
        // must be gone before new ones start: never two monitors for one container.
        if (fs.existsSync(layout.run)) {
          const earlier = yield* readRecord(layout.record)
          yield* teardown(layout, pod.name)
          const alive = Option.match(earlier, { onNone: () => [], onSome: (r) => r.containers.filter(monitorAlive) })
          if (alive.length > 0) {
            return yield* new SetupFailed({
              pod: pod.name,
              step: "leftover",
              message: `the monitor of container ${alive[0]!.name} of an earlier run (pid ${
                alive[0]!.monitorPid
              }) is still alive; not starting a second one`
            })
          }
        }
        const { keep, runScope } = yield* detachable(pod.name, layout, false)
        const inRun = <A, E>(eff: Effect.Effect<A, E, Scope.Scope>) => Scope.extend(eff, runScope)

        yield* progress("pulling")
        fs.mkdirSync(layout.run, { recursive: true, mode: 0o700 })
        // hostUsers: false — the pod's host id range first: everything below is made for it.
        const ids = pod.hostUsers === false ? yield* rangeFor(pod.name) : undefined
        const volumes = yield* volumeSources(pod, layout, hostPaths, ids)
        // Three independent chains run at once (each step's undo is in the run scope, so a failure
        // in one interrupts the others and undoes all): the images and run parameters; the pod
        // sandbox (network unless "host", hostname, IPC, shared by its containers) and its NICs; the
        // cgroups (pod + one per container, limits from the spec).
        const runParams = Effect.all([
          Effect.forEach(pod.containers, (c) => prepareContainer(images, pod, c, volumes, security, ids), {
            concurrency: "unbounded"
          }),
          Effect.forEach(pod.initContainers, (c) => prepareContainer(images, pod, c, volumes, security, ids), {
            concurrency: "unbounded"
          })
        ]).pipe(Effect.tap(() => progress("starting")))
        const sandboxed = Effect.gen(function*() {
          const sb = yield* inRun(Effect.acquireRelease(
            sandbox({
              dir: layout.ns,
              net: pod.network !== "host",
              uts: true,
              ipc: true,
              hostname: pod.hostname ?? pod.name,
              ...(ids ? { userns: ids } : {})
            }),
            () => unpinSandbox(layout.ns).pipe(Effect.ignore)
          )).pipe(Effect.mapError(step(pod.name, "sandbox")))
          const net = pod.network === "host" ? undefined : yield* inRun(podNetworks.setup({
            pod,
            netnsPath: sb.net!,
            uplink: () => host.uplink,
            ...(options.parentNetns ? { parentNetns: options.parentNetns } : {}),
            ...(options.macSeed ? { macSeed: options.macSeed } : {})
          })).pipe(Effect.mapError(step(pod.name, "network")))
          return { sb, addresses: net?.state.nics.map((n) => n.address) ?? [], dns: net?.dns ?? [] }
        })
        // Init containers first: `groups` is indexed like `all` below. Device policy: the pod group
        // allows the union of its containers' devices (a child can never exceed its parent), each
        // container group the default list plus its own `devices:`. Container groups live in a child
        // scope closed in parallel (a pod's groups are removed at once), after which the pod group goes.
        const grouped = Effect.gen(function*() {
          const specs = [...pod.initContainers, ...pod.containers]
          const passed = yield* Effect.forEach(specs, (c) =>
            passDevices(c.devices ?? [], `${containerField(pod, c)}.devices`).pipe(
              Effect.mapError((e) =>
                new SetupFailed({ pod: pod.name, step: "security", message: `${e.field}: ${e.message}` })
              )
            ))
          const podGroup = { pod: cgroupName(dataDir, pod.name) }
          yield* inRun(Effect.acquireRelease(
            cgroups.ensure(podGroup, { devices: deviceRules(passed.flat()) }),
            () =>
              cgroups.remove(podGroup, { force: true }).pipe(Effect.ignore)
          )).pipe(Effect.mapError(step(pod.name, "cgroup")))
          const groups = yield* Scope.fork(runScope, ExecutionStrategy.parallel)
          // A container group inherits its pod group's policy (v1 copies the parent's list, v2 runs
          // the ancestors' programs): it needs its own only when it passes fewer devices than the
          // union — in the common case (no `devices:`) nothing more is written per container.
          const all = passed.flat()
          return yield* Scope.extend(
            Effect.forEach(specs, (c, i) =>
              cgroups.create(
                { ...podGroup, container: c.name },
                passed[i]!.length === all.length ? c.limits : { ...c.limits, devices: deviceRules(passed[i]!) }
              )),
            groups
          ).pipe(Effect.mapError(step(pod.name, "cgroup")))
        })
        const [[prepared, inits], { addresses, dns, sb }, groups] = yield* Effect.all([runParams, sandboxed, grouped], {
          concurrency: 1
        })
        const facts = { addresses, nodeName: config.node.name }
        const all = [...inits, ...prepared].map((c) =>
          withFieldEnv(c, facts)
        )
        const monitors = yield* containersScope(runScope)

        const hostDns = yield* host.dns
        yield* Effect.try({
          try: () => {
            fs.mkdirSync(layout.etc, { recursive: true })
            fs.mkdirSync(layout.logs, { recursive: true, mode: 0o700 })
            fs.writeFileSync(path.join(layout.etc, "hosts"), hostsFile(pod.hostname ?? pod.name, addresses))
            fs.writeFileSync(path.join(layout.etc, "hostname"), hostnameFile(pod.hostname ?? pod.name))
            const hostResolv = fs.existsSync("/etc/resolv.conf") ? fs.readFileSync("/etc/resolv.conf", "utf8") : ""
            fs.writeFileSync(
              path.join(layout.etc, "resolv.conf"),
              resolvConf(pod.network, { servers: hostDns, resolvConf: hostResolv }, dns)
            )
            // The pod's root may rewrite its /etc files, as root does elsewhere.
            if (ids) {
              for (const f of ["hosts", "hostname", "resolv.conf"]) {
                fs.chownSync(path.join(layout.etc, f), ids.hostUid, ids.hostGid)
              }
            }
            for (const c of all) {
              makeLayerDirs(layout.container(c.spec.name), ids)
            }
          },
          catch: step(pod.name, "etc")
        })

        // Init containers run to completion, in order, before the others start.
        for (const [i, c] of all.slice(0, inits.length).entries()) {
          const s = yield* launch(settings, pod, layout, c, groups[i]!.procsFiles, monitors)
          yield* proceedOne(pod.name, s)
          const r = yield* s.client.wait.pipe(Effect.mapError(step(pod.name, `init ${c.spec.name}`)))
          if (r.reason !== "exited" || r.exitCode !== 0) {
            return yield* new SetupFailed({
              pod: pod.name,
              step: `init ${c.spec.name}`,
              message: r.reason === "exited"
                ? `init container exited with code ${r.exitCode}`
                : r.reason === "signaled"
                ? `init container killed by signal ${r.signal}`
                : `init container setup failed: ${r.setupError.step}: ${r.setupError.message}`
            })
          }
          yield* Scope.close(s.scope, Exit.void)
        }

        const started = yield* Effect.forEach(
          all.slice(inits.length),
          (c, i) => launch(settings, pod, layout, c, groups[inits.length + i]!.procsFiles, monitors)
        )

        const record: PodRecord = {
          version: 1,
          pod: pod.name,
          specKey: canonicalJson(pod),
          startedAt: new Date().toISOString(),
          sandbox: layout.ns,
          ...(sb.net ? { netns: sb.net } : {}),
          addresses,
          cgroup: cgroupName(dataDir, pod.name),
          ...(ids ? { userns: ids } : {}),
          containers: started.map(containerRecord)
        }
        yield* writeRecord(layout.record, record)
        // sync 3: every container's setup runs and execs now.
        yield* Effect.forEach(started, (s) => proceedOne(pod.name, s), { discard: true })
        return yield* handleOf(pod, layout, monitors, record, started, keep)
      }).pipe(Effect.withSpan("Runtime.start", { attributes: { pod: pod.name } }))

    const adopt = (pod: Pod): Effect.Effect<Option.Option<RunHandle>, never, Scope.Scope> =>
      Effect.gen(function*() {
        const layout = podLayout(dataDir, pod.name)
        const record = yield* readRecord(layout.record)
        if (Option.isNone(record)) {
          yield* teardown(layout, pod.name)
          return Option.none()
        }
        const { keep, runScope } = yield* detachable(pod.name, layout, true)
        const lives = yield* Effect.forEach(
          record.value.containers,
          (c) =>
            Effect.map(adoptConnection(pod.name, c, runScope), (client): Live => ({
              client,
              ref: c,
              startedAt: new Date(c.startedAt ?? record.value.startedAt),
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
          yield* Scope.close(runScope, Exit.void)
          yield* teardown(layout, pod.name)
          yield* Ref.set(keep, true)
          return Option.none()
        }
        const monitors = yield* containersScope(runScope)
        return Option.some(yield* handleOf(pod, layout, monitors, record.value, lives, keep))
      })

    // Only this data dir's runs: the cgroup tree under tank/ is shared by every agent on the host.
    const leftovers = Effect.sync(() => {
      const runDir = path.join(dataDir, "run")
      return fs.existsSync(runDir) ? fs.readdirSync(runDir).sort() : []
    })

    const sweep = (name: string) => teardown(podLayout(dataDir, name), name)

    const purge = (name: string) =>
      Effect.gen(function*() {
        const layout = podLayout(dataDir, name)
        yield* teardown(layout, name)
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
      })

    return Runtime.of({ start, adopt, leftovers, sweep, purge } satisfies RuntimeService)
  })

export const layer = (options?: RuntimeOptions) => Layer.effect(Runtime, make(options))
