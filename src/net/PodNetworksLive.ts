/**
 * The agent's network services (see PodNetworks.ts): pools and allocations, bridges, published ports
 * (nftables), the host shims and the DNS service, all in the namespace that plays the host
 * (`hostNetns`: the agent's own in production, a test namespace in tests).
 *
 * Nothing on the host is touched until something needs it: a bridge is created by its first pod
 * (or found in use at start), the nftables table is written once there are bridges or ports (or when
 * Tank's table is already there), shims only for pools that ask for one. At start, allocations of
 * pods that are gone are released, the bridges in use ensured, the rules rebuilt from the store, the
 * shims created or adopted and DNS served on their addresses and the bridges' gateways.
 */
import { Clock, Duration, Effect, Layer, Ref, Schedule } from "effect"
import { TankConfig } from "../config/Config.js"
import type { Pool } from "../config/network.js"
import { Host } from "../host/Host.js"
import type { Pod } from "../spec/Pod.js"
import { Allocations } from "../store/Allocations.js"
import { Store } from "../store/Store.js"
import { ensureBridge } from "./bridge.js"
import { makeDnsServer } from "./dns/server.js"
import { emptyZone, type Zone, zoneFrom } from "./dns/zone.js"
import type { NetworkError } from "./errors.js"
import { claimPorts, excluded, isPortPool, type PlannedNic, planNics, portPool } from "./ipam.js"
import { toInt } from "./ipv4.js"
import { Network, type NetworkState } from "./Network.js"
import { applyRules, ruleset, tableExists } from "./nft.js"
import { type PodNetwork, PodNetworkError, PodNetworks, type PodNetworksService } from "./PodNetworks.js"
import { dnsChain } from "./resolvConf.js"
import { rulesFrom } from "./rulesFrom.js"
import { ensureShim } from "./shim.js"

export interface PodNetworksOptions {
  /** The namespace that plays the host (bridges, shims, nftables, DNS). Default: the agent's own. */
  readonly hostNetns?: string
  /** Where macvlan parents live, if not in the host namespace (tests: the hub). */
  readonly parentNetns?: string
  /** Mixed into MACs and veth names (as the runtime's). */
  readonly macSeed?: string
  /** How long an address a probe found held is skipped (default 10 minutes). */
  readonly conflictHold?: Duration.DurationInput
  /** How often allocations of pods that are gone are swept (default 1 minute). */
  readonly sweepInterval?: Duration.DurationInput
  /** How often DNS records are looked at besides every set-up and release (default 2 s; on one node only if the store's revision moved). */
  readonly refreshInterval?: Duration.DurationInput
}

/** Probing found these held; three tries per bring-up before giving up. */
const MAX_PROBE_RETRIES = 3

const message = (e: unknown) => (e as { message?: string }).message ?? String(e)

export const make = (options: PodNetworksOptions = {}) =>
  Effect.gen(function*() {
    const config = yield* TankConfig
    const allocations = yield* Allocations
    const store = yield* Store
    const network = yield* Network
    const host = yield* Host
    const netConfig = config.network
    const pools = netConfig.pools
    const hostNetns = options.hostNetns
    const node = config.etcd !== undefined ? config.node.name : undefined
    const ports = portPool(node)
    const shimHolder = `host:${config.node.name}`
    const holdMs = Duration.toMillis(Duration.decode(options.conflictHold ?? "10 minutes"))
    const seed = options.macSeed !== undefined ? { macSeed: options.macSeed } : {}

    /** "pool/address" → until (epoch ms): a probe found it held by someone else. */
    const conflicts = new Map<string, number>()
    const avoid = (pool: string) => {
      const now = Date.now()
      const out: Array<number> = []
      for (const [k, until] of conflicts) {
        if (until <= now) conflicts.delete(k)
        else if (k.startsWith(`${pool}/`)) out.push(toInt(k.slice(pool.length + 1)))
      }
      return out
    }

    // --- bridges, rules --------------------------------------------------------------------------------
    const ensured = new Set<string>()
    const bridgeLock = yield* Effect.makeSemaphore(1)
    const ensureBridgeOf = (pool: Pool) =>
      ensured.has(pool.name) ? Effect.void : bridgeLock.withPermits(1)(
        Effect.gen(function*() {
          if (ensured.has(pool.name)) return
          yield* ensureBridge(pool, hostNetns, options.macSeed)
          ensured.add(pool.name)
          if (dns !== undefined && netConfig.dns.enabled) {
            yield* dns.listen(pool.gateway!).pipe(
              Effect.catchAll((e) => Effect.logWarning(`dns: cannot serve on ${pool.gateway}: ${e.message}`))
            )
          }
        })
      )

    const here = (pods: ReadonlyArray<{ readonly name: string; readonly node: string | null }>) => {
      if (node === undefined) return () => true
      const mine = new Set(pods.filter((p) => p.node === node).map((p) => p.name))
      return (pod: string) => mine.has(pod)
    }

    const rulesLock = yield* Effect.makeSemaphore(1)
    let tableKnown = yield* tableExists(hostNetns)
    /** What this agent last wrote (undefined at start: the first rebuild always writes). */
    let lastApplied: string | undefined
    /** Rebuilds Tank's table from the store (only once there is anything to write, or it exists). */
    const rebuildRules = rulesLock.withPermits(1)(Effect.gen(function*() {
      const all = yield* allocations.list
      const { pods } = yield* store.list
      const state = rulesFrom(pools, all, pods.map((p) => p.spec), ports, here(pods))
      if (!tableKnown && state.bridges.length === 0 && state.ports.length === 0) return
      // The same state as last written (a bridge pod without ports joining a bridge in use): nothing to do.
      const text = ruleset(state)
      if (text === lastApplied) return
      yield* applyRules(state, hostNetns)
      tableKnown = true
      lastApplied = text
    }))

    // --- DNS ------------------------------------------------------------------------------------------
    const zone = yield* Ref.make<Zone>(emptyZone(netConfig.domain))
    /** The store revision the records were last built at; undefined after a failed refresh (retried). */
    const refreshed = yield* Ref.make<number | undefined>(undefined)
    const refreshZone = Effect.gen(function*() {
      const { pods } = yield* store.list
      const all = yield* allocations.list
      yield* Ref.set(zone, zoneFrom(netConfig.domain, pods.map((p) => p.spec), all))
    })
    const hostDns = yield* host.dns
    let zoneSnapshot: Zone = emptyZone(netConfig.domain)
    const dns = netConfig.dns.enabled
      ? yield* makeDnsServer({
        ...(hostNetns !== undefined ? { netns: hostNetns } : {}),
        port: netConfig.dns.port,
        zone: () => zoneSnapshot,
        upstream: () => netConfig.dns.upstream ?? hostDns
      })
      : undefined
    const publish = Effect.flatMap(Ref.get(zone), (z) => Effect.sync(() => (zoneSnapshot = z)))
    const refresh = refreshZone.pipe(
      Effect.zipRight(publish),
      Effect.catchAll((e) =>
        Effect.logWarning(`dns: records not refreshed: ${message(e)}`).pipe(
          Effect.zipRight(Ref.set(refreshed, undefined))
        )
      )
    )

    // --- sweep ----------------------------------------------------------------------------------------
    /** Releases what pods no longer in the store hold (read allocations first: see the brief's race). */
    const sweep = Effect.gen(function*() {
      const all = yield* allocations.list
      const { invalid, pods } = yield* store.list
      const present = new Map<string, string | null>(pods.map((p) => [p.name, p.node]))
      for (const r of invalid) present.set(r.key, r.node ?? null)
      const holders = new Set(all.filter((a) => !a.holder.startsWith("host:")).map((a) => a.holder))
      let released = 0
      for (const h of holders) {
        if (!present.has(h)) {
          const gone = yield* allocations.release(h)
          released += gone.length
          if (gone.length) {
            yield* Effect.logInfo(
              `released ${gone.map((a) => `${a.pool} ${a.address}`).join(", ")} of deleted pod ${h}`
            )
          }
        } else if (node !== undefined && present.get(h) !== node) {
          // A pod that moved off this node no longer publishes ports here.
          const gone = yield* allocations.release(h, (a) => a.pool === ports)
          released += gone.length
        }
      }
      if (released > 0) yield* rebuildRules.pipe(Effect.zipRight(refresh))
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`network: sweep failed: ${message(e)}`)))

    // --- start ----------------------------------------------------------------------------------------
    yield* sweep
    const atStart = yield* allocations.list
    const { pods: podsAtStart } = yield* store.list
    const mine = here(podsAtStart)
    for (const p of pools) {
      if (p.bridge !== undefined && atStart.some((a) => a.pool === p.name && mine(a.holder))) {
        yield* ensureBridgeOf(p).pipe(
          Effect.catchAll((e) => Effect.logWarning(`network: bridge ${p.bridge} not ready: ${e.message}`))
        )
      }
    }
    yield* rebuildRules.pipe(Effect.catchAll((e) => Effect.logWarning(`network: rules not rebuilt: ${e.message}`)))
    const shims = new Map<string, string>()
    for (const p of pools) {
      if (p.shim === undefined) continue
      const shim = p.shim
      const result = yield* Effect.gen(function*() {
        const parent = p.parent === "auto" ? yield* host.uplink : p.parent
        const address = shim.address !== undefined
          ? (yield* allocations.claim({ pool: p.name, address: shim.address, holder: shimHolder, nic: shim.name }))
            .address
          : (yield* allocations.allocate({
            pool: p.name,
            holder: shimHolder,
            nic: shim.name,
            first: p.first,
            last: p.last,
            exclude: excluded(p)
          })).address
        return yield* ensureShim(p, parent, address, hostNetns ?? options.parentNetns, options.macSeed)
      }).pipe(Effect.either)
      if (result._tag === "Left") {
        yield* Effect.logWarning(`network: shim ${shim.name} of pool ${p.name} not ready: ${message(result.left)}`)
        continue
      }
      shims.set(p.name, result.right.address)
      for (const r of result.right.skippedRoutes) yield* Effect.logWarning(`network: shim ${shim.name}: route ${r}`)
      if (dns !== undefined) {
        yield* dns.listen(result.right.address).pipe(
          Effect.catchAll((e) => Effect.logWarning(`dns: cannot serve on ${result.right.address}: ${e.message}`))
        )
      }
    }
    yield* refresh
    // Every set-up and release refreshes the records at once (below); the tick catches the rest: pods
    // applied or deleted with static addresses, other nodes' pods in a cluster. On one node this
    // agent is the only writer of addresses, so nothing can change the records without the store's
    // revision moving: the tick reads the revision, not every pod and allocation (two whole reads
    // every 2 s were a tenth of an idle agent's CPU). In a cluster other nodes allocate without a
    // revision of ours moving: there every tick refreshes.
    const tick = node !== undefined ? refresh : Effect.gen(function*() {
      const revision = yield* store.revision
      if ((yield* Ref.get(refreshed)) === revision) return
      yield* refreshZone
      yield* publish
      yield* Ref.set(refreshed, revision)
    }).pipe(Effect.catchAll((e) => Effect.logWarning(`dns: records not refreshed: ${message(e)}`)))
    yield* Effect.forkScoped(Effect.repeat(tick, Schedule.spaced(options.refreshInterval ?? "2 seconds")))
    yield* Effect.forkScoped(
      Effect.repeat(sweep, Schedule.spaced(options.sweepInterval ?? "1 minute")).pipe(Effect.delay("1 minute"))
    )

    // --- per pod --------------------------------------------------------------------------------------
    const chainOf = (pod: Pod, planned: ReadonlyArray<PlannedNic>) =>
      dnsChain(pod, planned, { pools, shims, listening: new Set(dns?.addresses() ?? []) })

    const setup: PodNetworksService["setup"] = (o) =>
      Effect.gen(function*() {
        const pod = o.pod
        const base = {
          pod: pod.name,
          netnsPath: o.netnsPath,
          uplink: o.uplink,
          ...(o.parentNetns !== undefined ? { parentNetns: o.parentNetns } : {}),
          ...(hostNetns !== undefined ? { hostNetns } : {}),
          ...seed
        }
        if (typeof pod.network !== "object") {
          const state = yield* network.setup({ ...base, network: pod.network })
          return { state, dns: [] } satisfies PodNetwork
        }
        const spec = pod.network
        // What the pod held before: a pod that leaves a bridge or drops its ports needs the rules rebuilt too.
        const held = (yield* allocations.list.pipe(Effect.mapError((e) =>
          new PodNetworkError({ pod: pod.name, reason: e.message })
        )))
          .filter((a) =>
            a.holder === pod.name
          )
        const hadRules = held.some((a) =>
          isPortPool(a.pool) || pools.some((p) => p.name === a.pool && p.kind === "bridge")
        )
        for (let attempt = 0;; attempt++) {
          const planned = yield* planNics(pod, pools, avoid).pipe(
            Effect.provideService(Allocations, allocations),
            Effect.mapError((e) => new PodNetworkError({ pod: pod.name, reason: message(e) }))
          )
          yield* claimPorts(pod, node).pipe(
            Effect.provideService(Allocations, allocations),
            Effect.mapError((e) =>
              new PodNetworkError({
                pod: pod.name,
                reason: e._tag === "AddressTaken"
                  ? `host port ${e.address} is already published by pod "${e.holder}"`
                  : message(e)
              })
            )
          )
          for (const p of planned) if (p.pool?.kind === "bridge") yield* ensureBridgeOf(p.pool)
          const probing = netConfig.probeMs > 0
          const nics = planned.map((p) => ({ ...p.nic, probe: probing && p.allocated && p.pool?.kind === "macvlan" }))
          const up = yield* network.setup({
            ...base,
            network: { nics },
            ...(probing ? { probe: Duration.millis(netConfig.probeMs) } : {})
          }).pipe(Effect.either)
          if (up._tag === "Left") {
            const e: NetworkError = up.left
            const culprit = e._tag === "AddressInUse"
              ? planned.find((p) => p.nic.name === e.nic && p.allocated)
              : undefined
            if (culprit === undefined || attempt >= MAX_PROBE_RETRIES) return yield* e
            // Someone on the LAN holds it: never hand it out for a while, and try the next one.
            const ip = culprit.nic.address.split("/")[0]!
            conflicts.set(`${culprit.pool!.name}/${ip}`, (yield* Clock.currentTimeMillis) + holdMs)
            yield* allocations.release(pod.name, (a) => a.pool === culprit.pool!.name && a.nic === culprit.nic.name)
              .pipe(
                Effect.mapError((err) => new PodNetworkError({ pod: pod.name, reason: message(err) }))
              )
            yield* Effect.logWarning(`pod ${pod.name}: ${e.message}; not using ${ip} of pool ${culprit.pool!.name}`)
            continue
          }
          const state: NetworkState = up.right
          if (hadRules || planned.some((p) => p.pool?.kind === "bridge") || (spec.ports?.length ?? 0) > 0) {
            yield* rebuildRules.pipe(
              Effect.mapError((e) => new PodNetworkError({ pod: pod.name, reason: `packet rules: ${e.message}` }))
            )
          }
          if (planned.some((p) => p.allocated) || held.length > 0) yield* refresh
          return { state, dns: chainOf(pod, planned) } satisfies PodNetwork
        }
      })

    const release: PodNetworksService["release"] = (pod) =>
      Effect.gen(function*() {
        const gone = yield* allocations.release(pod)
        if (gone.length === 0) return
        if (gone.some((a) => isPortPool(a.pool) || pools.some((p) => p.name === a.pool && p.kind === "bridge"))) {
          yield* rebuildRules
        }
        yield* refresh
      }).pipe(
        // The periodic sweep releases whatever a failure here left behind.
        Effect.catchAll((e) => Effect.logWarning(`network: release of pod ${pod} failed (swept later): ${message(e)}`))
      )

    return PodNetworks.of({ setup, release })
  })

export const layer = (
  options?: PodNetworksOptions
): Layer.Layer<PodNetworks, unknown, TankConfig | Allocations | Store | Network | Host> =>
  Layer.scoped(PodNetworks, make(options))
