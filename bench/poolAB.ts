/**
 * The A/B loop of the spawner pool benches (sandbox.ts, monitorStart.ts): a spawner with the pool
 * against one without, both started before the first call; one untimed call of each (the first of
 * a kind pays for loading), then `runs` rounds of one call each, interleaved call by call so machine
 * drift hits both alike, the order alternating so that neither always follows the other's
 * teardown; after each call a pause as long as the rest of a start (`PAUSE_MS`, 25 ms), in which
 * the pool makes its next waiting child, as between two starts. Prints the medians and the load.
 */
import { Effect } from "effect"
import type { Scope } from "effect"
import * as os from "node:os"
import type { RunLine, SpawnerPools } from "../src/runtime/helper/spawner.js"
import { makeSpawnerWith } from "../src/runtime/helper/spawner.js"
import { fmt, median, ratio } from "./report.js"

export type Which = "pooled" | "plain"

export const poolVsPlain = <E, R>(
  /** What one call is, for the printed line ("sandbox through the spawner"). */
  what: string,
  pools: { readonly pooled: SpawnerPools; readonly plain: SpawnerPools },
  /** One call through `runLine`; the ms it took (its untimed set-up and teardown are its own). */
  call: (runLine: RunLine, which: Which, i: number) => Effect.Effect<number, E, R>
): Effect.Effect<void, E, R | Scope.Scope> =>
  Effect.gen(function*() {
    const runs = Number(process.argv[2] ?? 40)
    const pauseMs = Number(process.env["PAUSE_MS"] ?? 25)
    const spawners = { pooled: yield* makeSpawnerWith(pools.pooled), plain: yield* makeSpawnerWith(pools.plain) }
    yield* spawners.pooled.warm
    yield* spawners.plain.warm
    const times = { pooled: [] as Array<number>, plain: [] as Array<number> }
    const once = (which: Which, i: number) =>
      call(spawners[which].runLine, which, i).pipe(
        Effect.tap(() => Effect.sleep(`${pauseMs} millis`))
      )
    yield* once("pooled", -1)
    yield* once("plain", -1)
    for (let i = 0; i < runs; i++) {
      const order = i % 2 === 0 ? (["pooled", "plain"] as const) : (["plain", "pooled"] as const)
      for (const w of order) times[w].push(yield* once(w, i))
    }
    const p = median(times.pooled)
    const n = median(times.plain)
    console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(" ")}`)
    console.log(
      `${what}, median of ${runs}: pool ${fmt(p)} (min ${fmt(Math.min(...times.pooled))}), ` +
        `no pool ${fmt(n)} (min ${fmt(Math.min(...times.plain))}): ${ratio(p, n)}`
    )
  })
