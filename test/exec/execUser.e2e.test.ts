/**
 * `exec -u USER[:GROUP]` end to end (root): a real busybox pod (running as root), exec'd as other
 * users by name (the container's /etc/passwd and /etc/group, as for a container's `user`), by
 * numeric ids, and through the CLI; unknown names fail with the name.
 */
import { assert, layer } from "@effect/vitest"
import { Effect, Either } from "effect"
import { execCapture } from "../../src/exec/Exec.js"
import { buildCli, runCli } from "../cli/harness.js"
import { Machine, MachineLive, onMachine, podName, startPod } from "./support.js"

const ids = (pod: string, user: string) =>
  onMachine(execCapture(pod, ["sh", "-c", "echo $(id -u) $(id -g) $(id -G)"], { user })).pipe(
    Effect.tap((r) => assert.strictEqual(r.exitCode, 0, r.stderr)),
    Effect.map((r) => r.stdout.trim())
  )

layer(MachineLive, { timeout: 180_000, excludeTestServices: true })("exec -u (live, root)", (it) => {
  it.scoped("runs as the named or numbered user; names resolve in the container", () =>
    Effect.gen(function*() {
      const { env } = yield* Machine
      const name = podName("exec-user")
      yield* startPod({
        name,
        restart: "never",
        containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
      })
      // The workload's own identity without -u.
      assert.strictEqual((yield* onMachine(execCapture(name, ["id", "-u"]))).stdout, "0\n")
      assert.strictEqual(yield* ids(name, "tank"), "1000 1000 1000")
      assert.strictEqual(yield* ids(name, "tank:nogroup"), "1000 65534 65534")
      assert.strictEqual(yield* ids(name, "1000"), "1000 1000 1000")
      assert.strictEqual(yield* ids(name, "4242:4343"), "4242 4343 4343")
      assert.strictEqual(yield* ids(name, "4242"), "4242 0 0")
      // Supplementary groups from the container's /etc/group as it is now.
      yield* onMachine(execCapture(name, ["sh", "-c", "echo 'extra:x:2000:tank' >> /etc/group"]))
      assert.strictEqual(yield* ids(name, "tank"), "1000 1000 1000 2000")
      const ghost = yield* Effect.either(onMachine(execCapture(name, ["id"], { user: "ghost" })))
      assert.isTrue(Either.isLeft(ghost) && ghost.left._tag === "UnknownUser", String(ghost))
      const noGroup = yield* Effect.either(onMachine(execCapture(name, ["id"], { user: "tank:ghosts" })))
      assert.isTrue(Either.isLeft(noGroup) && noGroup.left._tag === "UnknownGroup", String(noGroup))

      // The CLI.
      const cli = yield* Effect.acquireRelease(Effect.sync(buildCli), (c) => Effect.sync(() => c.cleanup()))
      const tank = (...args: ReadonlyArray<string>) =>
        Effect.promise(() => runCli(cli.entry, ["--data-dir", env.dataDir, ...args]))
      const r = yield* tank("exec", "-u", "nobody:nogroup", name, "--", "sh", "-c", "echo $(id -u) $(id -g)")
      assert.strictEqual(r.code, 0, r.stderr)
      assert.strictEqual(r.stdout, "65534 65534\n")
      const bad = yield* tank("exec", "-u", "ghost", name, "--", "id")
      assert.strictEqual(bad.code, 125)
      assert.match(bad.stderr, /unknown user "ghost": no such user in the image's \/etc\/passwd/)
    }))
})
