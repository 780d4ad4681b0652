/**
 * Logs and events: a pod's stdout/stderr are written by its monitor to files under
 * <dataDir>/logs/<pod>/ (rotated per `logs.*` config), readable from any process as a Stream —
 * history (`tail`), then `follow`. Pod events (applied, running, exited, ...) come from the store.
 *
 *   tsx scratch/logs.ts
 *
 * Starts an agent in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Chunk, Effect, Stream } from "effect"
import { Store, Tank } from "../src/index.js"
import { logs } from "../src/observe/logs.js"
import { exampleImage, runExample, waitRunning, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  yield* Tank.apply({
    name: "ticker",
    containers: [{
      name: "main",
      image: exampleImage(),
      command: [
        "sh",
        "-c",
        `trap "exit 0" TERM; echo starting >&2; i=0; while :; do i=$((i+1)); echo tick $i; sleep 0.2 & wait; done`
      ]
    }]
  })
  yield* waitRunning("ticker")
  yield* Effect.sleep("1 second")

  const history = yield* Stream.runCollect(logs("ticker", { tail: 3 }))
  console.log("last 3 lines:")
  for (const e of history) console.log(`  ${e.ts.slice(11, 23)} ${e.container} ${e.stream}: ${e.text}`)

  const stderr = yield* Stream.runCollect(logs("ticker", { streams: ["stderr"] }))
  console.log(`stderr only: ${Chunk.toReadonlyArray(stderr).map((e) => e.text).join(" | ")}`)

  // follow: history, then new lines as they come (never ends on its own: take what you need).
  const followed = yield* logs("ticker", { tail: 0, follow: true }).pipe(Stream.take(3), Stream.runCollect)
  console.log(`followed 3 new lines: ${Chunk.toReadonlyArray(followed).map((e) => e.text).join(", ")}`)

  const store = yield* Store
  const events = (yield* store.recentEvents(100)).events.filter((e) => e.pod === "ticker")
  console.log(`events: ${events.map((e) => e.type).join(" → ")}`)
})

runExample(withPods(["ticker"], program))
