/**
 * exec: run a second process beside a pod's main process, in all its namespaces and cgroups, with
 * its env and working dir (`docker exec`). Captured (execCapture) for scripts; interactive (exec
 * with a terminal) when this example runs on one.
 *
 *   tsx scratch/exec.ts            # on a terminal: ends with an interactive shell, `exit` to leave
 *
 * Starts an agent in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import { exec, execCapture } from "../src/exec/index.js"
import { Tank } from "../src/index.js"
import { exampleImage, KEEPALIVE, runExample, waitRunning, withPods } from "./shared.js"

const program = Effect.gen(function*() {
  yield* Tank.apply({
    name: "shell",
    containers: [{
      name: "main",
      image: exampleImage(),
      env: { APP_MODE: "demo" },
      workingDir: "/tmp",
      command: ["sh", "-c", KEEPALIVE]
    }]
  })
  yield* waitRunning("shell")

  const ps = yield* execCapture("shell", ["ps", "-o", "pid,comm"])
  console.log(`processes in the pod (its own pid namespace):\n${ps.stdout.trimEnd()}`)
  const ctx = yield* execCapture("shell", ["sh", "-c", "echo cwd=$(pwd) APP_MODE=$APP_MODE host=$(hostname)"])
  console.log(`exec context: ${ctx.stdout.trim()}`)
  const over = yield* execCapture("shell", ["sh", "-c", "echo cwd=$(pwd) APP_MODE=$APP_MODE"], {
    cwd: "/",
    env: { APP_MODE: "debug" }
  })
  console.log(`with cwd/env overrides: ${over.stdout.trim()}`)
  const code = yield* execCapture("shell", ["sh", "-c", "echo to stderr >&2; exit 3"])
  console.log(`exit code passed through: ${code.exitCode} (stderr: ${code.stderr.trim()})`)

  if (process.stdin.isTTY) {
    console.log("an interactive shell in the pod; type `exit` to leave (the pod keeps running)")
    const r = yield* exec("shell", ["sh"])
    console.log(`the shell ended: ${JSON.stringify(r)}`)
  }
  const still = yield* Tank.status("shell")
  console.log(`after the execs the pod is still ${still.phase}`)
})

runExample(withPods(["shell"], program))
