/**
 * The one use of node-pty internals: how many written bytes it still holds (its write stream's
 * `_writeQueue`), for input backpressure. `IPty.write` queues without bound and has no drain event,
 * so without this a fast sender fills the agent's memory. Checked on every read: a missing or
 * reshaped queue is a `PackageInternalMissing` defect, never a silent "0 bytes queued".
 */
import type * as pty from "node-pty"
import { PackageInternalMissing } from "./internal.js"

/** The node-pty version this internal was read from (= package.json's pin; a test checks both). */
export const NODE_PTY_VERSION = "1.1.0"

interface QueuedWrite {
  readonly buffer: unknown
  readonly offset: unknown
}

const missing = (internal: string, problem: string) =>
  new PackageInternalMissing("node-pty", NODE_PTY_VERSION, internal, problem)

/** Bytes written to `term` that node-pty has not handed to the kernel yet. Throws PackageInternalMissing. */
export const writeBacklog = (term: pty.IPty): number => {
  const stream = (term as unknown as { _writeStream?: { _writeQueue?: unknown } })._writeStream
  if (typeof stream !== "object" || stream === null) throw missing("UnixTerminal#_writeStream", "is absent")
  const queue = stream._writeQueue
  if (!Array.isArray(queue)) throw missing("CustomWriteStream#_writeQueue", "is not an array")
  let n = 0
  for (const w of queue as ReadonlyArray<QueuedWrite>) {
    if (!Buffer.isBuffer(w.buffer) || typeof w.offset !== "number") {
      throw missing("CustomWriteStream#_writeQueue[]", "entries are not { buffer: Buffer, offset: number }")
    }
    n += w.buffer.length - w.offset
  }
  return n
}
