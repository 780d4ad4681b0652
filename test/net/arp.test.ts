import { describe, expect, it } from "@effect/vitest"
import { decodeArp, encodeProbe, isConflict } from "../../src/net/arp.js"

const mac = Uint8Array.from([2, 0xaa, 0xbb, 0xcc, 0xdd, 0xee])
const ip = Uint8Array.from([10, 250, 0, 1])

describe("ARP probes (RFC 5227)", () => {
  it("encodes a probe: request, sender IP 0.0.0.0, target MAC zero", () => {
    expect(encodeProbe(mac, ip).toString("hex")).toBe(
      "0001" + "0800" + "06" + "04" + "0001" + "02aabbccddee" + "00000000" + "000000000000" + "0afa0001"
    )
    expect(decodeArp(encodeProbe(mac, ip))).toEqual({
      op: 1,
      senderMac: "02:aa:bb:cc:dd:ee",
      senderIp: "0.0.0.0",
      targetIp: "10.250.0.1"
    })
  })

  it("a reply from the holder, or someone else's simultaneous probe, is a conflict; our own echo is not", () => {
    const own = "02:aa:bb:cc:dd:ee"
    const reply = { op: 2, senderMac: "02:11:11:11:11:11", senderIp: "10.250.0.1", targetIp: "0.0.0.0" }
    expect(isConflict(reply, own, "10.250.0.1")).toBe(true)
    expect(isConflict({ ...reply, senderIp: "10.250.0.2" }, own, "10.250.0.1")).toBe(false)
    const theirProbe = { op: 1, senderMac: "02:11:11:11:11:11", senderIp: "0.0.0.0", targetIp: "10.250.0.1" }
    expect(isConflict(theirProbe, own, "10.250.0.1")).toBe(true)
    expect(isConflict({ ...theirProbe, senderMac: own }, own, "10.250.0.1")).toBe(false)
    // A gratuitous ARP / announcement for the address is a conflict as well.
    expect(
      isConflict(
        { op: 1, senderMac: "02:11:11:11:11:11", senderIp: "10.250.0.1", targetIp: "10.250.0.1" },
        own,
        "10.250.0.1"
      )
    )
      .toBe(true)
  })

  it("ignores what is not Ethernet/IPv4 ARP", () => {
    expect(decodeArp(Buffer.alloc(10))).toBeUndefined()
    const v6ish = encodeProbe(mac, ip)
    v6ish.writeUInt16BE(0x86dd, 2)
    expect(decodeArp(v6ish)).toBeUndefined()
  })
})
