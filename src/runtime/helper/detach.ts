/**
 * The detach key, recognised on the client side (the monitor never looks at input): docker's
 * Ctrl-P Ctrl-Q by default. Pure and incremental: the sequence may span chunks; a prefix followed by
 * anything else is forwarded as typed (docker semantics), nothing is swallowed.
 */

export const DEFAULT_DETACH_KEYS: ReadonlyArray<number> = [0x10, 0x11]

export interface DetachStep {
  /** Bytes to send to the workload now. */
  readonly forward: Uint8Array
  /** The full key sequence was typed: stop forwarding and detach. */
  readonly detached: boolean
}

export interface DetachScanner {
  readonly push: (chunk: Uint8Array) => DetachStep
}

export const detachScanner = (keys: ReadonlyArray<number> = DEFAULT_DETACH_KEYS): DetachScanner => {
  let matched = 0 // how many bytes of `keys` are held back
  return {
    push: (chunk) => {
      const out: Array<number> = []
      for (const b of chunk) {
        if (b === keys[matched]) {
          matched++
          if (matched === keys.length) return { forward: Uint8Array.from(out), detached: true }
          continue
        }
        // Release what was held, then look at this byte afresh (it may start a new sequence).
        for (let i = 0; i < matched; i++) out.push(keys[i]!)
        matched = 0
        if (b === keys[0]) matched = 1
        else out.push(b)
      }
      return { forward: Uint8Array.from(out), detached: false }
    }
  }
}
