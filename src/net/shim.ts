/**
 * The host shim: a macvlan (bridge mode) of the host on a macvlan pool's parent, so the host reaches
 * its own macvlan pods (the kernel never passes traffic between a macvlan and its parent). It gets
 * an address of the pool as a /32 and routes for the pool's range through it, so only pod traffic
 * takes it. Created or adopted when the agent starts, left in place when it stops (pods keep being
 * reachable across restarts); `tank network cleanup` removes it.
 */
import { Effect } from "effect"
import type { Pool } from "../config/network.js"
import { ensureAddress } from "./bridge.js"
import * as C from "./codec.js"
import * as D from "./decode.js"
import { NetlinkError } from "./errors.js"
import { coveringCidrs, fromInt } from "./ipv4.js"
import { macBytes } from "./mac.js"
import type { SysError } from "./netlink.js"
import { attempt, rtnlSocket } from "./Netns.js"

const ENODEV = 19
const EEXIST = 17

export interface ShimResult {
  readonly name: string
  readonly address: string
  /** Routes that could not be added (the host already routes that prefix another way). */
  readonly skippedRoutes: ReadonlyArray<string>
}

/** Creates or adopts `pool.shim` on `parent` in the namespace at `netns`, with `address`. */
export const ensureShim = (
  pool: Pool,
  parent: string,
  address: string,
  netns: string | undefined,
  seed?: string
): Effect.Effect<ShimResult, NetlinkError> =>
  Effect.scoped(
    Effect.flatMap(rtnlSocket(netns), (s) =>
      attempt(() => {
        const name = pool.shim!.name
        const get = (n: string) => {
          try {
            return D.decodeLink(s.get("get link", C.getLink({ name: n })))
          } catch (e) {
            if ((e as SysError).errno === ENODEV) return undefined
            throw e
          }
        }
        const parentLink = get(parent)
        if (parentLink === undefined) {
          throw Object.assign(new Error(`parent link "${parent}" not found`), { errno: ENODEV })
        }
        let link = get(name)
        if (link !== undefined && link.kind !== "macvlan") {
          throw Object.assign(new Error(`a ${link.kind ?? "plain"} link named ${name} exists (not a macvlan)`), {
            errno: EEXIST
          })
        }
        if (link === undefined) {
          s.ack("create shim", C.newMacvlan({ name, parentIndex: parentLink.index, mac: macBytes("host", name, seed) }))
          link = get(name)!
        }
        ensureAddress(s, link.index, address, 32)
        s.ack("set up", C.setLinkUp(link.index, true))
        const skipped: Array<string> = []
        for (const c of coveringCidrs(pool.first, pool.last)) {
          try {
            s.ack("add route", C.newLinkRoute4(link.index, C.ipv4Bytes(fromInt(c.network)), c.prefix))
          } catch (e) {
            if ((e as SysError).errno !== EEXIST) {
              skipped.push(`${fromInt(c.network)}/${c.prefix}: ${(e as Error).message}`)
            }
          }
        }
        return { name, address, skippedRoutes: skipped }
      }))
  ).pipe(
    Effect.catchAllDefect((e) => Effect.fail(e)),
    Effect.mapError((e) =>
      new NetlinkError({
        op: `shim ${pool.shim?.name ?? "?"}`,
        errno: (e as { errno?: number }).errno ?? 0,
        message: (e as Error).message
      })
    )
  )
