import { assert, describe, it } from "@effect/vitest"
import {
  BACKOFF_BASE_MS,
  BACKOFF_CAP_MS,
  backoffDelay,
  decide,
  defaultBackoff,
  type Ending,
  STABLE_WINDOW_MS
} from "../../src/reconciler/restarts.js"
import type { RestartPolicy } from "../../src/spec/Pod.js"

const endings: ReadonlyArray<[string, Ending]> = [
  ["exit 0", { _tag: "Exited", code: 0 }],
  ["exit 3", { _tag: "Exited", code: 3 }],
  ["SIGKILL", { _tag: "Signaled", signal: 9 }],
  ["OOM kill", { _tag: "Signaled", signal: 9, oomKilled: true }],
  ["SIGTERM", { _tag: "Signaled", signal: 15 }],
  ["setup failure", { _tag: "SetupFailed", step: "rootfs", message: "no such image" }]
]

// The policy table: always restarts on any end; on_failure on anything but exit 0; never never.
const expected: Record<RestartPolicy, Record<string, "restart" | "terminal">> = {
  always: {
    "exit 0": "restart",
    "exit 3": "restart",
    SIGKILL: "restart",
    "OOM kill": "restart",
    SIGTERM: "restart",
    "setup failure": "restart"
  },
  on_failure: {
    "exit 0": "terminal",
    "exit 3": "restart",
    SIGKILL: "restart",
    "OOM kill": "restart",
    SIGTERM: "restart",
    "setup failure": "restart"
  },
  never: {
    "exit 0": "terminal",
    "exit 3": "terminal",
    SIGKILL: "terminal",
    "OOM kill": "terminal",
    SIGTERM: "terminal",
    "setup failure": "terminal"
  }
}

describe("decide: policy × ending", () => {
  for (const policy of ["always", "on_failure", "never"] as const) {
    for (const [label, ending] of endings) {
      it(`${policy}, ${label} → ${expected[policy][label]}`, () => {
        const d = decide(policy, ending, { restarts: 2, lastStartAt: 1000 }, 2000)
        assert.strictEqual(d.action, expected[policy][label])
        if (d.action === "terminal") {
          assert.strictEqual(d.delayMs, 0)
          assert.strictEqual(d.restarts, 2, "a terminal decision leaves the count alone")
          assert.include(d.reason, policy)
        } else {
          assert.strictEqual(d.delayMs, 4 * BACKOFF_BASE_MS)
          assert.strictEqual(d.restarts, 3)
        }
      })
    }
  }

  it("reasons say what happened", () => {
    const r = (e: Ending) => decide("always", e, { restarts: 0, lastStartAt: 0 }, 0).reason
    assert.strictEqual(r({ _tag: "Exited", code: 3 }), "exited with code 3; restarting in 10 s")
    assert.strictEqual(r({ _tag: "Signaled", signal: 9 }), "killed by SIGKILL; restarting in 10 s")
    assert.strictEqual(
      r({ _tag: "Signaled", signal: 9, oomKilled: true }),
      "killed by SIGKILL (out of memory); restarting in 10 s"
    )
    assert.strictEqual(
      r({ _tag: "SetupFailed", step: "pull", message: "manifest unknown" }),
      "failed to start at step pull: manifest unknown; restarting in 10 s"
    )
    assert.strictEqual(
      decide("on_failure", { _tag: "Exited", code: 0 }, { restarts: 0, lastStartAt: 0 }, 0).reason,
      "exited with code 0; restart policy on_failure"
    )
  })
})

describe("decide: backoff", () => {
  it("defaults are the kubelet's: 10 s base, 300 s cap, 600 s stable window", () => {
    assert.deepStrictEqual(defaultBackoff, { baseMs: 10_000, capMs: 300_000, stableWindowMs: 600_000 })
    assert.deepStrictEqual([BACKOFF_BASE_MS, BACKOFF_CAP_MS, STABLE_WINDOW_MS], [10_000, 300_000, 600_000])
  })

  it("rapid crashes: base, 2·base, 4·base, … capped; counts 1, 2, 3, …", () => {
    let history = { restarts: 0, lastStartAt: 0 }
    let now = 0
    const delays: Array<number> = []
    const counts: Array<number> = []
    for (let i = 0; i < 9; i++) {
      now += 1000 // each run lasts a second
      const d = decide("always", { _tag: "Exited", code: 1 }, history, now)
      delays.push(d.delayMs)
      counts.push(d.restarts)
      now += d.delayMs
      history = { restarts: d.restarts, lastStartAt: now }
    }
    assert.deepStrictEqual(delays, [10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000, 300_000, 300_000])
    assert.deepStrictEqual(counts, [1, 2, 3, 4, 5, 6, 7, 8, 9])
  })

  it("a run that lasted the stable window resets to base; one just short of it does not", () => {
    const ending: Ending = { _tag: "Signaled", signal: 9 }
    const stable = decide("always", ending, { restarts: 6, lastStartAt: 0 }, STABLE_WINDOW_MS)
    assert.deepStrictEqual([stable.delayMs, stable.restarts], [BACKOFF_BASE_MS, 1])
    const short = decide("always", ending, { restarts: 6, lastStartAt: 0 }, STABLE_WINDOW_MS - 1)
    assert.deepStrictEqual([short.delayMs, short.restarts], [BACKOFF_CAP_MS, 7])
  })

  it("configurable base, cap and window", () => {
    const config = { baseMs: 20, capMs: 200, stableWindowMs: 30_000 }
    const ds = [0, 1, 2, 3, 4, 5].map((n) =>
      decide("on_failure", { _tag: "Exited", code: 2 }, { restarts: n, lastStartAt: 0 }, 10, config).delayMs
    )
    assert.deepStrictEqual(ds, [20, 40, 80, 160, 200, 200])
    assert.strictEqual(
      decide("always", { _tag: "Exited", code: 0 }, { restarts: 5, lastStartAt: 0 }, 30_000, config).delayMs,
      20
    )
  })

  it("huge restart counts stay at the cap (no overflow)", () => {
    assert.strictEqual(backoffDelay(10_000, defaultBackoff), BACKOFF_CAP_MS)
    assert.strictEqual(backoffDelay(51, defaultBackoff), BACKOFF_CAP_MS)
  })
})
