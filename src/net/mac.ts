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
