/**
 * Bench: a pod sandbox (`tank-helper sandbox --net --uts --ipc --hostname`, what the sandbox step of
 * a start without a user namespace asks for) through the agent's spawner, with the spawner's pool
 * of one waiting sandbox (what the agent runs, `SANDBOX_POOL`) against no pool (a fork + exec +
 * unshare per sandbox), interleaved call by call (`poolAB.ts`); each sandbox is unpinned after it.
 * Root: `npx tsx bench/sandbox.ts [runs=40]`.
 * Not in `npm run bench` (the runtime bench's `--steps` shows the step in a whole start).
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { sandbox } from "../src/runtime/helper/sandbox.js"
import { unpinSandbox } from "../src/runtime/unpin.js"
import { poolVsPlain } from "./poolAB.js"

const program = Effect.gen(function*() {
  const base = fs.mkdtempSync(path.join(os.tmpdir(), "tank-bench-sb-"))
  yield* Effect.addFinalizer(() => Effect.sync(() => fs.rmSync(base, { recursive: true, force: true })))
  yield* poolVsPlain(
    "sandbox through the spawner",
    { pooled: { sandboxPool: 1 }, plain: { sandboxPool: 0 } },
    (runLine, which, i) =>
      Effect.suspend(() => {
        const dir = path.join(base, `${which}-${i}`)
        const t0 = performance.now()
        return Effect.ensuring(
          sandbox({ dir, net: true, uts: true, ipc: true, hostname: `bench-${i}` }, runLine).pipe(
            Effect.map(() => performance.now() - t0)
          ),
          Effect.orDie(unpinSandbox(dir))
        )
      })
  )
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
