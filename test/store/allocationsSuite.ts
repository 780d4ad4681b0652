/**
 * The Allocations contract, run against every layer (memory, SQLite, etcd): first free address,
 * sticky per holder and NIC, exclusions, exhaustion, claims that name the other holder, releases,
 * and concurrent allocations that never hand out one address twice.
 */
import { assert, describe, it } from "@effect/vitest"
import type { Layer } from "effect"
import { Effect } from "effect"
import { toInt } from "../../src/net/ipv4.js"
import { type AllocateRequest, Allocations } from "../../src/store/Allocations.js"

const req = (holder: string, nic = "eth0", extra: Partial<AllocateRequest> = {}): AllocateRequest => ({
  pool: "lan",
  holder,
  nic,
  first: toInt("10.0.0.10"),
  last: toInt("10.0.0.200"),
  ...extra
})

export const allocationsSuite = (
  label: string,
  layer: Layer.Layer<Allocations>,
  options: { readonly timeout?: number } = {}
) =>
  describe(`Allocations (${label})`, () => {
    const test = (name: string, body: Effect.Effect<void, unknown, Allocations>) =>
      it.live(name, () => Effect.provide(body, layer), options.timeout ?? 20_000)

    test(
      "first free address, sticky per holder and NIC, distinct per NIC, exclusions skipped",
      Effect.gen(function*() {
        const a = yield* Allocations
        const web = yield* a.allocate(req("web", "eth0", { exclude: [toInt("10.0.0.10")] }))
        assert.strictEqual(web.address, "10.0.0.11")
        assert.deepInclude(web, { pool: "lan", holder: "web", nic: "eth0" })
        const again = yield* a.allocate(req("web", "eth0"))
        assert.strictEqual(again.address, "10.0.0.11", "sticky: the same holder and NIC get the same address")
        const eth1 = yield* a.allocate(req("web", "eth1"))
        assert.strictEqual(eth1.address, "10.0.0.10")
        const api = yield* a.allocate(req("api", "eth0", { exclude: [toInt("10.0.0.12")] }))
        assert.strictEqual(api.address, "10.0.0.13")
        // Another pool is another address space.
        const other = yield* a.allocate(req("web", "eth0", { pool: "other" }))
        assert.strictEqual(other.address, "10.0.0.10")
        const all = yield* a.list
        assert.deepStrictEqual(all.map((x) => `${x.pool} ${x.address} ${x.holder}/${x.nic}`), [
          "lan 10.0.0.10 web/eth1",
          "lan 10.0.0.11 web/eth0",
          "lan 10.0.0.13 api/eth0",
          "other 10.0.0.10 web/eth0"
        ])
      })
    )

    test(
      "a full pool fails with PoolExhausted naming it; a release frees the address for the next holder",
      Effect.gen(function*() {
        const a = yield* Allocations
        const small = (h: string) => req(h, "eth0", { first: toInt("10.0.0.10"), last: toInt("10.0.0.11") })
        yield* a.allocate(small("a"))
        yield* a.allocate(small("b"))
        const err = yield* Effect.flip(a.allocate(small("c")))
        assert.strictEqual(err._tag, "PoolExhausted")
        assert.include(err.message, `pool "lan"`)
        assert.include(err.message, "all 2")
        const gone = yield* a.release("a")
        assert.deepStrictEqual(gone.map((x) => x.address), ["10.0.0.10"])
        assert.strictEqual((yield* a.allocate(small("c"))).address, "10.0.0.10")
        assert.deepStrictEqual((yield* a.list).map((x) => x.holder).sort(), ["b", "c"])
      })
    )

    test(
      "claims: a free address is taken, one's own is kept, another's is refused naming its holder; a NIC moves",
      Effect.gen(function*() {
        const a = yield* Allocations
        const mine = yield* a.claim({ pool: "lan", address: "10.0.0.50", holder: "web", nic: "eth0" })
        assert.strictEqual(mine.address, "10.0.0.50")
        yield* a.claim({ pool: "lan", address: "10.0.0.50", holder: "web", nic: "eth0" })
        const err = yield* Effect.flip(a.claim({ pool: "lan", address: "10.0.0.50", holder: "api", nic: "eth0" }))
        assert.strictEqual(err._tag, "AddressTaken")
        assert.include(err.message, `pod "web"`)
        // The same NIC given another static address: the old one is released with the move.
        yield* a.claim({ pool: "lan", address: "10.0.0.51", holder: "web", nic: "eth0" })
        assert.deepStrictEqual((yield* a.list).map((x) => x.address), ["10.0.0.51"])
        // Host ports are claims in a pool of their own.
        yield* a.claim({ pool: "hostports", address: "tcp/8080", holder: "web", nic: "tcp/8080" })
        const port = yield* Effect.flip(
          a.claim({ pool: "hostports", address: "tcp/8080", holder: "api", nic: "tcp/8080" })
        )
        assert.include(port.message, `pod "web"`)
        // An allocation never lands on a claimed address.
        const next = yield* a.allocate(req("api", "eth0", { first: toInt("10.0.0.51"), last: toInt("10.0.0.52") }))
        assert.strictEqual(next.address, "10.0.0.52")
      })
    )

    test(
      "release: a filter selects which of the holder's allocations go; other holders are untouched",
      Effect.gen(function*() {
        const a = yield* Allocations
        yield* a.allocate(req("web", "eth0"))
        yield* a.allocate(req("web", "eth1"))
        yield* a.allocate(req("api", "eth0"))
        const one = yield* a.release("web", (x) => x.nic === "eth1")
        assert.deepStrictEqual(one.map((x) => x.nic), ["eth1"])
        assert.deepStrictEqual(yield* a.release("nobody"), [])
        assert.deepStrictEqual((yield* a.list).map((x) => `${x.holder}/${x.nic}`), ["web/eth0", "api/eth0"])
        yield* a.release("web")
        assert.deepStrictEqual((yield* a.list).map((x) => x.holder), ["api"])
      })
    )

    test(
      "50 concurrent allocations get 50 distinct addresses; asked again, each holder gets its own back",
      Effect.gen(function*() {
        const a = yield* Allocations
        const holders = Array.from({ length: 50 }, (_, i) => `p${i}`)
        const got = yield* Effect.forEach(holders, (h) => a.allocate(req(h)), { concurrency: "unbounded" })
        assert.strictEqual(new Set(got.map((x) => x.address)).size, 50)
        const again = yield* Effect.forEach(holders, (h) => a.allocate(req(h)), { concurrency: "unbounded" })
        assert.deepStrictEqual(again.map((x) => x.address), got.map((x) => x.address))
        assert.strictEqual((yield* a.list).length, 50)
      })
    )
  })
