/**
 * The compiled seccomp program of a container: its profile (Tank's default, the user's file, or
 * none) resolved for its capabilities and this host, compiled once by the native helper into
 * `<dataDir>/seccomp/<sha256 of the resolved profile>.bpf` and reused by every start and exec with
 * the same resolved profile (compiling docker's profile costs ~ms; loading a compiled one, µs).
 * The directory is root-only: a program there is trusted by everything that loads it.
 */
import { Effect, ParseResult, Schema } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import type { SeccompSpec } from "../../spec/security.js"
import { helperPath } from "../helper/binary.js"
import { decodeLine, runForLine } from "../helper/exec.js"
import { DEFAULT_PROFILE, SeccompProfile } from "./seccompProfile.js"
import { type HostFacts, type OciSeccomp, resolveProfile } from "./seccompResolve.js"

/** Why a container's seccomp program could not be had; `field` names the spec field at fault. */
export class SeccompFailed extends Schema.TaggedError<SeccompFailed>()("SeccompFailed", {
  field: Schema.String,
  message: Schema.String
}) {}

export const hostFacts = (): HostFacts => ({ arch: process.arch, kernel: os.release() })

const MAX_PROFILE_BYTES = 1 << 20

const decodeProfile = Schema.decodeUnknownEither(SeccompProfile, { errors: "all", onExcessProperty: "ignore" })

/** A user's profile file, read and checked (docker or OCI format). */
export const readProfile = (file: string, field: string): Effect.Effect<SeccompProfile, SeccompFailed> =>
  Effect.gen(function*() {
    const fail = (message: string) => new SeccompFailed({ field, message: `${file}: ${message}` })
    const text = yield* Effect.try({
      try: () => {
        const st = fs.statSync(file)
        if (!st.isFile()) throw new Error("not a regular file")
        if (st.size > MAX_PROFILE_BYTES) throw new Error(`larger than ${MAX_PROFILE_BYTES} bytes`)
        return fs.readFileSync(file, "utf8")
      },
      catch: (e) => fail((e as NodeJS.ErrnoException).code ?? (e as Error).message)
    })
    const json = yield* Effect.try({ try: () => JSON.parse(text) as unknown, catch: () => fail("not valid JSON") })
    const decoded = decodeProfile(json)
    if (decoded._tag === "Left") {
      const first = ParseResult.ArrayFormatter.formatErrorSync(decoded.left)
        .slice(0, 3)
        .map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`)
        .join("; ")
      return yield* fail(first)
    }
    return decoded.right
  })

const Compiled = Schema.Struct({ ok: Schema.Literal(true), instructions: Schema.Number })

/**
 * Compile `oci` into the cache (if not there yet) and return the program's path. Starts may race
 * (several pods at once, several agents' CLIs): each compiles from a profile file of its own and the
 * helper renames its result into place, so a reader never sees a half-written profile or program.
 */
export const compiledProgram = (dataDir: string, oci: OciSeccomp, field: string) =>
  Effect.gen(function*() {
    const text = JSON.stringify(oci)
    const hash = createHash("sha256").update(text).digest("hex")
    const dir = path.join(dataDir, "seccomp")
    const out = path.join(dir, `${hash}.bpf`)
    if (fs.existsSync(out)) return out
    const src = path.join(dir, `${hash}.${process.pid}.${Math.random().toString(36).slice(2)}.json`)
    yield* Effect.try({
      try: () => {
        fs.mkdirSync(dir, { recursive: true, mode: 0o700 })
        fs.writeFileSync(src, text, { mode: 0o600 })
      },
      catch: (e) => new SeccompFailed({ field, message: `write ${src}: ${(e as Error).message}` })
    })
    const compile = Effect.gen(function*() {
      const helper = yield* helperPath.pipe(Effect.mapError((e) => new SeccompFailed({ field, message: e.message })))
      const line = yield* runForLine(helper, ["seccomp-compile", "--profile", src, "--out", out]).pipe(
        Effect.mapError((e) => new SeccompFailed({ field, message: e.message }))
      )
      yield* decodeLine(Compiled, "a compiled seccomp program", line).pipe(
        Effect.mapError((e) => new SeccompFailed({ field, message: "message" in e ? e.message : String(e) }))
      )
    })
    // The resolved profile stays beside its program (what the filter was built from), renamed into
    // place once the program exists.
    yield* compile.pipe(
      Effect.ensuring(Effect.sync(() => {
        try {
          fs.renameSync(src, path.join(dir, `${hash}.json`))
        } catch {
          fs.rmSync(src, { force: true })
        }
      }))
    )
    return out
  })

/**
 * The program for a container, or undefined for `seccomp: unconfined`. `capabilities`: its bounding
 * set (docker's conditional rules depend on it).
 */
export const seccompProgram = (
  dataDir: string,
  spec: SeccompSpec | undefined,
  capabilities: ReadonlyArray<string>,
  field: string,
  host: HostFacts = hostFacts()
): Effect.Effect<string | undefined, SeccompFailed> =>
  Effect.gen(function*() {
    if (spec === "unconfined") return undefined
    const profile = spec === undefined || spec === "default"
      ? DEFAULT_PROFILE
      : yield* readProfile(spec.profile, `${field}.profile`)
    return yield* compiledProgram(dataDir, resolveProfile(profile, capabilities, host), field)
  })
