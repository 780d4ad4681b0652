/**
 * attach: take over the terminal of a `tty: true` container's main process (`docker attach`),
 * detach with Ctrl-P Ctrl-Q leaving it running, re-attach to the same process.
 *
 *   tsx scratch/attach.ts          # on a terminal: you are attached; Ctrl-P Ctrl-Q to detach
 *
 * Without a terminal (as in the tests) the example types into the session itself. Starts an agent
 * in-process. Image: $TANK_EXAMPLE_IMAGE (default 127.0.0.1:5000/tank/busybox).
 */
import { Effect } from "effect"
import { PassThrough } from "node:stream"
import { attach } from "../src/exec/index.js"
import { Tank } from "../src/index.js"
import { exampleImage, runExample, shortBackoff, waitRunning, waitUntil, withPods } from "./shared.js"

/** A scripted keyboard: each step is typed after a pause, so the shell reads them one by one. */
const typed = (steps: ReadonlyArray<string>) => {
  const input = new PassThrough()
  let i = 0
  const next = () => {
    if (i < steps.length) input.write(steps[i++]!)
    if (i < steps.length) setTimeout(next, 300)
  }
  setTimeout(next, 300)
  return input
}

/** The session's output, echoed with a prefix, kept for the checks below. */
const screen = () => {
  const out = new PassThrough()
  let text = ""
  out.on("data", (d: Buffer) => {
    text += d.toString()
  })
  return { out, text: () => text }
}

const CTRL_P_CTRL_Q = "\x10\x11"

const program = Effect.gen(function*() {
  yield* Tank.apply({
    name: "console",
    restart: "always",
    containers: [{ name: "sh", image: exampleImage(), command: ["sh"], tty: true }]
  })
  const first = yield* waitRunning("console")

  if (process.stdin.isTTY) {
    console.log("attached to console's shell: press Ctrl-P Ctrl-Q to detach")
    console.log(`attach ended: ${JSON.stringify(yield* attach("console"))}`)
    return
  }

  const s1 = screen()
  const r1 = yield* attach("console", {
    input: typed(["export MARK=still-the-same-shell\n", "echo $((6 * 7))\n", CTRL_P_CTRL_Q]),
    output: s1.out,
    size: () => ({ cols: 80, rows: 24 })
  })
  console.log(`first attach: saw ${s1.text().includes("42") ? "42" : "no 42"}; ended ${JSON.stringify(r1)}`)

  const s2 = screen()
  const r2 = yield* attach("console", {
    input: typed(["echo $MARK\n", CTRL_P_CTRL_Q]),
    output: s2.out,
    size: () => ({ cols: 80, rows: 24 })
  })
  console.log(
    `re-attach: ${s2.text().includes("still-the-same-shell") ? "same shell state" : "state lost"}; ` +
      `ended ${JSON.stringify(r2)}`
  )

  // Ending the main process ends the pod's run; restart: "always" brings a fresh shell back.
  const r3 = yield* attach("console", { input: typed(["exit 0\n"]), output: screen().out })
  console.log(`typed exit: ${JSON.stringify(r3)}`)
  const back = yield* waitUntil("console", "running again", (s) => s.phase === "running" && s.hostPid !== first.hostPid)
  console.log(`restarted by the policy: restarts=${back.restarts}, new pid ${back.hostPid !== first.hostPid}`)
})

// Short restart backoff, so the policy brings the shell back within a second.
runExample(withPods(["console"], program), shortBackoff())
