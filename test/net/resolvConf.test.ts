import { describe, expect, it } from "@effect/vitest"
import { resolvConf } from "../../src/net/resolvConf.js"

const host = {
  servers: ["192.0.2.53", "2001:db8::53"],
  resolvConf: "search corp.example\nnameserver 127.0.0.53\noptions edns0\n"
}
const nic = { name: "eth0", mode: "macvlan" as const, parent: "auto" as const, address: "10.0.0.20/24" }

describe("resolvConf", () => {
  it("pod dns wins, in order", () => {
    expect(resolvConf({ nics: [nic], dns: ["10.0.0.1", "10.0.0.2"] }, host)).toBe(
      "nameserver 10.0.0.1\nnameserver 10.0.0.2\n"
    )
  })
  it("no pod dns: the Host's servers", () => {
    expect(resolvConf({ nics: [nic], dns: [] }, host)).toBe("nameserver 192.0.2.53\nnameserver 2001:db8::53\n")
  })
  it("host network: the host's own file, verbatim (not empty, as the original wrote)", () => {
    expect(resolvConf("host", host)).toBe(host.resolvConf)
  })
  it("none: the Host's servers", () => {
    expect(resolvConf("none", host)).toBe("nameserver 192.0.2.53\nnameserver 2001:db8::53\n")
  })
  it("nothing known anywhere: an empty file", () => {
    expect(resolvConf({ nics: [], dns: [] }, { servers: [], resolvConf: "" })).toBe("")
  })
})
