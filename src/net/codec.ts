/**
 * rtnetlink wire format: pure encoders and decoders, no syscalls.
 *
 * Layouts follow <linux/netlink.h>, <linux/rtnetlink.h>, <linux/if_link.h> and <linux/if_addr.h>
 * (host byte order: little-endian on every platform Tank runs on). Each builder returns the whole
 * message with a zero sequence number; the socket stamps the sequence number before sending.
 */

// --- constants -------------------------------------------------------------------------------------------------

export const NLMSG_ERROR = 2
export const NLMSG_DONE = 3

export const NLM_F_REQUEST = 0x1
export const NLM_F_MULTI = 0x2
export const NLM_F_ACK = 0x4
export const NLM_F_DUMP = 0x300
export const NLM_F_EXCL = 0x200
export const NLM_F_CREATE = 0x400
/** In an NLMSG_ERROR: extended-ack attributes follow the echoed header. */
export const NLM_F_CAPPED = 0x100
export const NLM_F_ACK_TLVS = 0x200
export const NLMSGERR_ATTR_MSG = 1

export const RTM_NEWLINK = 16
export const RTM_DELLINK = 17
export const RTM_GETLINK = 18
export const RTM_NEWADDR = 20
export const RTM_GETADDR = 22
export const RTM_NEWROUTE = 24
export const RTM_GETROUTE = 26

export const AF_UNSPEC = 0
export const AF_INET = 2
export const AF_INET6 = 10

export const IFF_UP = 0x1
export const IFF_LOOPBACK = 0x8
export const IFF_LOWER_UP = 0x10000

export const IFLA_ADDRESS = 1
export const IFLA_IFNAME = 3
export const IFLA_MTU = 4
export const IFLA_LINK = 5
export const IFLA_MASTER = 10
export const IFLA_LINKINFO = 18
export const IFLA_STATS64 = 23
export const IFLA_NET_NS_FD = 28
export const IFLA_INFO_KIND = 1
export const IFLA_INFO_DATA = 2
export const IFLA_MACVLAN_MODE = 1
export const MACVLAN_MODE_BRIDGE = 4
export const VETH_INFO_PEER = 1
export const RT_SCOPE_LINK = 253
export const RTPROT_STATIC = 4

export const IFA_ADDRESS = 1
export const IFA_LOCAL = 2
export const IFA_BROADCAST = 4

export const RTA_DST = 1
export const RTA_OIF = 4
export const RTA_GATEWAY = 5
export const RTA_PRIORITY = 6
export const RTA_TABLE = 15
export const RT_TABLE_MAIN = 254
export const RTPROT_BOOT = 3
export const RT_SCOPE_UNIVERSE = 0
export const RTN_UNICAST = 1

const NLMSG_HDRLEN = 16
const IFINFOMSG_LEN = 16
const IFADDRMSG_LEN = 8
const RTMSG_LEN = 12

const align4 = (n: number) => (n + 3) & ~3

// --- attributes ------------------------------------------------------------------------------------------------

/** One rtattr: a type and an already-encoded payload (nested attributes are just encoded attribute lists). */
export interface Attr {
  readonly type: number
  readonly value: Uint8Array
}

export const attr = (type: number, value: Uint8Array): Attr => ({ type, value })
export const attrU32 = (type: number, n: number): Attr => {
  const b = Buffer.alloc(4)
  b.writeUInt32LE(n >>> 0)
  return attr(type, b)
}
/** A NUL-terminated string, as the kernel expects for names and kinds. */
export const attrString = (type: number, s: string): Attr => attr(type, Buffer.from(s + "\0", "utf8"))
export const attrNested = (type: number, children: ReadonlyArray<Attr>): Attr => attr(type, encodeAttrs(children))

export const encodeAttrs = (attrs: ReadonlyArray<Attr>): Buffer => {
  const size = attrs.reduce((n, a) => n + align4(4 + a.value.length), 0)
  const out = Buffer.alloc(size)
  let off = 0
  for (const a of attrs) {
    out.writeUInt16LE(4 + a.value.length, off)
    out.writeUInt16LE(a.type, off + 2)
    out.set(a.value, off + 4)
    off += align4(4 + a.value.length)
  }
  return out
}

/** Decodes an attribute list into type → payload (the last occurrence wins; rtnetlink sends each once). */
export const decodeAttrs = (buf: Uint8Array): Map<number, Buffer> => {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength)
  const out = new Map<number, Buffer>()
  let off = 0
  while (off + 4 <= b.length) {
    const len = b.readUInt16LE(off)
    if (len < 4 || off + len > b.length) break
    // Strip NLA_F_NESTED / NLA_F_NET_BYTEORDER from the type.
    out.set(b.readUInt16LE(off + 2) & 0x3fff, b.subarray(off + 4, off + len))
    off += align4(len)
  }
  return out
}

export const cString = (b: Buffer | undefined): string | undefined => {
  if (b === undefined) return undefined
  const nul = b.indexOf(0)
  return b.toString("utf8", 0, nul < 0 ? b.length : nul)
}

// --- messages --------------------------------------------------------------------------------------------------

const message = (type: number, flags: number, fixed: Buffer, attrs: ReadonlyArray<Attr>): Buffer => {
  const body = encodeAttrs(attrs)
  const out = Buffer.alloc(NLMSG_HDRLEN + fixed.length + body.length)
  out.writeUInt32LE(out.length, 0)
  out.writeUInt16LE(type, 4)
  out.writeUInt16LE(flags, 6)
  // seq (8) and pid (12) stay 0: the socket stamps seq; pid 0 addresses the kernel.
  fixed.copy(out, NLMSG_HDRLEN)
  body.copy(out, NLMSG_HDRLEN + fixed.length)
  return out
}

/** Writes the sequence number into an encoded message (in place) and returns it. */
export const withSeq = (msg: Buffer, seq: number): Buffer => {
  msg.writeUInt32LE(seq >>> 0, 8)
  return msg
}

const ifinfomsg = (index: number, flags = 0, change = 0): Buffer => {
  const b = Buffer.alloc(IFINFOMSG_LEN)
  b.writeUInt8(AF_UNSPEC, 0)
  b.writeInt32LE(index, 4)
  b.writeUInt32LE(flags >>> 0, 8)
  b.writeUInt32LE(change >>> 0, 12)
  return b
}

const REQ_ACK = NLM_F_REQUEST | NLM_F_ACK

/** RTM_GETLINK for one link, by name (index 0) or by index. */
export const getLink = (by: { readonly name: string } | { readonly index: number }): Buffer =>
  "name" in by
    ? message(RTM_GETLINK, NLM_F_REQUEST, ifinfomsg(0), [attrString(IFLA_IFNAME, by.name)])
    : message(RTM_GETLINK, NLM_F_REQUEST, ifinfomsg(by.index), [])

export const dumpLinks = (): Buffer => message(RTM_GETLINK, NLM_F_REQUEST | NLM_F_DUMP, ifinfomsg(0), [])

export const dumpAddrs = (family = AF_UNSPEC): Buffer => {
  const fixed = Buffer.alloc(IFADDRMSG_LEN)
  fixed.writeUInt8(family, 0)
  return message(RTM_GETADDR, NLM_F_REQUEST | NLM_F_DUMP, fixed, [])
}

export const dumpRoutes = (family = AF_INET): Buffer => {
  const fixed = Buffer.alloc(RTMSG_LEN)
  fixed.writeUInt8(family, 0)
  return message(RTM_GETROUTE, NLM_F_REQUEST | NLM_F_DUMP, fixed, [])
}

export interface NewMacvlan {
  readonly name: string
  readonly parentIndex: number
  readonly mac: Uint8Array
  /** An fd of the namespace to create the link in; the parent is looked up in the socket's namespace. */
  readonly netnsFd?: number
}

/** `ip link add link <parent> name <name> address <mac> [netns <fd>] type macvlan mode bridge`. */
export const newMacvlan = (o: NewMacvlan): Buffer =>
  message(RTM_NEWLINK, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0), [
    // iproute2's order, so the message is byte-identical to `ip link add` (see the codec tests).
    attr(IFLA_ADDRESS, o.mac),
    attrU32(IFLA_LINK, o.parentIndex),
    attrString(IFLA_IFNAME, o.name),
    ...(o.netnsFd === undefined ? [] : [attrU32(IFLA_NET_NS_FD, o.netnsFd)]),
    attrNested(IFLA_LINKINFO, [
      // Like iproute2: the kind without its NUL (the kernel compares with nla_strcmp either way).
      attr(IFLA_INFO_KIND, Buffer.from("macvlan")),
      attrNested(IFLA_INFO_DATA, [attrU32(IFLA_MACVLAN_MODE, MACVLAN_MODE_BRIDGE)])
    ])
  ])

/**
 * `ip link add <name> address <mac> type bridge` (in the socket's namespace). A fixed MAC: a bridge
 * otherwise takes its lowest port's, which changes as pods come and go and leaves stale ARP entries.
 */
export const newBridge = (name: string, mac: Uint8Array): Buffer =>
  message(RTM_NEWLINK, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0), [
    attr(IFLA_ADDRESS, mac),
    attrString(IFLA_IFNAME, name),
    attrNested(IFLA_LINKINFO, [attr(IFLA_INFO_KIND, Buffer.from("bridge"))])
  ])

export interface NewVeth {
  /** The end that stays in the socket's namespace. */
  readonly name: string
  /** The other end: its name, MAC and namespace. */
  readonly peer: string
  readonly peerMac: Uint8Array
  readonly peerNetnsFd: number
}

/** `ip link add <name> type veth peer name <peer> address <mac> netns <fd>`. */
export const newVeth = (o: NewVeth): Buffer => {
  // VETH_INFO_PEER holds a whole ifinfomsg followed by the peer's attributes.
  const peer = Buffer.concat([
    ifinfomsg(0),
    encodeAttrs([
      attrString(IFLA_IFNAME, o.peer),
      attr(IFLA_ADDRESS, o.peerMac),
      attrU32(IFLA_NET_NS_FD, o.peerNetnsFd)
    ])
  ])
  return message(RTM_NEWLINK, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, ifinfomsg(0), [
    attrString(IFLA_IFNAME, o.name),
    attrNested(IFLA_LINKINFO, [
      attr(IFLA_INFO_KIND, Buffer.from("veth")),
      attrNested(IFLA_INFO_DATA, [attr(VETH_INFO_PEER, peer)])
    ])
  ])
}

export const IFLA_INFO_SLAVE_KIND = 4
export const IFLA_INFO_SLAVE_DATA = 5
export const IFLA_BRPORT_MODE = 4

/**
 * `ip link set <index> type bridge_slave hairpin on`: a frame may leave by the port it came in on.
 * With br_netfilter, a pod's connection to its own published port is DNATed while still bridged and
 * must go back out of its own port.
 */
export const setHairpin = (index: number): Buffer =>
  message(RTM_NEWLINK, REQ_ACK, ifinfomsg(index), [
    attrNested(IFLA_LINKINFO, [
      attr(IFLA_INFO_SLAVE_KIND, Buffer.from("bridge")),
      attrNested(IFLA_INFO_SLAVE_DATA, [attr(IFLA_BRPORT_MODE, Buffer.from([1]))])
    ])
  ])

/** `ip link set <index> master <bridgeIndex>`. */
export const setMaster = (index: number, masterIndex: number): Buffer =>
  message(RTM_NEWLINK, REQ_ACK, ifinfomsg(index), [attrU32(IFLA_MASTER, masterIndex)])

/** `ip route add <dst>/<prefix> dev <index> scope link proto static` in the main table. */
export const newLinkRoute4 = (index: number, dst: Uint8Array, prefix: number): Buffer => {
  const fixed = Buffer.alloc(RTMSG_LEN)
  fixed.writeUInt8(AF_INET, 0)
  fixed.writeUInt8(prefix, 1)
  fixed.writeUInt8(RT_TABLE_MAIN, 4)
  fixed.writeUInt8(RTPROT_STATIC, 5)
  fixed.writeUInt8(RT_SCOPE_LINK, 6)
  fixed.writeUInt8(RTN_UNICAST, 7)
  return message(RTM_NEWROUTE, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, fixed, [
    attr(RTA_DST, dst),
    attrU32(RTA_OIF, index)
  ])
}

/** `ip link set <index> up|down`. */
export const setLinkUp = (index: number, up: boolean): Buffer =>
  message(RTM_NEWLINK, REQ_ACK, ifinfomsg(index, up ? IFF_UP : 0, IFF_UP), [])

/** `ip link set <index> name <name>`. */
export const renameLink = (index: number, name: string): Buffer =>
  message(RTM_NEWLINK, REQ_ACK, ifinfomsg(index), [attrString(IFLA_IFNAME, name)])

/** `ip link set <index> netns <fd>`. */
export const moveLink = (index: number, netnsFd: number): Buffer =>
  message(RTM_NEWLINK, REQ_ACK, ifinfomsg(index), [attrU32(IFLA_NET_NS_FD, netnsFd)])

export const deleteLink = (by: { readonly name: string } | { readonly index: number }): Buffer =>
  "name" in by
    ? message(RTM_DELLINK, REQ_ACK, ifinfomsg(0), [attrString(IFLA_IFNAME, by.name)])
    : message(RTM_DELLINK, REQ_ACK, ifinfomsg(by.index), [])

/** `ip addr add <addr>/<prefix> [brd +] dev <index>` (IPv4); fails with EEXIST if the link already has it. */
export const newAddr4 = (index: number, address: Uint8Array, prefix: number): Buffer => {
  const fixed = Buffer.alloc(IFADDRMSG_LEN)
  fixed.writeUInt8(AF_INET, 0)
  fixed.writeUInt8(prefix, 1)
  fixed.writeUInt8(RT_SCOPE_UNIVERSE, 3)
  fixed.writeUInt32LE(index, 4)
  const attrs = [attr(IFA_LOCAL, address), attr(IFA_ADDRESS, address)]
  // Like `brd +`: point-to-point prefixes (/31, /32) have no broadcast address.
  if (prefix < 31) attrs.push(attr(IFA_BROADCAST, broadcast4(address, prefix)))
  return message(RTM_NEWADDR, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, fixed, attrs)
}

/** `ip route add default via <gateway> dev <index> [metric <metric>]` in the main table. */
export const newDefaultRoute4 = (index: number, gateway: Uint8Array, metric: number): Buffer => {
  const fixed = Buffer.alloc(RTMSG_LEN)
  fixed.writeUInt8(AF_INET, 0)
  fixed.writeUInt8(0, 1) // dst_len: default route
  fixed.writeUInt8(RT_TABLE_MAIN, 4)
  fixed.writeUInt8(RTPROT_BOOT, 5)
  fixed.writeUInt8(RT_SCOPE_UNIVERSE, 6)
  fixed.writeUInt8(RTN_UNICAST, 7)
  const attrs = [attr(RTA_GATEWAY, gateway), attrU32(RTA_OIF, index)]
  if (metric > 0) attrs.push(attrU32(RTA_PRIORITY, metric))
  return message(RTM_NEWROUTE, REQ_ACK | NLM_F_CREATE | NLM_F_EXCL, fixed, attrs)
}

// --- addresses -------------------------------------------------------------------------------------------------

export const ipv4Bytes = (s: string): Uint8Array => Uint8Array.from(s.split(".").map(Number))

export const broadcast4 = (address: Uint8Array, prefix: number): Uint8Array => {
  const n = Buffer.from(address).readUInt32BE(0)
  const mask = prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
  const out = Buffer.alloc(4)
  out.writeUInt32BE(((n & mask) | (~mask >>> 0)) >>> 0)
  return out
}

export const formatIp = (b: Uint8Array): string => {
  if (b.length === 4) return Array.from(b).join(".")
  const words: Array<string> = []
  for (let i = 0; i + 1 < b.length; i += 2) words.push(((b[i]! << 8) | b[i + 1]!).toString(16))
  // Compress the longest run of zero words (RFC 5952).
  let best = -1, bestLen = 0
  for (let i = 0; i < words.length;) {
    if (words[i] !== "0") {
      i++
      continue
    }
    let j = i
    while (j < words.length && words[j] === "0") j++
    if (j - i > bestLen && j - i > 1) [best, bestLen] = [i, j - i]
    i = j
  }
  if (best < 0) return words.join(":")
  return `${words.slice(0, best).join(":")}::${words.slice(best + bestLen).join(":")}`
}

export const formatMac = (b: Uint8Array): string => Array.from(b, (x) => x.toString(16).padStart(2, "0")).join(":")
