/**
 * Limits → cgroupfs writes, for each driver. Pure: the drivers perform the writes in order.
 *
 * v1: memory.limit_in_bytes, pids.max, cpu.cfs_period_us then cpu.cfs_quota_us (the period first,
 * as runc does, so the quota is checked against the new period).
 * v2: memory.max, pids.max, cpu.max "<quota> <period>".
 * Swap is not limited separately (no memory.memsw / memory.swap.max): same meaning on both drivers.
 */
import { Either } from "effect"
import type { CgroupLimits, Controller } from "./model.js"

export interface LimitWrite {
  readonly controller: Controller
  readonly file: string
  readonly value: string
}

const int = (what: string, n: number, min: number): Either.Either<string, string> =>
  Number.isSafeInteger(n) && n >= min
    ? Either.right(String(n))
    : Either.left(`${what} must be an integer ≥ ${min} (got ${n})`)

const collect = (
  parts: ReadonlyArray<readonly [Controller, string, Either.Either<string, string>]>
): Either.Either<ReadonlyArray<LimitWrite>, string> => {
  const writes: Array<LimitWrite> = []
  for (const [controller, file, value] of parts) {
    if (Either.isLeft(value)) return Either.left(value.left)
    writes.push({ controller, file, value: value.right })
  }
  return Either.right(writes)
}

export const v1Writes = (limits: CgroupLimits): Either.Either<ReadonlyArray<LimitWrite>, string> =>
  collect([
    ...(limits.memory === undefined
      ? []
      : [["memory", "memory.limit_in_bytes", int("memory", limits.memory, 1)] as const]),
    ...(limits.pids === undefined ? [] : [["pids", "pids.max", int("pids", limits.pids, 1)] as const]),
    ...(limits.cpu === undefined ? [] : [
      ["cpu", "cpu.cfs_period_us", int("cpu.period", limits.cpu.period, 1000)] as const,
      ["cpu", "cpu.cfs_quota_us", int("cpu.quota", limits.cpu.quota, 1000)] as const
    ])
  ])

export const v2Writes = (limits: CgroupLimits): Either.Either<ReadonlyArray<LimitWrite>, string> => {
  const cpu = limits.cpu === undefined
    ? undefined
    : Either.all([int("cpu.quota", limits.cpu.quota, 1000), int("cpu.period", limits.cpu.period, 1000)]).pipe(
      Either.map(([quota, period]) => `${quota} ${period}`)
    )
  return collect([
    ...(limits.memory === undefined ? [] : [["memory", "memory.max", int("memory", limits.memory, 1)] as const]),
    ...(limits.pids === undefined ? [] : [["pids", "pids.max", int("pids", limits.pids, 1)] as const]),
    ...(cpu === undefined ? [] : [["cpu", "cpu.max", cpu] as const])
  ])
}
