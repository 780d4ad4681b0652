/**
 * /etc/passwd and /etc/group parsing and user-spec resolution (pure).
 *
 * Semantics follow runc's `GetExecUser` (what Docker, podman and containerd run):
 * - `undefined`, `""` and `"root"` without a passwd entry → 0:0.
 * - `name` → that passwd entry's uid, primary gid and home; unknown → `UnknownUser`.
 * - a number → the passwd entry with that uid if there is one, else that uid with gid 0.
 * - `u:g` → the user as above, the group by name (/etc/group) or number; unknown → `UnknownGroup`.
 * - supplementary groups: when no group is given and the user has a passwd entry, every group in
 *   /etc/group that lists the user's name (the primary gid excluded).
 */
import { Either, Schema } from "effect"

export interface PasswdEntry {
  readonly name: string
  readonly uid: number
  readonly gid: number
  readonly home: string
}

export interface GroupEntry {
  readonly name: string
  readonly gid: number
  readonly members: ReadonlyArray<string>
}

export interface ResolvedUser {
  readonly uid: number
  readonly gid: number
  /** Supplementary group ids (for setgroups), without the primary gid. */
  readonly groups: ReadonlyArray<number>
  readonly home?: string
}

export class UnknownUser extends Schema.TaggedError<UnknownUser>()("UnknownUser", {
  user: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `unknown user "${this.user}": ${this.detail}`
  }
}

export class UnknownGroup extends Schema.TaggedError<UnknownGroup>()("UnknownGroup", {
  group: Schema.String,
  detail: Schema.String
}) {
  override get message(): string {
    return `unknown group "${this.group}": ${this.detail}`
  }
}

/** Largest id the kernel accepts ((uid_t)-1 means "no change"). */
const MAX_ID = 0xfffffffe

/** A decimal id, or undefined when `s` is not one. */
export const parseId = (s: string): number | undefined => {
  if (!/^[0-9]{1,10}$/.test(s)) return undefined
  const n = Number(s)
  return n <= MAX_ID ? n : undefined
}

const lines = (text: string): Array<Array<string>> =>
  text.split("\n").map((l) => l.replace(/\r$/, "")).filter((l) => l !== "" && !l.startsWith("#") && !/^[+-]/.test(l))
    .map((l) => l.split(":"))

/** `name:password:uid:gid:gecos:home:shell`; malformed lines are skipped, as libc does. */
export const parsePasswd = (text: string): Array<PasswdEntry> =>
  lines(text).flatMap((f) => {
    const uid = parseId(f[2] ?? "")
    const gid = parseId(f[3] ?? "")
    return f[0] && uid !== undefined && gid !== undefined ? [{ name: f[0], uid, gid, home: f[5] ?? "" }] : []
  })

/** `name:password:gid:member,member`; malformed lines are skipped. */
export const parseGroup = (text: string): Array<GroupEntry> =>
  lines(text).flatMap((f) => {
    const gid = parseId(f[2] ?? "")
    const members = (f[3] ?? "").split(",").map((m) => m.trim()).filter((m) => m !== "")
    return f[0] && gid !== undefined ? [{ name: f[0], gid, members }] : []
  })

const withHome = (u: Omit<ResolvedUser, "home">, home: string | undefined): ResolvedUser =>
  home === undefined || home === "" ? u : { ...u, home }

/** Resolves a user spec against parsed files (`undefined` file = the image has none). */
export const resolveUserIn = (
  spec: string | undefined,
  passwd: ReadonlyArray<PasswdEntry>,
  group: ReadonlyArray<GroupEntry>
): Either.Either<ResolvedUser, UnknownUser | UnknownGroup> => {
  const s = spec ?? ""
  const colon = s.indexOf(":")
  const userPart = (colon < 0 ? s : s.slice(0, colon)) || "root"
  const groupPart = colon < 0 ? "" : s.slice(colon + 1)

  const entry = passwd.find((p) => p.name === userPart) ??
    (parseId(userPart) === undefined ? undefined : passwd.find((p) => p.uid === parseId(userPart)))
  let uid: number
  let gid: number
  if (entry !== undefined) {
    uid = entry.uid
    gid = entry.gid
  } else if (parseId(userPart) !== undefined) {
    uid = parseId(userPart)!
    gid = 0
  } else if (userPart === "root") {
    uid = 0
    gid = 0
  } else {
    const detail = /^[0-9]+$/.test(userPart) ? "uid out of range" : "no such user in the image's /etc/passwd"
    return Either.left(new UnknownUser({ user: userPart, detail }))
  }

  if (groupPart !== "") {
    const g = group.find((e) => e.name === groupPart)
    const n = g?.gid ?? parseId(groupPart)
    if (n === undefined) {
      const detail = /^[0-9]+$/.test(groupPart) ? "gid out of range" : "no such group in the image's /etc/group"
      return Either.left(new UnknownGroup({ group: groupPart, detail }))
    }
    return Either.right(withHome({ uid, gid: n, groups: [] }, entry?.home))
  }

  const supplementary = entry === undefined
    ? []
    : [...new Set(group.filter((g) => g.members.includes(entry.name) && g.gid !== gid).map((g) => g.gid))]
  return Either.right(withHome({ uid, gid, groups: supplementary }, entry?.home))
}
