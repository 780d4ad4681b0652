/**
 * Attach frames (PROTOCOL.md §6), pure: a type byte, a 4-byte big-endian length, the payload.
 * Client -> monitor: 0 stdin, 1 resize (rows u16 BE, cols u16 BE), 2 stdin EOF.
 * Monitor -> client: 1 stdout, 2 stderr, 3 tty, 4 exit (JSON exit record).
 */

export const FrameIn = { stdin: 0, resize: 1, stdinEof: 2 } as const
export const FrameOut = { stdout: 1, stderr: 2, tty: 3, exit: 4 } as const
export const MAX_FRAME = 65536

export interface Frame {
  readonly type: number
  readonly payload: Uint8Array
}

export const encodeFrame = (type: number, payload: Uint8Array = new Uint8Array(0)): Uint8Array => {
  const out = new Uint8Array(5 + payload.length)
  out[0] = type
  new DataView(out.buffer).setUint32(1, payload.length, false)
  out.set(payload, 5)
  return out
}

/** Stdin bytes, split so that no frame exceeds the monitor's limit. */
export const encodeStdin = (bytes: Uint8Array): ReadonlyArray<Uint8Array> => {
  const out: Array<Uint8Array> = []
  for (let i = 0; i < bytes.length; i += MAX_FRAME) {
    out.push(encodeFrame(FrameIn.stdin, bytes.subarray(i, i + MAX_FRAME)))
  }
  return out
}

export const encodeResize = (rows: number, cols: number): Uint8Array => {
  const p = new Uint8Array(4)
  const v = new DataView(p.buffer)
  v.setUint16(0, rows, false)
  v.setUint16(2, cols, false)
  return encodeFrame(FrameIn.resize, p)
}

/** Incremental decoder: feed arbitrary chunks, get whole frames. */
export class FrameDecoder {
  private buf = new Uint8Array(0)

  push(chunk: Uint8Array): Array<Frame> {
    const merged = new Uint8Array(this.buf.length + chunk.length)
    merged.set(this.buf, 0)
    merged.set(chunk, this.buf.length)
    const frames: Array<Frame> = []
    let at = 0
    while (merged.length - at >= 5) {
      const len = new DataView(merged.buffer, merged.byteOffset + at + 1, 4).getUint32(0, false)
      if (merged.length - at < 5 + len) break
      frames.push({ type: merged[at]!, payload: merged.slice(at + 5, at + 5 + len) })
      at += 5 + len
    }
    this.buf = merged.slice(at)
    return frames
  }

  get pending(): number {
    return this.buf.length
  }
}
