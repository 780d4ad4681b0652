/**
 * The syscall side of rtnetlink: a small synchronous NETLINK_ROUTE socket on libc (src/host/libc.ts).
 *
 * Requests are tiny and answered at once by the kernel, so the socket is blocking with a receive timeout
 * (SO_RCVTIMEO) and every call returns synchronously: no event-loop integration needed. Failures throw
 * `SysError`; the Effect layer (NetworkLive) turns them into typed errors.
 */
import { describeErrno, errno, libc as sys } from "../host/libc.js"
import { NLMSG_DONE, NLMSG_ERROR, withSeq } from "./codec.js"
import { decodeError, decodeMessages, type NlMsg } from "./decode.js"

const AF_NETLINK = 16
const SOCK_RAW = 3
const SOCK_CLOEXEC = 0x80000
const NETLINK_ROUTE = 0
const SOL_SOCKET = 1
const SO_RCVTIMEO = 20
const SOL_NETLINK = 270
const NETLINK_CAP_ACK = 10
const NETLINK_EXT_ACK = 11
const EINTR = 4

/** A failed syscall or a negative netlink ack. `errno` is positive. */
export class SysError extends Error {
  constructor(readonly call: string, readonly errno: number, readonly detail?: string) {
    super(`${call}: ${describeErrno(errno)}${detail === undefined ? "" : `: ${detail}`}`)
  }
}

export const check = (call: string, r: number | bigint): number => {
  const n = Number(r)
  if (n < 0) throw new SysError(call, errno())
  return n
}

const intOpt = (n: number) => {
  const b = Buffer.alloc(4)
  b.writeInt32LE(n)
  return b
}

let nextSeq = Math.floor(Date.now() / 1000) & 0x7fffffff

/**
 * One NETLINK_ROUTE socket. It talks to the network namespace it was created in, whatever namespace
 * the calling thread is in later (see Netns.ts).
 */
export class RtnlSocket {
  private readonly buf = Buffer.alloc(64 * 1024)
  private closed = false

  private constructor(readonly fd: number) {}

  /** Opens a socket in the calling thread's current network namespace. */
  static open(timeoutMs = 5000): RtnlSocket {
    const fd = check("socket(AF_NETLINK)", sys.socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE))
    try {
      const tv = Buffer.alloc(16)
      tv.writeBigInt64LE(BigInt(Math.floor(timeoutMs / 1000)), 0)
      tv.writeBigInt64LE(BigInt((timeoutMs % 1000) * 1000), 8)
      check("setsockopt(SO_RCVTIMEO)", sys.setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, tv, 16))
      // Best effort: the kernel's error text ("Nexthop has invalid gateway") and short acks.
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_EXT_ACK, intOpt(1), 4)
      sys.setsockopt(fd, SOL_NETLINK, NETLINK_CAP_ACK, intOpt(1), 4)
      return new RtnlSocket(fd)
    } catch (e) {
      sys.close(fd)
      throw e
    }
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    sys.close(this.fd)
  }

  private sendMsg(what: string, msg: Buffer): number {
    const seq = nextSeq = (nextSeq + 1) & 0x7fffffff
    withSeq(msg, seq)
    for (;;) {
      const n = Number(sys.send(this.fd, msg, msg.length, 0))
      if (n >= 0) return seq
      const e = errno()
      if (e !== EINTR) throw new SysError(`${what}: send`, e)
    }
  }

  private recvBatch(what: string): Array<NlMsg> {
    for (;;) {
      const n = Number(sys.recv(this.fd, this.buf, this.buf.length, 0))
      // Copy: the decoded messages are views, and the next recv reuses the buffer.
      if (n >= 0) return decodeMessages(Buffer.from(this.buf.subarray(0, n)))
      const e = errno()
      if (e !== EINTR) throw new SysError(`${what}: recv`, e)
    }
  }

  /**
   * Sends a request and collects its replies until the ack (NLMSG_ERROR 0), the end of a dump (NLMSG_DONE),
   * or, for a plain get, the first reply. A negative ack throws SysError with the kernel's message.
   */
  transact(what: string, msg: Buffer, mode: "ack" | "get" | "dump"): Array<NlMsg> {
    const seq = this.sendMsg(what, msg)
    const out: Array<NlMsg> = []
    for (;;) {
      for (const m of this.recvBatch(what)) {
        if (m.seq !== seq) continue // a late reply to an earlier, timed-out request
        if (m.type === NLMSG_ERROR) {
          const e = decodeError(m)
          if (e.errno !== 0) throw new SysError(what, e.errno, e.message)
          return out
        }
        if (m.type === NLMSG_DONE) return out
        out.push(m)
        if (mode === "get") return out
      }
    }
  }

  ack(what: string, msg: Buffer): void {
    this.transact(what, msg, "ack")
  }

  get(what: string, msg: Buffer): NlMsg {
    const [m] = this.transact(what, msg, "get")
    if (m === undefined) throw new SysError(what, 61 /* ENODATA */)
    return m
  }

  dump(what: string, msg: Buffer): Array<NlMsg> {
    return this.transact(what, msg, "dump")
  }
}
