/**
 * Restart policy and backoff: an "on_failure" pod that keeps failing is restarted with growing
 * delays (min(base·2ⁿ, cap)); a "never" pod runs once and stays terminal with its exit code;
 * Tank.restart resets the backoff. The pod events tell the story.
 *
 *   tsx scratch/restart-policy.ts
 *
 * Starts an agent in-process with short backoff timings (operational config: `reconciler.*`).
 * Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import { Store, Tank } from "../src/index.js"
import { exampleImage, runExample, shortBackoff, waitUntil, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  const image = exampleImage()
  yield* Tank.applyAll([
    { name: "flaky", restart: "on_failure", containers: [{ name: "main", image, command: ["sh", "-c", "exit 1"] }] },
    { name: "oneshot", restart: "never", containers: [{ name: "main", image, command: ["sh", "-c", "exit 3"] }] }
  ])
  console.log(`applied "flaky" (on_failure, exits 1) and "oneshot" (never, exits 3)`)

  const flaky = yield* waitUntil("flaky", "restarted twice", (s) => s.restarts >= 2)
  console.log(`flaky: restarts=${flaky.restarts}, last exit code ${flaky.lastExit?.code}`)
  const oneshot = yield* waitUntil("oneshot", "terminal", (s) => s.phase === "terminal")
  console.log(`oneshot: terminal, last exit code ${oneshot.lastExit?.code}, restarts=${oneshot.restarts}`)

  // Events are persisted: any process can read (or follow) them.
  const store = yield* Store
  const { events } = yield* store.recentEvents(200)
  for (const e of events.filter((e) => e.pod === "flaky").slice(-6)) {
    console.log(`  event flaky ${e.type}${e.message ? `: ${e.message}` : ""}`)
  }

  // Tank.restart starts a pod again now and resets its restart count and backoff.
  yield* Tank.restart("flaky")
  const reset = yield* waitUntil("flaky", "reset", (s) => s.restarts < flaky.restarts, "20 seconds")
  console.log(`flaky after Tank.restart: restarts=${reset.restarts} (backoff reset)`)
})

// Short timings so the backoff shows in seconds.
runExample(withPods(["flaky", "oneshot"], program), shortBackoff())
