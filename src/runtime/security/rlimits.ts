/**
 * A container's rlimits (pure): explicit defaults, never the agent's own (Node raises its soft
 * NOFILE to the hard limit, and a workload should not inherit whatever the agent was started
 * with), overridden per name by the spec. The default is containerd's: NOFILE 1024 soft, 524288
 * hard — each capped at the hard limit the agent itself runs under, because raising a hard limit
 * needs CAP_SYS_RESOURCE, which root lacks on some hosts (this CI's), where the start would fail.
 */
import type { RlimitName, Rlimits, RlimitValue } from "../../spec/security.js"

/** One limit as the helper takes it: -1 = unlimited. */
export interface HelperRlimit {
  readonly type: string
  readonly soft: number
  readonly hard: number
}

export const DEFAULT_RLIMITS: Readonly<Partial<Record<RlimitName, { soft: number; hard: number }>>> = {
  nofile: { soft: 1024, hard: 524288 }
}

/** `/proc/self/limits` column names → our names. */
const PROC_NAMES: Record<string, RlimitName> = {
  "Max cpu time": "cpu",
  "Max file size": "fsize",
  "Max data size": "data",
  "Max stack size": "stack",
  "Max core file size": "core",
  "Max resident set": "rss",
  "Max processes": "nproc",
  "Max open files": "nofile",
  "Max locked memory": "memlock",
  "Max address space": "as",
  "Max file locks": "locks",
  "Max pending signals": "sigpending",
  "Max msgqueue size": "msgqueue",
  "Max nice priority": "nice",
  "Max realtime priority": "rtprio",
  "Max realtime timeout": "rttime"
}

/** Hard limits from `/proc/self/limits` text (Infinity for "unlimited"). */
export const parseHardLimits = (text: string): Partial<Record<RlimitName, number>> => {
  const out: Partial<Record<RlimitName, number>> = {}
  for (const line of text.split("\n")) {
    const m = /^(Max [a-z ]+?)\s{2,}(\S+)\s+(\S+)/.exec(line)
    const name = m ? PROC_NAMES[m[1]!] : undefined
    if (m && name) out[name] = m[3] === "unlimited" ? Infinity : Number(m[3])
  }
  return out
}

const toHelper = (v: RlimitValue | number): number => v === "unlimited" || v === Infinity ? -1 : v

/** The helper's rlimit list for a container: defaults (capped by `hostHard`), then the spec's. */
export const containerRlimits = (
  spec: Rlimits | undefined,
  hostHard: Partial<Record<RlimitName, number>>
): Array<HelperRlimit> => {
  const out = new Map<string, HelperRlimit>()
  for (const [name, d] of Object.entries(DEFAULT_RLIMITS) as Array<[RlimitName, { soft: number; hard: number }]>) {
    const cap = hostHard[name] ?? Infinity
    const hard = Math.min(d.hard, cap)
    out.set(name, {
      type: `RLIMIT_${name.toUpperCase()}`,
      soft: toHelper(Math.min(d.soft, hard)),
      hard: toHelper(hard)
    })
  }
  for (const [name, r] of Object.entries(spec ?? {})) {
    out.set(name, { type: `RLIMIT_${name.toUpperCase()}`, soft: toHelper(r.soft), hard: toHelper(r.hard) })
  }
  return [...out.values()]
}
