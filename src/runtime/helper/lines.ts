/**
 * The helper's replies are newline-delimited JSON over a byte stream (its control socket, the
 * spawner's stdout): a chunk can end mid-line or hold several lines.
 */

/** A splitter fed with chunks: each call returns the lines completed so far (without "\n"). */
export const lineSplitter = () => {
  let buf = ""
  return (chunk: string): ReadonlyArray<string> => {
    buf += chunk
    const parts = buf.split("\n")
    buf = parts.pop()!
    return parts
  }
}
