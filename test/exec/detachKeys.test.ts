/**
 * The detach key state machine, checked exhaustively against a one-byte-at-a-time reference model
 * of docker's escape proxy: every input over {Ctrl-P, Ctrl-Q, 'a'} up to 7 bytes, under every way
 * of cutting it into reads.
 */
import { describe, expect, it } from "@effect/vitest"
import { DEFAULT_DETACH_KEYS, detachKeys, parseDetachKeys } from "../../src/exec/detachKeys.js"

const P = 0x10
const Q = 0x11
const A = 0x61

/**
 * Docker's EscapeProxy fed one byte per read (its only detecting case): what reaches the workload
 * and whether it detached. Written independently of the implementation, from moby/term proxy.go.
 */
const reference = (keys: ReadonlyArray<number>, input: ReadonlyArray<number>) => {
  let pos = 0
  const out: Array<number> = []
  for (const b of input) {
    if (b !== keys[pos]) {
      if (pos > 0) out.push(...keys.slice(0, pos)) // preserve(): the held keys, then this read
      pos = 0
      out.push(b)
      continue
    }
    if (pos === keys.length - 1) return { out, detached: true }
    pos++
  }
  return { out, detached: false, held: keys.slice(0, pos) }
}

/** Every way to cut `n` bytes into consecutive non-empty reads (as cut-point bitmasks). */
const cuttings = (bytes: ReadonlyArray<number>): Array<Array<Array<number>>> => {
  const n = bytes.length
  if (n === 0) return [[]]
  const out: Array<Array<Array<number>>> = []
  for (let mask = 0; mask < 1 << (n - 1); mask++) {
    const chunks: Array<Array<number>> = []
    let cur: Array<number> = [bytes[0]!]
    for (let i = 1; i < n; i++) {
      if (mask & (1 << (i - 1))) {
        chunks.push(cur)
        cur = []
      }
      cur.push(bytes[i]!)
    }
    chunks.push(cur)
    out.push(chunks)
  }
  return out
}

const allInputs = (alphabet: ReadonlyArray<number>, maxLen: number): Array<Array<number>> => {
  const out: Array<Array<number>> = [[]]
  let layer: Array<Array<number>> = [[]]
  for (let len = 1; len <= maxLen; len++) {
    layer = layer.flatMap((p) => alphabet.map((b) => [...p, b]))
    out.push(...layer)
  }
  return out
}

const run = (keys: ReadonlyArray<number>, chunks: ReadonlyArray<ReadonlyArray<number>>) => {
  const m = detachKeys(keys)
  const out: Array<number> = []
  for (const c of chunks) {
    const step = m.push(Uint8Array.from(c))
    out.push(...step.forward)
    if (step.detached) return { out, detached: true }
  }
  return { out, detached: false, held: [...m.flush()] }
}

describe("detachKeys", () => {
  it("matches docker's escape proxy for every input and every read split (Ctrl-P Ctrl-Q)", () => {
    let cases = 0
    for (const input of allInputs([P, Q, A], 7)) {
      const want = reference(DEFAULT_DETACH_KEYS, input)
      const w = JSON.stringify(want)
      for (const chunks of cuttings(input)) {
        const got = run(DEFAULT_DETACH_KEYS, chunks)
        // expect() per case is slow for 100k cases: compare as text, let expect explain a mismatch.
        if (JSON.stringify(got) !== w) expect(got, JSON.stringify(chunks)).toEqual(want)
        cases++
      }
    }
    expect(cases).toBeGreaterThan(100_000)
  })

  it("matches for a three-key sequence with a repeated key (ctrl-a,ctrl-a,x)", () => {
    const keys = [1, 1, 0x78]
    for (const input of allInputs([1, 0x78, A], 6)) {
      const want = reference(keys, input)
      const w = JSON.stringify(want)
      for (const chunks of cuttings(input)) {
        const got = run(keys, chunks)
        if (JSON.stringify(got) !== w) expect(got, JSON.stringify(chunks)).toEqual(want)
      }
    }
  })

  it("never loses or invents bytes: forwarded + held = input until a detach", () => {
    for (const input of allInputs([P, Q, A, 0], 6)) {
      const r = run(DEFAULT_DETACH_KEYS, [input])
      if (!r.detached) expect([...r.out, ...r.held!]).toEqual(input)
    }
  })

  it("the named cases", () => {
    const one = (bytes: Array<number>) => run(DEFAULT_DETACH_KEYS, bytes.map((b) => [b]))
    expect(one([P, Q])).toEqual({ out: [], detached: true })
    expect(run(DEFAULT_DETACH_KEYS, [[A, P, Q, A]])).toEqual({ out: [A], detached: true }) // after: dropped
    expect(one([P, A])).toEqual({ out: [P, A], detached: false, held: [] }) // Ctrl-P then anything: both
    expect(one([P, P, Q])).toEqual({ out: [P, P, Q], detached: false, held: [] }) // literal Ctrl-P: twice
    expect(one([Q])).toEqual({ out: [Q], detached: false, held: [] })
    expect(one([A, P])).toEqual({ out: [A], detached: false, held: [P] }) // held at the end of input
    const m = detachKeys()
    expect([...m.push(Uint8Array.of(P)).forward]).toEqual([])
    expect(m.held()).toBe(1)
    expect(m.push(Uint8Array.of(Q)).detached).toBe(true)
    expect(m.push(Uint8Array.of(A))).toEqual({ forward: new Uint8Array(0), detached: true }) // stays detached
  })

  it("an empty sequence never detaches", () => {
    expect(run([], [[P, Q, A]])).toEqual({ out: [P, Q, A], detached: false, held: [] })
  })

  it("parses docker's --detach-keys notation", () => {
    expect(parseDetachKeys("ctrl-p,ctrl-q")).toEqual([0x10, 0x11])
    expect(parseDetachKeys("ctrl-a,x")).toEqual([1, 0x78])
    expect(parseDetachKeys("ctrl-@,ctrl-[,ctrl-\\,ctrl-],ctrl-^,ctrl-_")).toEqual([0, 27, 28, 29, 30, 31])
    expect(parseDetachKeys("CTRL-Z")).toEqual([26])
    expect(parseDetachKeys("")).toMatch(/empty/)
    expect(parseDetachKeys("ctrl-pp")).toMatch(/unknown detach key/)
    expect(parseDetachKeys("ctrl-1")).toMatch(/unknown detach key/)
    expect(parseDetachKeys("alt-p")).toMatch(/unknown detach key/)
    expect(parseDetachKeys("é")).toMatch(/not ASCII/)
  })
})
