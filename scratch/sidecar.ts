/**
 * A pod with several containers, as in Kubernetes: an init container writes the page, the "web"
 * container serves it with busybox httpd, and a "probe" sidecar fetches it over the pod's shared
 * localhost. Killing the sidecar restarts only it (its own backoff); the web container keeps its
 * process. Status, logs and exec address a container by name.
 *
 *   tsx scratch/sidecar.ts
 *
 * Starts an agent in-process with short backoff timings. Image: $TANK_EXAMPLE_IMAGE (default
 * 127.0.0.1:5000/tank/busybox).
 */
import { Chunk, Effect, Stream } from "effect"
import { type Status, Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, shortBackoff, waitUntil, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  const image = exampleImage()
  yield* Tank.apply({
    name: "site",
    volumes: [{ name: "www" }],
    initContainers: [{
      name: "render",
      image,
      command: ["sh", "-c", "echo '<h1>hello from the init container</h1>' > /www/index.html"],
      mounts: [{ volume: "www", path: "/www" }]
    }],
    containers: [
      {
        name: "web",
        image,
        command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
        mounts: [{ volume: "www", path: "/www", readOnly: true }]
      },
      { name: "probe", image, command: ["sh", "-c", `echo probe started; ${KEEPALIVE}`] }
    ]
  })
  const ready = (s: Status.PodStatus) =>
    (s.containers ?? []).length === 2 && s.containers!.every((c) => c.state === "running")
  const up = yield* waitUntil("site", "all containers running", ready)
  for (const c of up.containers ?? []) console.log(`  container ${c.name}: ${c.state}, pid ${c.hostPid}`)

  // The sidecar shares the pod's network namespace: the web container is on its localhost.
  const page = yield* Tank.execCapture("site", ["wget", "-qO-", "http://127.0.0.1:8080/"], { container: "probe" })
  console.log(`probe fetched over localhost: ${page.stdout.trim()}`)

  // Kill the sidecar's process: the agent restarts it alone; the web container is untouched.
  const web = up.containers!.find((c) => c.name === "web")!
  const probe = up.containers!.find((c) => c.name === "probe")!
  process.kill(probe.hostPid!, "SIGKILL")
  const after = yield* waitUntil(
    "site",
    "probe restarted",
    (s) => ready(s) && s.containers!.some((c) => c.name === "probe" && c.restarts === 1)
  )
  const web2 = after.containers!.find((c) => c.name === "web")!
  const probe2 = after.containers!.find((c) => c.name === "probe")!
  console.log(`probe restarted: restarts=${probe2.restarts}, new pid ${probe2.hostPid !== probe.hostPid}`)
  console.log(`web untouched: same pid ${web2.hostPid === web.hostPid}, restarts=${web2.restarts}`)

  // Logs per container: both incarnations of the sidecar wrote to its log.
  const lines = yield* Stream.runCollect(Tank.logs("site", { container: "probe" }))
  console.log(`probe log: ${Chunk.toReadonlyArray(lines).map((e) => e.text).join(" | ")}`)
})

runExample(withPods(["site"], program), shortBackoff())
