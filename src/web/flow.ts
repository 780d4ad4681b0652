/**
 * Flow control for terminal output over a WebSocket, pure. A WebSocket has no backpressure the
 * sender can see, and a browser terminal renders slower than `cat` of a large file produces: the
 * client acknowledges the bytes its terminal has rendered (`{"type":"ack","bytes":n}`), and output
 * is held once more than `high` bytes are unacknowledged, until it is back under `low` (xterm.js's
 * recommended watermark scheme). Holding the write's callback makes the Node stream full, which
 * pauses the PTY: the command itself waits, nothing piles up in memory.
 */

export interface Flow {
  /** `n` bytes went out; `resume` is called when more may be sent (at once, or after acks). */
  readonly sent: (n: number, resume: () => void) => void
  /** The client rendered `n` more bytes. */
  readonly ack: (n: number) => void
  readonly unacked: () => number
}

export const HIGH_WATER = 256 * 1024
export const LOW_WATER = 64 * 1024
/** The client acknowledges at least this often (well below HIGH - LOW, so held output resumes). */
export const ACK_EVERY = 16 * 1024

export const makeFlow = (high = HIGH_WATER, low = LOW_WATER): Flow => {
  let unacked = 0
  let waiting: Array<() => void> = []
  return {
    sent: (n, resume) => {
      unacked += n
      if (unacked <= high) resume()
      else waiting.push(resume)
    },
    ack: (n) => {
      if (!Number.isFinite(n) || n <= 0) return
      unacked = Math.max(0, unacked - n)
      if (unacked <= low && waiting.length > 0) {
        const go = waiting
        waiting = []
        for (const f of go) f()
      }
    },
    unacked: () => unacked
  }
}
