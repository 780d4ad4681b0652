/**
 * rtnetlink replies: pure decoders for what the kernel sends back (acks, errors, link/address/route dumps).
 */
import {
  AF_INET,
  cString,
  decodeAttrs,
  formatIp,
  formatMac,
  IFA_ADDRESS,
  IFA_LOCAL,
  IFLA_ADDRESS,
  IFLA_IFNAME,
  IFLA_INFO_KIND,
  IFLA_LINK,
  IFLA_LINKINFO,
  IFLA_MASTER,
  IFLA_MTU,
  IFLA_STATS64,
  NLM_F_ACK_TLVS,
  NLM_F_CAPPED,
  NLMSGERR_ATTR_MSG,
  RTA_DST,
  RTA_GATEWAY,
  RTA_OIF,
  RTA_PRIORITY,
  RTA_TABLE
} from "./codec.js"

export interface NlMsg {
  readonly type: number
  readonly flags: number
  readonly seq: number
  readonly pid: number
  readonly payload: Buffer
}

/** Splits one datagram into its messages. A truncated trailing message is dropped. */
export const decodeMessages = (buf: Uint8Array): Array<NlMsg> => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const out: Array<NlMsg> = []
  let off = 0
  while (off + 16 <= b.length) {
    const len = b.readUInt32LE(off)
    if (len < 16 || off + len > b.length) break
    out.push({
      type: b.readUInt16LE(off + 4),
      flags: b.readUInt16LE(off + 6),
      seq: b.readUInt32LE(off + 8),
      pid: b.readUInt32LE(off + 12),
      payload: b.subarray(off + 16, off + len)
    })
    off += (len + 3) & ~3
  }
  return out
}

export interface NlError {
  /** Positive errno; 0 means the request succeeded (an ack). */
  readonly errno: number
  /** The kernel's extended-ack text ("Nexthop has invalid gateway"), when it sent one. */
  readonly message?: string
}

/** struct nlmsgerr { int error; struct nlmsghdr msg; } + the request's payload unless capped + ext-ack TLVs. */
export const decodeError = (m: NlMsg): NlError => {
  const raw = m.payload.readInt32LE(0)
  const errno = raw === 0 ? 0 : -raw
  if ((m.flags & NLM_F_ACK_TLVS) === 0 || m.payload.length < 20) return { errno }
  const echoedLen = (m.flags & NLM_F_CAPPED) !== 0 ? 16 : m.payload.readUInt32LE(4)
  const tlvs = decodeAttrs(m.payload.subarray(4 + ((echoedLen + 3) & ~3)))
  const message = cString(tlvs.get(NLMSGERR_ATTR_MSG))
  return message === undefined || message === "" ? { errno } : { errno, message }
}

export interface LinkStats {
  readonly rxPackets: bigint
  readonly txPackets: bigint
  readonly rxBytes: bigint
  readonly txBytes: bigint
}

export interface Link {
  readonly index: number
  readonly name: string
  readonly flags: number
  readonly mac?: string
  readonly mtu?: number
  /** IFLA_LINK: the parent's index (in the link's own netns or the link-netns); absent for top-level links. */
  readonly parentIndex?: number
  /** IFLA_MASTER: the bridge a port belongs to. */
  readonly masterIndex?: number
  /** IFLA_INFO_KIND: "macvlan", "veth", ...; absent for plain devices such as lo. */
  readonly kind?: string
  readonly stats?: LinkStats
}

/** An RTM_NEWLINK message (ifinfomsg + attributes). */
export const decodeLink = (m: NlMsg): Link => {
  const p = m.payload
  const attrs = decodeAttrs(p.subarray(16))
  const mac = attrs.get(IFLA_ADDRESS)
  const mtu = attrs.get(IFLA_MTU)
  const parent = attrs.get(IFLA_LINK)
  const master = attrs.get(IFLA_MASTER)
  const info = attrs.get(IFLA_LINKINFO)
  const kind = info === undefined ? undefined : cString(decodeAttrs(info).get(IFLA_INFO_KIND))
  const s = attrs.get(IFLA_STATS64)
  return {
    index: p.readInt32LE(4),
    flags: p.readUInt32LE(8),
    name: cString(attrs.get(IFLA_IFNAME)) ?? "",
    ...(mac === undefined ? {} : { mac: formatMac(mac) }),
    ...(mtu === undefined ? {} : { mtu: mtu.readUInt32LE(0) }),
    ...(parent === undefined ? {} : { parentIndex: parent.readInt32LE(0) }),
    ...(master === undefined ? {} : { masterIndex: master.readInt32LE(0) }),
    ...(kind === undefined ? {} : { kind }),
    // struct rtnl_link_stats64 starts rx_packets, tx_packets, rx_bytes, tx_bytes (u64 each).
    ...(s === undefined || s.length < 32 ? {} : {
      stats: {
        rxPackets: s.readBigUInt64LE(0),
        txPackets: s.readBigUInt64LE(8),
        rxBytes: s.readBigUInt64LE(16),
        txBytes: s.readBigUInt64LE(24)
      }
    })
  }
}

export interface Addr {
  readonly index: number
  readonly family: number
  readonly prefix: number
  /** The interface's own address (IFA_LOCAL for IPv4, IFA_ADDRESS for IPv6). */
  readonly address: string
}

/** An RTM_NEWADDR message (ifaddrmsg + attributes). */
export const decodeAddr = (m: NlMsg): Addr => {
  const p = m.payload
  const attrs = decodeAttrs(p.subarray(8))
  const raw = attrs.get(IFA_LOCAL) ?? attrs.get(IFA_ADDRESS)
  return {
    family: p.readUInt8(0),
    prefix: p.readUInt8(1),
    index: p.readUInt32LE(4),
    address: raw === undefined ? "" : formatIp(raw)
  }
}

export interface Route {
  readonly family: number
  readonly dstLen: number
  readonly table: number
  readonly protocol: number
  readonly scope: number
  readonly type: number
  readonly dst?: string
  readonly gateway?: string
  readonly oif?: number
  readonly priority?: number
}

/** An RTM_NEWROUTE message (rtmsg + attributes). */
export const decodeRoute = (m: NlMsg): Route => {
  const p = m.payload
  const attrs = decodeAttrs(p.subarray(12))
  const dst = attrs.get(RTA_DST)
  const gw = attrs.get(RTA_GATEWAY)
  const oif = attrs.get(RTA_OIF)
  const prio = attrs.get(RTA_PRIORITY)
  const table = attrs.get(RTA_TABLE)
  return {
    family: p.readUInt8(0),
    dstLen: p.readUInt8(1),
    table: table === undefined ? p.readUInt8(4) : table.readUInt32LE(0),
    protocol: p.readUInt8(5),
    scope: p.readUInt8(6),
    type: p.readUInt8(7),
    ...(dst === undefined ? {} : { dst: formatIp(dst) }),
    ...(gw === undefined ? {} : { gateway: formatIp(gw) }),
    ...(oif === undefined ? {} : { oif: oif.readUInt32LE(0) }),
    ...(prio === undefined ? {} : { priority: prio.readUInt32LE(0) })
  }
}

export const isIpv4 = (a: Addr): boolean => a.family === AF_INET
