/**
 * Tank's bridges (and the host settings a bridge needs), in the namespace that plays the host: the
 * agent's own in production, a test namespace in tests. Created or adopted, never torn down by a
 * restart (pods stay attached across agent restarts); `tank network cleanup` removes them.
 *
 * A bridge gets its pool's gateway address and a fixed MAC. Forwarding is switched on in that
 * namespace (net.ipv4.ip_forward, as docker and podman do), and route_localnet on the bridge so
 * the host's own 127.0.0.1:<hostPort> can be DNATed to a pod.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import type { Pool } from "../config/network.js"
import { libc as sys } from "../host/libc.js"
import * as C from "./codec.js"
import * as D from "./decode.js"
import { NetlinkError } from "./errors.js"
import { bridgeMac } from "./mac.js"
import { type RtnlSocket, SysError } from "./netlink.js"
import { attempt, inNetns, openNetnsFd, rtnlSocket } from "./Netns.js"

const ENODEV = 19
const EEXIST = 17

const failed = (op: string) => (e: SysError) => new NetlinkError({ op, errno: e.errno, message: e.message })

/** Runs `f` with the main thread in the namespace at `netns` (undefined: where it is). Synchronous. */
export const inNamespace = <A>(netns: string | undefined, f: () => A): A => {
  if (netns === undefined) return f()
  const fd = openNetnsFd(netns)
  try {
    return inNetns(fd, f)
  } finally {
    sys.close(fd)
  }
}

/** Writes a sysctl of the namespace at `netns` ("net/ipv4/ip_forward"), if it differs. */
export const setSysctl = (netns: string | undefined, key: string, value: string) =>
  attempt(() =>
    inNamespace(netns, () => {
      const file = `/proc/sys/${key}`
      try {
        if (fs.readFileSync(file, "utf8").trim() === value) return
        fs.writeFileSync(file, value)
      } catch (e) {
        throw new SysError(`write ${file}`, Math.abs((e as NodeJS.ErrnoException).errno ?? 5))
      }
    })
  ).pipe(Effect.mapError(failed(`sysctl ${key}=${value}`)))

const lookup = (s: RtnlSocket, name: string): D.Link | undefined => {
  try {
    return D.decodeLink(s.get("get link", C.getLink({ name })))
  } catch (e) {
    if ((e as SysError).errno === ENODEV) return undefined
    throw e
  }
}

/** Adds an address; an address already there is fine (adoption). */
export const ensureAddress = (s: RtnlSocket, index: number, ip: string, prefix: number) => {
  try {
    s.ack("add address", C.newAddr4(index, C.ipv4Bytes(ip), prefix))
  } catch (e) {
    if ((e as SysError).errno !== EEXIST) throw e
  }
}

/** Creates (or adopts) the pool's bridge with its gateway address, up; forwarding on. */
export const ensureBridge = (pool: Pool, netns: string | undefined, seed?: string) =>
  Effect.gen(function*() {
    const name = pool.bridge!
    yield* Effect.scoped(
      Effect.flatMap(rtnlSocket(netns), (s) =>
        attempt(() => {
          let link = lookup(s, name)
          if (link !== undefined && link.kind !== "bridge") {
            throw new SysError(`adopt ${name}`, EEXIST, `a ${link.kind ?? "plain"} link named ${name} exists`)
          }
          if (link === undefined) {
            try {
              s.ack("create bridge", C.newBridge(name, bridgeMac(name, seed)))
            } catch (e) {
              if ((e as SysError).errno !== EEXIST) throw e
            }
            link = lookup(s, name)!
          }
          ensureAddress(s, link.index, pool.gateway!, pool.prefix)
          s.ack("set up", C.setLinkUp(link.index, true))
        }))
    ).pipe(Effect.mapError(failed(`bridge ${name}`)))
    yield* setSysctl(netns, "net/ipv4/ip_forward", "1")
    yield* setSysctl(netns, `net/ipv4/conf/${name}/route_localnet`, "1")
  })

/** Does a link of that name exist in the namespace? */
export const linkIn = (netns: string | undefined, name: string) =>
  Effect.scoped(Effect.flatMap(rtnlSocket(netns), (s) => attempt(() => lookup(s, name)))).pipe(
    Effect.mapError(failed(`get link ${name}`))
  )

/** Deletes a link Tank made (bridge, shim); false when there was none. */
export const removeLink = (netns: string | undefined, name: string) =>
  Effect.scoped(Effect.flatMap(rtnlSocket(netns), (s) =>
    attempt(() => {
      try {
        s.ack("delete link", C.deleteLink({ name }))
        return true
      } catch (e) {
        if ((e as SysError).errno === ENODEV) return false
        throw e
      }
    }))).pipe(Effect.mapError(failed(`delete link ${name}`)))
