/**
 * The extraction worker thread: runs one `extractLayerCollect` job (the same confined extractor,
 * every check included) off the agent's event loop and replies once. Built as its own bundle entry
 * (scripts/build.mjs → dist/extractWorker.cjs); in development it is loaded through tsx.
 */
import { Cause, Effect, Exit, Fiber, Option, Schema } from "effect"
import { parentPort, workerData } from "node:worker_threads"
import { extractLayerCollect } from "./extract.js"
import { Job, Reply, STOP } from "./extract/workerProtocol.js"

const port = parentPort
if (port === null) throw new Error("extractWorker.ts runs as a worker thread")
const reply = (r: Reply) => port.postMessage(Schema.encodeSync(Reply)(r))

const job = Schema.decodeUnknownSync(Job)(workerData)
const fiber = Effect.runFork(extractLayerCollect(job))
// Interruption runs the extractor's finalizers: its descriptors are closed before the thread ends.
port.on("message", (m) => m === STOP && Effect.runFork(Fiber.interrupt(fiber)))
fiber.addObserver((exit) => {
  if (Exit.isSuccess(exit)) reply({ _tag: "Done", skipped: exit.value })
  else if (Exit.isInterrupted(exit)) reply({ _tag: "Stopped" })
  else {
    const failure = Cause.failureOption(exit.cause)
    // A defect: the thread's error event tells the agent (the extractor never dies on bad input).
    if (Option.isNone(failure)) throw new Error(`extraction died: ${Cause.pretty(exit.cause)}`)
    reply({ _tag: "Failed", error: failure.value })
  }
  port.close()
})
