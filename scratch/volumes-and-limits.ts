/**
 * Resources: a managed volume and a host-directory volume mounted into a container, and cgroup
 * limits (memory, pids, cpu) — then exec proves both from inside.
 *
 *   tsx scratch/volumes-and-limits.ts
 *
 * Starts an agent in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { execCapture } from "../src/exec/index.js"
import { Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, waitRunning, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  // The host side of the `config` volume: an existing directory (the escape hatch).
  const hostDir = fs.mkdtempSync(path.join(os.tmpdir(), "tank-example-conf-"))
  fs.writeFileSync(path.join(hostDir, "app.conf"), "greeting=hello from the host\n")
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(hostDir, { recursive: true, force: true })))

  console.log(`applying pod "db": managed volume data, host volume ${hostDir}, limits`)
  yield* Tank.apply({
    name: "db",
    volumes: [{ name: "data" }, { name: "config", source: { host: hostDir } }],
    containers: [{
      name: "main",
      image: exampleImage(),
      command: ["sh", "-c", `echo started >> /var/lib/db/boot.log; ${KEEPALIVE}`],
      mounts: [
        { volume: "data", path: "/var/lib/db" },
        { volume: "config", path: "/etc/db", readOnly: true }
      ],
      limits: { memory: 64 * 1024 * 1024, pids: 20, cpu: { quota: 50_000, period: 100_000 } }
    }]
  })
  yield* waitRunning("db")

  const sh = (script: string) => execCapture("db", ["sh", "-c", script])
  console.log(`managed volume: ${(yield* sh("cat /var/lib/db/boot.log")).stdout.trim()}`)
  console.log(`host volume: ${(yield* sh("cat /etc/db/app.conf")).stdout.trim()}`)
  const ro = yield* sh("touch /etc/db/new 2>&1; echo exit=$?")
  console.log(`writing to the read-only mount: ${ro.stdout.trim().replace(/\n/g, " / ")}`)

  // pids: 20 caps the container's cgroup (the exec joins it): the 21st task cannot be forked.
  const forks = yield* sh("for i in $(seq 40); do sleep 1 & echo $i; done; wait")
  const started = forks.stdout.split("\n").filter(Boolean).length
  console.log(`pids limit 20, tried to start 40 sleeps: ${started} started, then "${forks.stderr.trim()}"`)
})

runExample(Effect.scoped(withPods(["db"], program)))
