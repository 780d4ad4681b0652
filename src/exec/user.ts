/**
 * `exec -u USER[:GROUP]`: the identity for an exec, by the same rules as a container's `user`
 * (image/user/passwd.ts: names, numeric ids, a user's own gid and supplementary groups). Names are
 * looked up in the container's /etc/passwd and /etc/group as they are now (as docker exec does),
 * read inside the pod as its root; numeric `UID:GID` needs no lookup (images without tools).
 */
import { Effect, Either, Schema } from "effect"
import type { TankConfig } from "../config/Config.js"
import { parseGroup, parseId, parsePasswd, resolveUserIn, UnknownGroup, UnknownUser } from "../image/user/passwd.js"
import type { ExecUser } from "./command.js"
import type { Captured, ExecError } from "./Exec.js"

/** The pod's /etc/passwd or /etc/group could not be read to resolve a name. */
export class ExecUserLookupFailed extends Schema.TaggedError<ExecUserLookupFailed>()("ExecUserLookupFailed", {
  pod: Schema.String,
  user: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `cannot resolve user "${this.user}" in pod ${this.pod}: ${this.detail} (numeric UID:GID needs no lookup)`
  }
}

/** passwd/group larger than this are cut (a hostile container could send anything). */
const MAX_BYTES = 16 * 1024 * 1024

type Capture = (argv: ReadonlyArray<string>) => Effect.Effect<Captured<string>, ExecError, TankConfig>

/** `uid:gid` with both numeric: no lookup. */
const bothNumeric = (spec: string) => {
  const [u, g, ...rest] = spec.split(":")
  return rest.length === 0 && g !== undefined && parseId(u ?? "") !== undefined && parseId(g) !== undefined
}

export const resolveExecUser = (
  pod: string,
  spec: string,
  capture: Capture
): Effect.Effect<ExecUser, UnknownUser | UnknownGroup | ExecUserLookupFailed | ExecError, TankConfig> =>
  Effect.gen(function*() {
    if (bothNumeric(spec)) {
      const [u, g] = spec.split(":")
      return { uid: parseId(u!)!, gid: parseId(g!)!, groups: [] }
    }
    // Both files in one exec; a missing file reads as empty (as for an image without one).
    const r = yield* capture([
      "sh",
      "-c",
      `for f in /etc/passwd /etc/group; do [ -e "$f" ] && head -c ${MAX_BYTES} "$f"; echo; echo '#--tank--'; done`
    ])
    if (r.exitCode !== 0) {
      return yield* new ExecUserLookupFailed({
        pod,
        user: spec,
        detail: `reading /etc/passwd and /etc/group failed (exit ${r.exitCode ?? "signal"}): ${r.stderr.trim()}`
      })
    }
    const [passwd = "", group = ""] = r.stdout.split("#--tank--\n")
    const resolved = yield* Either.match(resolveUserIn(spec, parsePasswd(passwd), parseGroup(group)), {
      onLeft: (e) => Effect.fail(e),
      onRight: Effect.succeed
    })
    return { uid: resolved.uid, gid: resolved.gid, groups: resolved.groups }
  })

export { UnknownGroup, UnknownUser }
