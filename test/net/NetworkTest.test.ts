import { describe, expect, it } from "@effect/vitest"
import { Effect } from "effect"
import { LinkCreateFailed, NoUplink } from "../../src/net/errors.js"
import { macFor } from "../../src/net/mac.js"
import { Network } from "../../src/net/Network.js"
import { makeRecording } from "../../src/net/NetworkTest.js"

const network = {
  nics: [{
    name: "eth0",
    mode: "macvlan" as const,
    parent: "auto" as const,
    address: "10.0.0.2/24",
    gateway: "10.0.0.1"
  }],
  dns: []
}
const base = { pod: "api", netnsPath: "/run/netns/api", network, uplink: () => Effect.succeed("enp1s0") }

describe("recording Network layer", () => {
  it.effect("records setups and releases, resolves parents, derives MACs", () => {
    const { layer, recording } = makeRecording()
    return Effect.gen(function*() {
      const net = yield* Network
      const state = yield* Effect.scoped(net.setup(base))
      expect(state.nics).toEqual([{
        name: "eth0",
        parent: "enp1s0",
        mac: macFor("api", "eth0"),
        address: "10.0.0.2/24",
        gateway: "10.0.0.1",
        index: 2
      }])
      expect(recording.setups.map((s) => s.pod)).toEqual(["api"])
      expect(recording.released).toEqual(["api"])
      const err = yield* Effect.scoped(
        net.setup({ ...base, uplink: () => Effect.fail(new NoUplink({ reason: "none configured" })) })
      ).pipe(Effect.flip)
      expect(err).toMatchObject({ _tag: "NoUplink", nic: "eth0" })
    }).pipe(Effect.provide(layer))
  })

  it.effect("fails on demand without releasing", () => {
    const { layer, recording } = makeRecording({
      fail: () => new LinkCreateFailed({ nic: "eth0", step: "create", errno: 17, message: "exists" })
    })
    return Effect.gen(function*() {
      const err = yield* Effect.scoped(Effect.flatMap(Network, (n) => n.setup(base))).pipe(Effect.flip)
      expect(err._tag).toBe("LinkCreateFailed")
      expect(recording.released).toEqual([])
    }).pipe(Effect.provide(layer))
  })
})
