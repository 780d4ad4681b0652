/**
 * Several containers in one pod through the live Runtime (root): init containers run to completion
 * in order first; containers share the pod's network namespace (localhost) and its volumes.
 */
import { assert, describe, it } from "@effect/vitest"
import { Effect, Exit, Scope } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { podLayout } from "../../src/runtime/layout.js"
import { decodePod } from "../../src/spec/decode.js"
import { assertNoLeaks, leakSnapshot } from "../support/leaks.js"
import { liveRuntime } from "../support/tankEnv.js"

describe("multi-container pods (live, root)", () => {
  it.scopedLive(
    "init containers run in order; the main container serves what they wrote; a sidecar fetches it on localhost",
    () =>
      Effect.gen(function*() {
        const { env, inPod, runtime } = yield* liveRuntime()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const scope = yield* Scope.make()
        const pod = yield* decodePod({
          name: "duo",
          volumes: [{ name: "www" }],
          initContainers: [
            {
              name: "init-a",
              image: env.refs.busybox,
              command: ["sh", "-c", "echo first > /www/order"],
              mounts: [{ volume: "www", path: "/www" }]
            },
            {
              name: "init-b",
              image: env.refs.busybox,
              command: ["sh", "-c", "echo second >> /www/order; echo served-by-init > /www/index.html"],
              mounts: [{ volume: "www", path: "/www" }]
            }
          ],
          containers: [
            {
              name: "web",
              image: env.refs.busybox,
              command: ["httpd", "-f", "-p", "8080", "-h", "/www"],
              mounts: [{ volume: "www", path: "/www", readOnly: true }]
            },
            { name: "side", image: env.refs.busybox, command: ["sleep", "3600"] }
          ]
        })
        yield* Scope.extend(runtime.start(pod), scope)
        assert.strictEqual((yield* inPod("duo", "cat /www/order", "web")).stdout, "first\nsecond\n")
        const fetched = yield* inPod("duo", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 3 127.0.0.1 8080", "side")
        assert.include(fetched.stdout, "served-by-init")
        // Each container has its own pid namespace and rootfs, one hostname.
        assert.include((yield* inPod("duo", "cat /proc/1/cmdline | tr '\\0' ' '", "side")).stdout, "sleep 3600")
        assert.strictEqual((yield* inPod("duo", "hostname", "side")).stdout.trim(), "duo")
        assert.isTrue(fs.existsSync(path.join(env.dataDir, "logs", "duo", "init-a.log")))
        yield* Scope.close(scope, Exit.void)
        yield* runtime.purge("duo")
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )

  it.scopedLive(
    "a failing init container fails the start (SetupFailed naming it) and leaves nothing",
    () =>
      Effect.gen(function*() {
        const { env, runtime } = yield* liveRuntime()
        const before = yield* leakSnapshot({ pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
        const pod = yield* decodePod({
          name: "badinit",
          initContainers: [{ name: "migrate", image: env.refs.busybox, command: ["sh", "-c", "exit 4"] }],
          containers: [{ name: "app", image: env.refs.busybox, command: ["sleep", "3600"] }]
        })
        const err = yield* Effect.scoped(Effect.flip(runtime.start(pod)))
        assert.strictEqual(err.step, "init migrate")
        assert.include(err.message, "code 4")
        assert.isFalse(fs.existsSync(podLayout(env.dataDir, "badinit").run))
        yield* assertNoLeaks(before, { pathPrefixes: [env.dataDir], processMarkers: [env.dataDir] })
      }),
    { timeout: 60_000 }
  )
})
