/**
 * The live Network layer: rtnetlink from the agent's main thread (see Netns.ts for the namespace dance).
 *
 * Design choice: each macvlan is created directly inside the pod's namespace (RTM_NEWLINK with both
 * IFLA_LINK, looked up in the socket's namespace, and IFLA_NET_NS_FD), under its final name, like
 * `ip link add link <parent> name eth0 netns <pod> type macvlan`. The original created a transient
 * "tankNNN" link in the host and moved and renamed it; the direct form is one atomic kernel call, so no
 * half-made link can ever be left behind in the host's namespace (not even if the agent is killed), and the
 * final name can't collide with the host's own "eth0".
 */
import { Effect, Layer, type Scope } from "effect"
import { statSync } from "node:fs"
import { probe } from "./arp.js"
import * as C from "./codec.js"
import * as D from "./decode.js"
import { AddressInUse, LinkCreateFailed, NetlinkError, NoUplink, ParentNotFound } from "./errors.js"
import type { NetworkError, NicStep } from "./errors.js"
import { macBytes, vethName } from "./mac.js"
import type { RtnlSocket, SysError } from "./netlink.js"
import { attempt, netnsFd, rtnlSocket, rtnlSocketInFd } from "./Netns.js"
import {
  type InterfaceInfo,
  Network,
  type NetworkState,
  type NicState,
  type ResolvedNic,
  type SetupOptions
} from "./Network.js"

const ENOENT = 2
const ENODEV = 19
const EEXIST = 17
const EADDRINUSE = 98

const netlinkError = (op: string) => (e: SysError) => new NetlinkError({ op, errno: e.errno, message: e.message })

const nicFailed = (nic: string, step: NicStep, hint?: (e: SysError) => string | undefined) => (e: SysError) =>
  new LinkCreateFailed({ nic, step, errno: e.errno, message: hint?.(e) ?? e.message })

/** The pod's namespace fd and its rtnetlink socket, for the duration of one setup. */
interface Session {
  readonly podFd: number
  readonly pod: RtnlSocket
}

/** Refuses to configure the agent's own namespace as if it were a pod's (a wrong or unpinned path). */
const checkForeign = (path: string): Effect.Effect<void, NetlinkError> =>
  Effect.suspend(() => {
    let same: boolean
    try {
      const a = statSync(path), b = statSync("/proc/self/ns/net")
      same = a.ino === b.ino && a.dev === b.dev
    } catch (e) {
      const errno = Math.abs((e as NodeJS.ErrnoException).errno ?? ENOENT)
      return Effect.fail(new NetlinkError({ op: `open netns ${path}`, errno, message: String(e) }))
    }
    return same
      ? Effect.fail(
        new NetlinkError({
          op: "setup",
          errno: 0,
          message: `${path} is the agent's own network namespace, not a pod's`
        })
      )
      : Effect.void
  })

const openSession = (o: SetupOptions): Effect.Effect<Session, NetlinkError, Scope.Scope> =>
  Effect.gen(function*() {
    yield* checkForeign(o.netnsPath)
    const podFd = yield* netnsFd(o.netnsPath).pipe(Effect.mapError(netlinkError(`open netns ${o.netnsPath}`)))
    const pod = yield* rtnlSocketInFd(podFd).pipe(Effect.mapError(netlinkError(`socket in ${o.netnsPath}`)))
    return { podFd, pod }
  })

const loUp = (pod: RtnlSocket) =>
  attempt(() => {
    const lo = D.decodeLink(pod.get("get lo", C.getLink({ name: "lo" })))
    pod.ack("set lo up", C.setLinkUp(lo.index, true))
  }).pipe(Effect.mapError(netlinkError("bring lo up")))

const resolveParent = (o: SetupOptions, nic: ResolvedNic) =>
  nic.parent === "auto"
    ? o.uplink().pipe(Effect.mapError((e) => new NoUplink({ nic: nic.name, reason: e.reason })))
    : Effect.succeed(nic.parent)

/** A macvlan on its parent, created straight into the pod's namespace; its index there. */
const macvlanLink = (
  o: SetupOptions,
  s: Session & { readonly parents: RtnlSocket },
  nic: ResolvedNic,
  mac: Uint8Array,
  created: Array<{ readonly name: string }>
): Effect.Effect<string, NetworkError> =>
  Effect.gen(function*() {
    const parent = yield* resolveParent(o, nic)
    const parentIndex = yield* attempt(() =>
      D.decodeLink(s.parents.get("get parent", C.getLink({ name: parent }))).index
    )
      .pipe(
        Effect.mapError((e) =>
          e.errno === ENODEV ? new ParentNotFound({ nic: nic.name, parent }) : nicFailed(nic.name, "parent")(e)
        )
      )
    yield* attempt(() =>
      s.parents.ack("create macvlan", C.newMacvlan({ name: nic.name, parentIndex, mac, netnsFd: s.podFd }))
    ).pipe(Effect.mapError(nicFailed(nic.name, "create", (e) =>
      e.errno === EEXIST
        ? `a link named ${nic.name} already exists in the pod's namespace`
        : e.errno === EADDRINUSE
        ? `MAC ${C.formatMac(mac)} is already used on ${parent} (is this pod running twice?)`
        : undefined)))
    created.push({ name: nic.name })
    return parent
  })

/**
 * A veth whose pod end is created straight into the pod's namespace under the NIC's name and whose
 * host end (named from the pod and NIC) joins the bridge, up. Deleting either end deletes both.
 */
const vethLink = (
  o: SetupOptions,
  s: Session & { readonly host: RtnlSocket },
  nic: ResolvedNic,
  mac: Uint8Array,
  created: Array<{ readonly name: string }>
): Effect.Effect<{ readonly bridge: string; readonly hostLink: string }, NetworkError> =>
  Effect.gen(function*() {
    const bridge = nic.bridge ?? ""
    const bridgeIndex = yield* attempt(() => D.decodeLink(s.host.get("get bridge", C.getLink({ name: bridge }))).index)
      .pipe(Effect.mapError(nicFailed(nic.name, "bridge", (e) =>
        e.errno === ENODEV ? `bridge "${bridge}" does not exist in the host namespace` : undefined)))
    const hostLink = vethName(o.pod, nic.name, o.macSeed)
    yield* attempt(() =>
      s.host.ack(
        "create veth",
        C.newVeth({ name: hostLink, peer: nic.name, peerMac: mac, peerNetnsFd: s.podFd })
      )
    ).pipe(Effect.mapError(nicFailed(nic.name, "create", (e) =>
      e.errno === EEXIST
        ? `a link named ${hostLink} (host) or ${nic.name} (pod) already exists (is this pod running twice?)`
        : undefined)))
    created.push({ name: nic.name })
    yield* attempt(() => {
      const index = D.decodeLink(s.host.get("get veth", C.getLink({ name: hostLink }))).index
      s.host.ack("join bridge", C.setMaster(index, bridgeIndex))
      s.host.ack("hairpin", C.setHairpin(index))
      s.host.ack("set up", C.setLinkUp(index, true))
    }).pipe(Effect.mapError(nicFailed(nic.name, "bridge")))
    return { bridge, hostLink }
  })

/** Brings up one NIC. `created` gets the link as soon as it exists, so a later failure can remove it. */
const nicUp = (
  o: SetupOptions,
  s: Session & { readonly parents: RtnlSocket; readonly host: RtnlSocket },
  nic: ResolvedNic,
  metric: number,
  created: Array<{ readonly name: string }>
): Effect.Effect<NicState, NetworkError> =>
  Effect.gen(function*() {
    const mac = macBytes(o.pod, nic.name, o.macSeed)
    const link = nic.mode === "bridge"
      ? yield* vethLink(o, s, nic, mac, created)
      : { parent: yield* macvlanLink(o, s, nic, mac, created) }
    const index = yield* attempt(() => D.decodeLink(s.pod.get("get link", C.getLink({ name: nic.name }))).index).pipe(
      Effect.mapError(nicFailed(nic.name, "lookup"))
    )
    const [ip, prefix] = nic.address.split("/") as [string, string]
    // Up before the address, so a probe can go out first (the original's order too: rename, up, address, route).
    yield* attempt(() => s.pod.ack("set up", C.setLinkUp(index, true))).pipe(Effect.mapError(nicFailed(nic.name, "up")))
    if (o.probe !== undefined && nic.probe !== false) {
      const holder = yield* probe(s.podFd, index, mac, ip, o.probe).pipe(Effect.mapError(nicFailed(nic.name, "probe")))
      if (holder !== undefined) {
        return yield* new AddressInUse({ nic: nic.name, address: nic.address, detail: `${ip} is held by ${holder}` })
      }
    }
    yield* attempt(() => s.pod.ack("add address", C.newAddr4(index, C.ipv4Bytes(ip), Number(prefix)))).pipe(
      Effect.mapError((e) =>
        e.errno === EEXIST
          ? new AddressInUse({ nic: nic.name, address: nic.address, detail: "already assigned in the pod's namespace" })
          : nicFailed(nic.name, "address")(e)
      )
    )
    if (nic.gateway !== undefined) {
      const gw = nic.gateway
      yield* attempt(() => s.pod.ack("add default route", C.newDefaultRoute4(index, C.ipv4Bytes(gw), metric))).pipe(
        Effect.mapError(nicFailed(nic.name, "route"))
      )
    }
    return {
      name: nic.name,
      mode: nic.mode,
      parent: "bridge" in link ? link.bridge : link.parent,
      ...("hostLink" in link ? { hostLink: link.hostLink, bridge: link.bridge } : {}),
      mac: C.formatMac(mac),
      address: nic.address,
      index,
      ...(nic.gateway === undefined ? {} : { gateway: nic.gateway })
    }
  })

/** Two NICs of one pod with the same IP would make the second shadow the first: refuse before touching anything. */
const duplicateAddress = (nics: ReadonlyArray<ResolvedNic>): AddressInUse | undefined => {
  const seen = new Map<string, string>()
  for (const n of nics) {
    const ip = n.address.split("/")[0]!
    const other = seen.get(ip)
    if (other !== undefined) {
      return new AddressInUse({ nic: n.name, address: n.address, detail: `also given to ${other}` })
    }
    seen.set(ip, n.name)
  }
  return undefined
}

const deleteLinks = (pod: RtnlSocket, links: ReadonlyArray<{ readonly name: string }>) =>
  Effect.forEach(
    [...links].reverse(),
    (l) =>
      attempt(() => pod.ack("delete link", C.deleteLink({ name: l.name }))).pipe(
        Effect.catchAll((e) =>
          e.errno === ENODEV ? Effect.void : Effect.logWarning(`network: could not delete ${l.name}: ${e.message}`)
        )
      ),
    { discard: true }
  )

const bringUp = (o: SetupOptions): Effect.Effect<NetworkState, NetworkError> =>
  Effect.scoped(Effect.gen(function*() {
    const s = yield* openSession(o)
    yield* loUp(s.pod)
    if (o.network === "none" || o.network === "host") {
      return { pod: o.pod, mode: "none", netnsPath: o.netnsPath, nics: [] } satisfies NetworkState
    }
    const spec = o.network
    const dup = duplicateAddress(spec.nics)
    if (dup !== undefined) return yield* dup
    const parents = yield* rtnlSocket(o.parentNetns).pipe(
      Effect.mapError(netlinkError(`socket in ${o.parentNetns ?? "the agent's netns"}`))
    )
    const host = o.hostNetns === o.parentNetns ? parents : yield* rtnlSocket(o.hostNetns).pipe(
      Effect.mapError(netlinkError(`socket in ${o.hostNetns ?? "the agent's netns"}`))
    )
    // Several gateways: the first NIC's default route wins (metric 0), the others back it up (1, 2, ...).
    const metrics = spec.nics.map((_, i) => spec.nics.slice(0, i).filter((n) => n.gateway !== undefined).length)
    const created: Array<{ readonly name: string }> = []
    const nics = yield* Effect.forEach(spec.nics, (nic, i) =>
      nicUp(o, { ...s, parents, host }, nic, metrics[i]!, created))
      .pipe(
        // While the sockets are still open: leave nothing behind in the pod's namespace.
        Effect.onError(() =>
          deleteLinks(s.pod, created)
        )
      )
    return {
      pod: o.pod,
      mode: "nics",
      netnsPath: o.netnsPath,
      ...(o.hostNetns !== undefined ? { hostNetns: o.hostNetns } : {}),
      nics
    } satisfies NetworkState
  }))

/**
 * Deletes the NICs; a namespace that is already gone took its links with it. A bridge NIC's host end
 * is deleted from the host namespace, so no veth outlives its pod even while its namespace lingers.
 */
const tearDown = (state: NetworkState) =>
  state.nics.length === 0 || state.netnsPath === undefined
    ? Effect.void
    : Effect.gen(function*() {
      const hostEnds = state.nics.flatMap((n) => n.hostLink !== undefined ? [{ name: n.hostLink }] : [])
      if (hostEnds.length > 0) {
        yield* Effect.scoped(
          rtnlSocket(state.hostNetns).pipe(
            Effect.flatMap((host) => deleteLinks(host, hostEnds)),
            Effect.catchAll((e) => Effect.logWarning(`network: teardown of ${state.pod}'s veths: ${e.message}`))
          )
        )
      }
      const podLinks = state.nics.filter((n) => n.hostLink === undefined)
      if (podLinks.length === 0) return
      yield* Effect.scoped(
        rtnlSocket(state.netnsPath).pipe(
          Effect.flatMap((pod) => deleteLinks(pod, podLinks)),
          Effect.catchAll((e) =>
            e.errno === ENOENT ? Effect.void : Effect.logWarning(`network: teardown of ${state.pod}: ${e.message}`)
          )
        )
      )
    })

const setup = (o: SetupOptions): Effect.Effect<NetworkState, NetworkError, Scope.Scope> =>
  o.network === "host"
    ? Effect.succeed({ pod: o.pod, mode: "host", nics: [] })
    : Effect.acquireRelease(bringUp(o), tearDown)

const withSocket = <A>(netnsPath: string | undefined, op: string, f: (s: RtnlSocket) => A) =>
  Effect.scoped(
    rtnlSocket(netnsPath).pipe(Effect.flatMap((s) => attempt(() => f(s))), Effect.mapError(netlinkError(op)))
  )

export const interfaces = (netnsPath?: string): Effect.Effect<ReadonlyArray<InterfaceInfo>, NetlinkError> =>
  withSocket(netnsPath, "list interfaces", (s) => {
    const links = s.dump("dump links", C.dumpLinks()).map(D.decodeLink)
    const addrs = s.dump("dump addresses", C.dumpAddrs()).map(D.decodeAddr)
    return links.map((l): InterfaceInfo => ({
      name: l.name,
      index: l.index,
      up: (l.flags & C.IFF_UP) !== 0,
      lowerUp: (l.flags & C.IFF_LOWER_UP) !== 0,
      ...(l.mac === undefined ? {} : { mac: l.mac }),
      ...(l.mtu === undefined ? {} : { mtu: l.mtu }),
      ...(l.kind === undefined ? {} : { kind: l.kind }),
      addresses: addrs.filter((a) => a.index === l.index).map((a) => `${a.address}/${a.prefix}`),
      rxBytes: Number(l.stats?.rxBytes ?? 0n),
      txBytes: Number(l.stats?.txBytes ?? 0n),
      rxPackets: Number(l.stats?.rxPackets ?? 0n),
      txPackets: Number(l.stats?.txPackets ?? 0n)
    }))
  })

export const routes = (netnsPath?: string): Effect.Effect<ReadonlyArray<D.Route>, NetlinkError> =>
  withSocket(
    netnsPath,
    "list routes",
    (s) => s.dump("dump routes", C.dumpRoutes(C.AF_INET)).map(D.decodeRoute).filter((r) => r.table === C.RT_TABLE_MAIN)
  )

const lookupOrAbsent = <A>(f: () => A): A | undefined => {
  try {
    return f()
  } catch (e) {
    if ((e as SysError).errno === ENODEV) return undefined
    throw e
  }
}

export const linkExists = (name: string, netnsPath?: string): Effect.Effect<boolean, NetlinkError> =>
  withSocket(
    netnsPath,
    `get link ${name}`,
    (s) => lookupOrAbsent(() => s.get("get link", C.getLink({ name }))) !== undefined
  )

export const deleteLink = (name: string, netnsPath?: string): Effect.Effect<boolean, NetlinkError> =>
  withSocket(netnsPath, `delete link ${name}`, (s) =>
    lookupOrAbsent(() => {
      s.ack("delete link", C.deleteLink({ name }))
      return true
    }) ?? false)

export const NetworkLive: Layer.Layer<Network> = Layer.succeed(Network, {
  setup,
  interfaces,
  routes,
  linkExists,
  deleteLink
})
