/**
 * Declarative basics: apply a pod, watch the agent bring it up, list/get/status, see a validation
 * error, delete the pod.
 *
 *   tsx scratch/basics.ts
 *
 * Starts an agent in-process (the data dir's agent lock must be free: stop `tank daemon` or the REPL
 * first, or set TANK_DATA_DIR). Image: $TANK_EXAMPLE_IMAGE, default the local registry's busybox
 * (`npx tsx scripts/local-registry.ts`).
 */
import { Effect } from "effect"
import { InvalidSpec, Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, waitRunning, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  const image = exampleImage()
  console.log(`applying pod "hello" (image ${image})`)
  yield* Tank.apply({
    name: "hello",
    containers: [{ name: "main", image, env: { GREETING: "hello from tank" }, command: ["sh", "-c", KEEPALIVE] }]
  })
  console.log(`declared pods: ${(yield* Tank.list()).map((p) => p.name).join(", ")}`)
  const spec = yield* Tank.get("hello")
  console.log(`defaults filled in: restart=${spec.restart} network=${JSON.stringify(spec.network)}`)
  const running = yield* waitRunning("hello")
  console.log(`hello is running (host pid ${running.hostPid})`)

  // A spec with mistakes stores nothing and names every field at fault.
  const bad = yield* Tank.apply({
    name: "Hello_World",
    containers: [{ name: "main", image, mounts: [{ volume: "data", path: "data" }] }]
  }).pipe(Effect.flip)
  if (bad instanceof InvalidSpec) console.log(bad.message)
})

runExample(withPods(["hello"], program))
