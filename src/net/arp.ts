/**
 * IPv4 address conflict detection (RFC 5227 probes) on a pod's NIC, before the address is assigned.
 *
 * IPv4 has no kernel DAD: two pods (or a pod and a LAN host) given the same address both come up and then
 * steal each other's traffic through ARP. A probe asks "who has <ip>?" with sender IP 0.0.0.0, so it does
 * not pollute anybody's ARP cache; any host holding the address answers, and a host probing for the same
 * address at the same time is a conflict too. The socket is an AF_PACKET/SOCK_DGRAM socket bound to the NIC,
 * made inside the pod's namespace; it is non-blocking and polled, so the event loop never waits on it.
 */
import { Duration, Effect } from "effect"
import { errno as lastErrno, libc } from "../host/libc.js"
import { formatMac } from "./codec.js"
import { check, SysError } from "./netlink.js"
import { attempt, inNetns } from "./Netns.js"

const AF_PACKET = 17
const SOCK_DGRAM = 2
const SOCK_NONBLOCK = 0x800
const SOCK_CLOEXEC = 0x80000
const ETH_P_ARP = 0x0806
const EAGAIN = 11
const ARP_LEN = 28

/** An ARP probe: request, sender MAC ours, sender IP 0.0.0.0, target MAC zero, target IP the candidate. */
export const encodeProbe = (mac: Uint8Array, ip: Uint8Array): Buffer => {
  const b = Buffer.alloc(ARP_LEN)
  b.writeUInt16BE(1, 0) // Ethernet
  b.writeUInt16BE(0x0800, 2) // IPv4
  b.writeUInt8(6, 4)
  b.writeUInt8(4, 5)
  b.writeUInt16BE(1, 6) // request
  b.set(mac, 8)
  b.set(ip, 24)
  return b
}

export interface ArpPacket {
  readonly op: number
  readonly senderMac: string
  readonly senderIp: string
  readonly targetIp: string
}

export const decodeArp = (b: Uint8Array): ArpPacket | undefined => {
  const p = Buffer.from(b.buffer, b.byteOffset, b.byteLength)
  if (p.length < ARP_LEN || p.readUInt16BE(2) !== 0x0800 || p[4] !== 6 || p[5] !== 4) return undefined
  return {
    op: p.readUInt16BE(6),
    senderMac: formatMac(p.subarray(8, 14)),
    senderIp: Array.from(p.subarray(14, 18)).join("."),
    targetIp: Array.from(p.subarray(24, 28)).join(".")
  }
}

/** RFC 5227 §2.1.1: someone else uses the address, or probes for it at the same time. */
export const isConflict = (p: ArpPacket, ownMac: string, ip: string): boolean =>
  p.senderMac !== ownMac && (p.senderIp === ip || (p.senderIp === "0.0.0.0" && p.op === 1 && p.targetIp === ip))

const sockaddrLl = (index: number, dest?: Uint8Array) => {
  const a = Buffer.alloc(20)
  a.writeUInt16LE(AF_PACKET, 0)
  a.writeUInt16BE(ETH_P_ARP, 2)
  a.writeInt32LE(index, 4)
  if (dest !== undefined) {
    a.writeUInt8(dest.length, 11)
    a.set(dest, 12)
  }
  return a
}

const BROADCAST = Uint8Array.from([255, 255, 255, 255, 255, 255])

/**
 * Probes for `ip` on link `index` of the namespace `nsFd` for `wait`, sending two probes (at the start and
 * half way). Returns the MAC of whoever holds or wants the address, or undefined when nobody answered.
 */
export const probe = (
  nsFd: number,
  index: number,
  mac: Uint8Array,
  ip: string,
  wait: Duration.DurationInput
): Effect.Effect<string | undefined, SysError> =>
  Effect.acquireUseRelease(
    attempt(() =>
      inNetns(nsFd, () =>
        check(
          "socket(AF_PACKET)",
          // The protocol is in network byte order: htons(ETH_P_ARP).
          libc.socket(
            AF_PACKET,
            SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
            ((ETH_P_ARP & 0xff) << 8) | (ETH_P_ARP >> 8)
          )
        ))
    ),
    (fd) =>
      Effect.gen(function*() {
        const ownMac = formatMac(mac)
        const packet = encodeProbe(mac, Uint8Array.from(ip.split(".").map(Number)))
        const dest = sockaddrLl(index, BROADCAST)
        const bound = sockaddrLl(index)
        yield* attempt(() => check("bind(AF_PACKET)", libc.bind(fd, bound, bound.length)))
        const send = attempt(() =>
          check("sendto(ARP probe)", libc.sendto(fd, packet, packet.length, 0, dest, dest.length))
        )
        const buf = Buffer.alloc(1500)
        /** Drains what has arrived; the conflicting MAC if any packet says so. */
        const drain = attempt(() => {
          for (;;) {
            const n = Number(libc.recv(fd, buf, buf.length, 0))
            if (n < 0) {
              const errno = lastErrno()
              if (errno === EAGAIN) return undefined
              throw new SysError("recv(ARP)", errno)
            }
            const p = decodeArp(buf.subarray(0, n))
            if (p !== undefined && isConflict(p, ownMac, ip)) return p.senderMac
          }
        })
        const total = Duration.toMillis(Duration.decode(wait))
        const start = Date.now()
        yield* send
        let secondSent = false
        for (;;) {
          const hit = yield* drain
          if (hit !== undefined) return hit
          const elapsed = Date.now() - start
          if (elapsed >= total) return undefined
          if (!secondSent && elapsed >= total / 2) {
            secondSent = true
            yield* send
          }
          yield* Effect.sleep(Duration.millis(Math.min(10, total - elapsed)))
        }
      }),
    (fd) => Effect.sync(() => libc.close(fd))
  )
