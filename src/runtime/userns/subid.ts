/**
 * The host ids Tank may hand to pod user namespaces: `userNamespaces.range` from the config, else the
 * `tank` entries of /etc/subuid and /etc/subgid (the setup adds them, as podman's does for its
 * users). uid and gid ranges are used alike, so both entries must name the same range.
 */
import { Either } from "effect"
import { BLOCK, type IdPool } from "./UserNamespaces.js"

/** The first `name:start:count` entry of a subuid/subgid file for `name`. */
export const subidEntry = (text: string, name: string): IdPool | undefined => {
  for (const line of text.split("\n")) {
    const [n, start, count] = line.trim().split(":")
    if (n === name && /^\d+$/.test(start ?? "") && /^\d+$/.test(count ?? "")) {
      return { start: Number(start), size: Number(count) }
    }
  }
  return undefined
}

/** The pool from the config's range, else the two files' entries; Left says what is missing or wrong. */
export const idPool = (
  configured: IdPool | undefined,
  files: { readonly subuid: string | undefined; readonly subgid: string | undefined }
): Either.Either<IdPool, string> => {
  if (configured) return Either.right(configured)
  const u = files.subuid === undefined ? undefined : subidEntry(files.subuid, "tank")
  const g = files.subgid === undefined ? undefined : subidEntry(files.subgid, "tank")
  if (!u || !g) {
    return Either.left(
      "no host id range for user namespaces: add `tank:START:COUNT` to /etc/subuid and /etc/subgid (scripts/setup.sh does) or set userNamespaces.range in the config"
    )
  }
  if (u.start !== g.start || u.size !== g.size) {
    return Either.left(
      `the tank entries of /etc/subuid (${u.start}:${u.size}) and /etc/subgid (${g.start}:${g.size}) differ`
    )
  }
  // Whole, aligned blocks only: a pod's range never straddles an entry's edge.
  const start = Math.ceil(u.start / BLOCK) * BLOCK
  const size = Math.floor((u.start + u.size - start) / BLOCK) * BLOCK
  return size >= BLOCK
    ? Either.right({ start, size })
    : Either.left(`the tank entry of /etc/subuid holds less than ${BLOCK} aligned ids`)
}
