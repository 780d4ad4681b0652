/**
 * The networking-services spec fields: `{ pool }` addresses, bridge NICs, published ports. Defaults
 * stay out of the canonical form of pods that do not use them.
 */
import { assert, describe, it } from "@effect/vitest"
import { Either } from "effect"
import { canonicalJson, decodePodEither, encodePod } from "../../src/spec/decode.js"
import type { Pod } from "../../src/spec/Pod.js"

const pod = (network: unknown) => ({ name: "web", network, containers: [{ name: "app", image: "busybox" }] })
const decode = (input: unknown) => decodePodEither(input)
const ok = (input: unknown): Pod => {
  const r = decode(input)
  if (Either.isLeft(r)) throw new Error(r.left.message)
  return r.right
}
const issues = (input: unknown) => {
  const r = decode(input)
  assert.isTrue(Either.isLeft(r), "expected a rejection")
  return Either.isLeft(r) ? r.left.issues.map((i) => `${i.path}: ${i.message}`) : []
}

describe("spec: pools, bridge NICs, ports", () => {
  it("a pool address, a bridge NIC without an address, ports with their defaults", () => {
    const p = ok(pod({
      nics: [
        { name: "eth0", address: { pool: "lan" } },
        { name: "eth1", mode: "bridge" }
      ],
      ports: [{ containerPort: 80, hostPort: 18080 }, {
        containerPort: 53,
        hostPort: 5353,
        protocol: "udp",
        hostIP: "127.0.0.1"
      }]
    }))
    assert.deepStrictEqual(p.network, {
      nics: [
        { name: "eth0", mode: "macvlan", parent: "auto", address: { pool: "lan" } },
        { name: "eth1", mode: "bridge", parent: "auto" }
      ],
      ports: [
        { containerPort: 80, hostPort: 18080, protocol: "tcp" },
        { containerPort: 53, hostPort: 5353, protocol: "udp", hostIP: "127.0.0.1" }
      ],
      dns: []
    })
  })

  it("pods without ports keep their canonical form (no ports key appears)", () => {
    const p = ok(pod({ nics: [{ name: "eth0", address: "10.0.0.5/24" }] }))
    assert.notInclude(canonicalJson(p), "ports")
    assert.notProperty(encodePod(p).network as object, "ports")
    assert.strictEqual(
      canonicalJson(p),
      JSON.stringify(JSON.parse(canonicalJson(ok(JSON.parse(JSON.stringify(encodePod(p)))))))
    )
  })

  it("refuses what cannot work, naming the field", () => {
    assert.deepInclude(
      issues(pod({ nics: [{ name: "eth0", address: "10.0.0.5/24" }], ports: [{ containerPort: 80, hostPort: 80 }] })),
      "network.ports: ports are published through a bridge NIC; this pod has none"
    )
    const dup = issues(pod({
      nics: [{ name: "eth0", mode: "bridge" }],
      ports: [{ containerPort: 80, hostPort: 8080 }, { containerPort: 81, hostPort: 8080 }]
    }))
    assert.isTrue(
      dup.some((i) => i.startsWith("network.ports[1].hostPort: duplicate host port \"tcp/8080\"")),
      dup.join()
    )
    // Same host port on tcp and udp is two ports.
    ok(pod({
      nics: [{ name: "eth0", mode: "bridge" }],
      ports: [{ containerPort: 53, hostPort: 53 }, { containerPort: 53, hostPort: 53, protocol: "udp" }]
    }))
    assert.isTrue(
      issues(pod({ nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 0, hostPort: 80 }] }))
        .some((i) => i.startsWith("network.ports[0].containerPort"))
    )
    assert.isTrue(
      issues(pod({ nics: [{ name: "eth0", mode: "bridge" }], ports: [{ containerPort: 80, hostPort: 65536 }] }))
        .some((i) => i.startsWith("network.ports[0].hostPort"))
    )
    assert.isTrue(
      issues(pod({
        nics: [{ name: "eth0", mode: "bridge" }],
        ports: [{ containerPort: 80, hostPort: 80, protocol: "sctp" }]
      })).some((i) => i.startsWith("network.ports[0].protocol"))
    )
    assert.isTrue(
      issues(pod({ nics: [{ name: "eth0", address: { pool: "Bad_Name" } }] }))
        .some((i) => i.startsWith("network.nics[0].address"))
    )
    assert.isTrue(
      issues(pod({ nics: [{ name: "eth0", address: { pool: "lan", extra: 1 } }] }))
        .some((i) => i.includes("network.nics[0].address"))
    )
  })
})
