/**
 * Extracting a layer while its blob is still downloading: the download writes the blob file as
 * usual and publishes how many bytes are on disk in a `FollowCell` (shared memory, so the extraction
 * worker thread reads it too); the extractor reads the same file behind it, waiting for more.
 *
 * The bytes are not verified yet while they are read, so the reader hashes exactly what it hands to
 * the extractor and fails unless that is the whole blob and matches its digest: an extraction that
 * succeeds was built from verified bytes only, whatever the download did meanwhile (a retry that
 * truncated and rewrote the file, a corrupt body). The caller extracts into a temp dir it publishes
 * only after the download verified too, and removes otherwise.
 */
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import { Readable } from "node:stream"
import { Refusal } from "./errors.js"

/** [bytes on disk, state, change counter]; the counter moves on every update, waiters wait on it. */
export type FollowCell = SharedArrayBuffer

const AVAILABLE = 0
const STATE = 1
const SEQ = 2
const RUNNING = 0n
const DONE = 1n
const FAILED = 2n

/** Longest wait between looks at the cell: a missed wake-up costs at most this, never a hang. */
const WAIT_MS = 500

export const makeFollowCell = (): FollowCell => new SharedArrayBuffer(3 * 8)

const view = (cell: FollowCell) => new BigInt64Array(cell)

const update = (cell: FollowCell, f: (v: BigInt64Array) => void) => {
  const v = view(cell)
  f(v)
  Atomics.add(v, SEQ, 1n)
  Atomics.notify(v, SEQ)
}

/** The writer's side: `bytes` of the blob are on disk (from its start). */
export const published = (cell: FollowCell, bytes: number) =>
  update(cell, (v) => Atomics.store(v, AVAILABLE, BigInt(bytes)))

/** The writer's side: the download ended (verified) or failed; readers stop waiting. */
export const finished = (cell: FollowCell, ok: boolean) =>
  update(cell, (v) => Atomics.store(v, STATE, ok ? DONE : FAILED))

// ES2024 (Node ≥ 16 has it); the project's TypeScript lib is older.
const waitAsync = (Atomics as unknown as {
  waitAsync: (
    v: BigInt64Array,
    index: number,
    value: bigint,
    timeoutMs: number
  ) => { async: boolean; value: Promise<string> | string }
}).waitAsync

/** Resolves once the cell moved past `seq` (or after WAIT_MS). */
const changed = async (v: BigInt64Array, seq: bigint) => {
  const w = waitAsync(v, SEQ, seq, WAIT_MS)
  if (w.async) await w.value
}

/** Waits until `bytes` are on disk or the download ended; says whether they are. */
export const waitForBytes = async (cell: FollowCell, bytes: number): Promise<boolean> => {
  const v = view(cell)
  for (;;) {
    const seq = Atomics.load(v, SEQ)
    if (Atomics.load(v, AVAILABLE) >= BigInt(bytes)) return true
    if (Atomics.load(v, STATE) !== RUNNING) return false
    await changed(v, seq)
  }
}

export interface FollowTarget {
  readonly cell: FollowCell
  /** The blob's digest and size (from the manifest) that what is read must match. */
  readonly digest: string
  readonly size: number
}

/**
 * A stream of the blob file as the download writes it, ending once `size` bytes were read and
 * hashed to `digest`; it fails if the download failed, or the bytes read are not the blob.
 */
export const followFile = (file: string, target: FollowTarget, chunk = 1 << 20): Readable => {
  const v = view(target.cell)
  const hash = createHash("sha256")
  let fd = -1
  let pos = 0
  // The fd is closed only once no read is in flight: its number could be reused meanwhile.
  let reading: Promise<unknown> = Promise.resolve()
  const mismatch = (why: string) =>
    new Refusal("Corrupt", `the blob read while it downloaded is not ${target.digest}: ${why}`)
  return new Readable({
    highWaterMark: chunk,
    construct(cb) {
      fs.open(file, "r", (e, opened) => {
        fd = opened
        cb(e)
      })
    },
    read() {
      const step = async (): Promise<Buffer | null> => {
        for (;;) {
          const seq = Atomics.load(v, SEQ)
          const available = Number(Atomics.load(v, AVAILABLE))
          const state = Atomics.load(v, STATE)
          if (pos < available) {
            const buf = Buffer.allocUnsafe(Math.min(chunk, available - pos))
            const read = new Promise<number>((ok, ko) =>
              fs.read(fd, buf, 0, buf.length, pos, (e, got) => (e ? ko(e) : ok(got)))
            )
            reading = read.catch(() => {})
            const n = await read
            if (n === 0) throw mismatch(`the file is shorter than the ${available} bytes written`)
            pos += n
            const out = n === buf.length ? buf : buf.subarray(0, n)
            hash.update(out)
            return out
          }
          if (state === FAILED) throw new Refusal("Corrupt", `the download of ${target.digest} failed`)
          if (state === DONE) {
            if (pos !== target.size) throw mismatch(`${pos} bytes, expected ${target.size}`)
            const actual = `sha256:${hash.digest("hex")}`
            if (actual !== target.digest) throw mismatch(`read ${actual}`)
            return null
          }
          await changed(v, seq)
        }
      }
      step().then((b) => void this.push(b), (e: Error) => this.destroy(e))
    },
    destroy(err, cb) {
      if (fd < 0) return cb(err)
      void reading.then(() => fs.close(fd, () => cb(err)))
    }
  })
}
