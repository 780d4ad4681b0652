/**
 * Kubernetes resource quantities (k8s.io/apimachinery resource.Quantity), pure: `500m`, `0.5`,
 * `200Mi`, `1Gi`, `128M`, `1e3`, `12345`. Exact arithmetic on BigInt (value = mantissa · 10^exp ·
 * base^power), so `0.1` CPU is exactly 100 millicores; values round up, as Kubernetes' `Value()`
 * and `MilliValue()` do.
 */
import { Either } from "effect"

interface Exact {
  /** value = num / den */
  readonly num: bigint
  readonly den: bigint
}

const BINARY: Readonly<Record<string, bigint>> = {
  Ki: 1n << 10n,
  Mi: 1n << 20n,
  Gi: 1n << 30n,
  Ti: 1n << 40n,
  Pi: 1n << 50n,
  Ei: 1n << 60n
}

const DECIMAL: Readonly<Record<string, number>> = { n: -9, u: -6, m: -3, "": 0, k: 3, M: 6, G: 9, T: 12, P: 15, E: 18 }

const GRAMMAR = /^([+-]?)([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?$/

/** A quantity as an exact fraction, or why it is not one. */
export const parseQuantity = (input: string | number): Either.Either<Exact, string> => {
  const s = typeof input === "number" ? String(input) : input.trim()
  if (typeof input === "number" && !Number.isFinite(input)) return Either.left(`${input} is not a quantity`)
  const m = GRAMMAR.exec(s)
  if (m === null || s.length > 64) {
    return Either.left(`"${s.slice(0, 64)}" is not a Kubernetes quantity (like 500m, 0.5, 200Mi, 1Gi, 128M, 1e3)`)
  }
  const [, sign, digits, suffix = ""] = m as unknown as [string, string, string, string | undefined]
  const [whole = "", frac = ""] = digits.split(".")
  let num = BigInt((whole || "0") + frac)
  let den = 10n ** BigInt(frac.length)
  if (sign === "-") num = -num
  if (suffix in BINARY) num *= BINARY[suffix]!
  else {
    const exp = suffix.startsWith("e") || suffix.startsWith("E") ? Number(suffix.slice(1)) : DECIMAL[suffix]!
    if (Math.abs(exp) > 30) return Either.left(`"${s}": exponent out of range`)
    if (exp >= 0) num *= 10n ** BigInt(exp)
    else den *= 10n ** BigInt(-exp)
  }
  return Either.right({ num, den })
}

const ceilDiv = (a: bigint, b: bigint): bigint => (a >= 0n ? (a + b - 1n) / b : a / b)

/** Whole units, rounded up (memory → bytes). */
export const quantityValue = (q: Exact): bigint => ceilDiv(q.num, q.den)

/** Thousandths, rounded up (cpu → millicores). */
export const quantityMilli = (q: Exact): bigint => ceilDiv(q.num * 1000n, q.den)

/** Bytes as Kubernetes writes them: the largest binary suffix that divides it exactly, else plain. */
export const formatBytes = (bytes: number): string => {
  for (const [suffix, n] of Object.entries(BINARY).reverse()) {
    if (bytes >= Number(n) && bytes % Number(n) === 0) return `${bytes / Number(n)}${suffix}`
  }
  return String(bytes)
}

/** Millicores as Kubernetes writes them: whole CPUs plain ("2"), else "500m". */
export const formatMillis = (millis: number): string => millis % 1000 === 0 ? String(millis / 1000) : `${millis}m`
