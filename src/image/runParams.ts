/**
 * Image config + container spec → what to exec (pure). The OCI / Kubernetes rules from the seeds:
 *
 * - `command` (non-empty) replaces the image Entrypoint and drops the image Cmd; argv = command ++ args.
 * - otherwise argv = image Entrypoint ++ (`args` if non-empty, else the image Cmd).
 * - env = the image Env (`K=V`; an entry without `=` becomes `K=`) with the spec's env merged over
 *   it: a spec key replaces the image value in place, new keys follow in spec order.
 * - cwd = spec workingDir → image WorkingDir → "/".
 * - user = spec user → image User (resolved later through the image's /etc/passwd, see user.ts).
 * - no command at all → `NoCommand`.
 */
import { Either, Schema } from "effect"
import { constants } from "node:os"
import * as posix from "node:path/posix"
import type { Container } from "../spec/Pod.js"
import type { ImageRunConfig } from "./registry/oci.js"

/** The image config's `config` section (Docker writes `null` for empty fields; the whole section may be absent). */
export type ImageRunSection = ImageRunConfig | null | undefined

export class NoCommand extends Schema.TaggedError<NoCommand>()("NoCommand", { container: Schema.String }) {
  override get message(): string {
    return `container "${this.container}": neither the spec (command/args) nor the image (Entrypoint/Cmd) gives a command`
  }
}

export interface RunParams {
  readonly argv: ReadonlyArray<string>
  /** `K=V` strings, image order first, spec overrides in place. */
  readonly env: ReadonlyArray<string>
  readonly cwd: string
  /** The user spec still to resolve ("name", "uid", "u:g"), or undefined for root. */
  readonly user: string | undefined
  /** The image's StopSignal as written ("SIGTERM", "15", ...), if any. */
  readonly stopSignal: string | undefined
}

export type RunSpec = Pick<Container, "name" | "command" | "args" | "env" | "workingDir" | "user">

const nonEmpty = (s: string | null | undefined): string | undefined =>
  s === null || s === undefined || s === "" ? undefined : s

/** Splits image Env entries into an ordered map; `K` alone means `K=`; entries with an empty key are dropped. */
export const parseImageEnv = (env: ReadonlyArray<string> | null | undefined): Map<string, string> => {
  const out = new Map<string, string>()
  for (const entry of env ?? []) {
    const eq = entry.indexOf("=")
    const key = eq < 0 ? entry : entry.slice(0, eq)
    if (key === "") continue
    out.set(key, eq < 0 ? "" : entry.slice(eq + 1))
  }
  return out
}

export const mergeEnv = (
  image: ReadonlyArray<string> | null | undefined,
  spec: Readonly<Record<string, string>>
): Array<string> => {
  const merged = parseImageEnv(image)
  for (const [k, v] of Object.entries(spec)) merged.set(k, v)
  return [...merged].map(([k, v]) => `${k}=${v}`)
}

export const argvOf = (spec: Pick<RunSpec, "command" | "args">, image: ImageRunSection): Array<string> =>
  spec.command.length > 0
    ? [...spec.command, ...spec.args]
    : [...(image?.Entrypoint ?? []), ...(spec.args.length > 0 ? spec.args : image?.Cmd ?? [])]

export const runParams = (spec: RunSpec, image: ImageRunSection): Either.Either<RunParams, NoCommand> => {
  const argv = argvOf(spec, image)
  if (argv.length === 0 || argv[0] === "") return Either.left(new NoCommand({ container: spec.name }))
  const imageDir = nonEmpty(image?.WorkingDir)
  return Either.right({
    argv,
    env: mergeEnv(image?.Env, spec.env),
    // Docker accepts a relative WorkingDir and takes it from "/"
    cwd: spec.workingDir ?? (imageDir === undefined ? "/" : posix.resolve("/", imageDir)),
    user: nonEmpty(spec.user) ?? nonEmpty(image?.User),
    stopSignal: nonEmpty(image?.StopSignal)
  })
}

/** SIGRTMIN as glibc (and so docker and runc) counts it: the kernel's 32 and 33 are libc's own. */
const RTMIN = 34
const RTMAX = 64

/**
 * The number of a signal as an image's StopSignal spells it: `SIGTERM`, `TERM`, `sigterm`, `15`,
 * `SIGRTMIN+3`, `RTMAX-1` (docker's forms). Absent: SIGTERM. Left: why it is not a signal.
 */
export const stopSignalNumber = (s: string | undefined): Either.Either<number, string> => {
  if (s === undefined) return Either.right(constants.signals.SIGTERM)
  const t = s.trim().toUpperCase()
  if (/^\d+$/.test(t)) {
    const n = Number(t)
    return n >= 1 && n <= RTMAX ? Either.right(n) : Either.left(`StopSignal "${s}": no signal ${n} (1-${RTMAX})`)
  }
  const name = t.startsWith("SIG") ? t : `SIG${t}`
  const rt = /^SIGRT(MIN|MAX)(?:([+-])(\d+))?$/.exec(name)
  if (rt) {
    const offset = rt[3] === undefined ? 0 : Number(rt[3]) * (rt[2] === "-" ? -1 : 1)
    const n = (rt[1] === "MIN" ? RTMIN : RTMAX) + offset
    return n >= RTMIN && n <= RTMAX ? Either.right(n) : Either.left(`StopSignal "${s}": outside SIGRTMIN..SIGRTMAX`)
  }
  const n = (constants.signals as Record<string, number | undefined>)[name]
  return n !== undefined ? Either.right(n) : Either.left(`StopSignal "${s}" is not a signal name or number`)
}
