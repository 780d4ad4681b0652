/**
 * Deterministic MAC addresses for pod NICs.
 *
 * The same pod and NIC always get the same MAC, so a restarted pod keeps its ARP entries in its
 * neighbours' caches (no stale-ARP black hole after a restart). The address is locally administered
 * (bit 1 of the first octet set) and unicast (bit 0 clear), so it can never collide with a vendor MAC.
 * `seed` separates machines that share a LAN and might run pods of the same name (e.g. a host id).
 */
import { createHash } from "node:crypto"
import { formatMac } from "./codec.js"

export const macBytes = (pod: string, nic: string, seed = ""): Uint8Array => {
  const h = createHash("sha256").update(`tank-mac\0${seed}\0${pod}\0${nic}`).digest()
  const mac = Uint8Array.from(h.subarray(0, 6))
  mac[0] = (mac[0]! & 0xfc) | 0x02
  return mac
}

/** "02:xx:xx:xx:xx:xx"-style lower-case text. */
export const macFor = (pod: string, nic: string, seed = ""): string => formatMac(macBytes(pod, nic, seed))

/**
 * The host end of a bridge NIC's veth: "tk" + 10 hex digits of a hash of the pod and NIC, so it is
 * the same across restarts (an agent finds it again) and within IFNAMSIZ.
 */
export const vethName = (pod: string, nic: string, seed = ""): string =>
  "tk" + createHash("sha256").update(`tank-veth\0${seed}\0${pod}\0${nic}`).digest("hex").slice(0, 10)

/** A bridge's fixed MAC, from its name. */
export const bridgeMac = (bridge: string, seed = ""): Uint8Array => macBytes("bridge", bridge, seed)
