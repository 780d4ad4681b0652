/** User resolution: pure passwd/group parsing and rules, then through extracted image layers. */
import { describe, expect, it } from "@effect/vitest"
import { Effect, Either, Option } from "effect"
import * as fs from "node:fs"
import * as path from "node:path"
import { extractLayer } from "../../src/image/extract.js"
import {
  parseGroup,
  parsePasswd,
  readImageFile,
  resolveUser,
  resolveUserIn,
  UnknownGroup,
  UnknownUser
} from "../../src/image/user.js"
import { file, GZIP_LAYER, symlink, type TarEntry, tempDir, writeLayer } from "../support/tarFixtures.js"

const PASSWD = [
  "# comment",
  "root:x:0:0:root:/root:/bin/sh",
  "daemon:x:1:1::/usr/sbin:/usr/sbin/nologin",
  "",
  "tank:x:1000:1000:Tank User:/home/tank:/bin/sh\r",
  "broken line without fields",
  "bad:x:notanumber:0::/:/bin/sh",
  "+nis",
  "nobody:x:65534:65534::/nonexistent:/usr/sbin/nologin"
].join("\n")
const GROUP = [
  "root:x:0:",
  "wheel:x:10:root,tank",
  "staff:x:50:",
  "docker:x:999:tank , other",
  "tank:x:1000:tank",
  "dup:x:10:tank",
  "nogroup:x:65534:"
].join("\n")
const passwd = parsePasswd(PASSWD)
const group = parseGroup(GROUP)
const resolve = (spec: string | undefined) => resolveUserIn(spec, passwd, group)

describe("passwd and group parsing", () => {
  it("keeps well-formed entries and skips comments, blanks, NIS and malformed lines", () => {
    expect(passwd.map((p) => p.name)).toEqual(["root", "daemon", "tank", "nobody"])
    expect(passwd[2]).toEqual({ name: "tank", uid: 1000, gid: 1000, home: "/home/tank" })
    expect(group.find((g) => g.name === "docker")?.members).toEqual(["tank", "other"])
  })
})

describe("resolveUserIn", () => {
  it("undefined, empty and root are 0:0, with or without a passwd", () => {
    for (const spec of [undefined, "", "root", "0"]) {
      expect(Either.getOrThrow(resolve(spec))).toMatchObject({ uid: 0, gid: 0 })
      expect(Either.getOrThrow(resolveUserIn(spec, [], []))).toEqual({ uid: 0, gid: 0, groups: [] })
    }
    expect(Either.getOrThrow(resolve("root"))).toEqual({ uid: 0, gid: 0, groups: [10], home: "/root" })
  })

  it("names resolve to uid, primary gid, home and every group listing the user", () => {
    expect(Either.getOrThrow(resolve("tank"))).toEqual({ uid: 1000, gid: 1000, groups: [10, 999], home: "/home/tank" })
  })

  it("numbers resolve through passwd when listed, else to uid with gid 0", () => {
    expect(Either.getOrThrow(resolve("1000"))).toEqual({ uid: 1000, gid: 1000, groups: [10, 999], home: "/home/tank" })
    expect(Either.getOrThrow(resolve("4242"))).toEqual({ uid: 4242, gid: 0, groups: [] })
  })

  it("u:g takes the group by name or number and no supplementary groups", () => {
    expect(Either.getOrThrow(resolve("tank:staff"))).toEqual({ uid: 1000, gid: 50, groups: [], home: "/home/tank" })
    expect(Either.getOrThrow(resolve("tank:4000"))).toMatchObject({ uid: 1000, gid: 4000, groups: [] })
    expect(Either.getOrThrow(resolve("1234:5678"))).toEqual({ uid: 1234, gid: 5678, groups: [] })
    expect(Either.getOrThrow(resolve("nobody:nogroup"))).toMatchObject({ uid: 65534, gid: 65534 })
    expect(Either.getOrThrow(resolve("tank:"))).toMatchObject({ uid: 1000, gid: 1000 })
  })

  it("unknown users and groups are typed errors", () => {
    const u = resolve("ghost")
    expect(Either.isLeft(u) && u.left).toBeInstanceOf(UnknownUser)
    expect(Either.isLeft(u) && u.left.message).toMatch(/ghost/)
    const g = resolve("tank:ghosts")
    expect(Either.isLeft(g) && g.left).toBeInstanceOf(UnknownGroup)
    expect(Either.isLeft(g) && g.left._tag === "UnknownGroup" && g.left.group).toBe("ghosts")
    expect(Either.isLeft(resolve("99999999999"))).toBe(true)
    expect(Either.isLeft(resolve("1:99999999999"))).toBe(true)
    expect(Either.isLeft(resolveUserIn("tank", [], []))).toBe(true) // an image without /etc/passwd
  })
})

const layersOf = (work: string, layers: ReadonlyArray<ReadonlyArray<TarEntry>>) =>
  Effect.forEach(layers, (entries, i) =>
    Effect.gen(function*() {
      const blobPath = yield* writeLayer(work, `u${i}.tar.gz`, entries)
      const dest = path.join(work, `layer${i}`)
      fs.mkdirSync(dest)
      yield* extractLayer({ blobPath, mediaType: GZIP_LAYER, dest })
      return dest
    }))

describe("resolveUser over image layers", () => {
  it.scopedLive("reads the top-most passwd and group, honouring whiteouts", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const layers = yield* layersOf(work, [
        [file("etc/passwd", "root:x:0:0::/root:/bin/sh\n"), file("etc/group", GROUP)],
        [file("etc/passwd", PASSWD)],
        [file("etc/.wh.group")]
      ])
      expect(yield* resolveUser(layers, "tank")).toEqual({ uid: 1000, gid: 1000, groups: [], home: "/home/tank" })
      expect(yield* resolveUser(layers.slice(0, 2), "tank")).toMatchObject({ groups: [10, 999] })
      const e = yield* Effect.flip(resolveUser(layers, "tank:staff"))
      expect(e).toBeInstanceOf(UnknownGroup) // /etc/group is whited out in the top layer
      const missing = yield* Effect.flip(resolveUser(layers.slice(0, 1), "tank"))
      expect(missing).toBeInstanceOf(UnknownUser)
      expect(yield* resolveUser(layers, undefined)).toEqual({ uid: 0, gid: 0, groups: [], home: "/root" })
    }))

  it.scopedLive("follows symlinks inside the image, never on the host", () =>
    Effect.gen(function*() {
      const work = yield* tempDir()
      const host = path.join(work, "host-etc")
      fs.mkdirSync(host)
      fs.writeFileSync(path.join(host, "passwd"), "evil:x:0:0::/:/bin/sh\n")
      const layers = yield* layersOf(work, [
        [file("private/etc/passwd", PASSWD), symlink("etc", "private/etc")],
        [symlink("other", host), symlink("abs", "/private/etc/passwd"), symlink("loop", "loop")]
      ])
      expect(yield* resolveUser(layers, "tank")).toMatchObject({ uid: 1000 })
      expect(Option.isSome(yield* readImageFile(layers, "/abs"))).toBe(true)
      expect(Option.isSome(yield* readImageFile(layers, "/etc/../etc/./passwd"))).toBe(true)
      expect(Option.isSome(yield* readImageFile(layers, "/../../private/etc/passwd"))).toBe(true)
      // a link that points at a host path is read inside the image, where it does not exist
      expect(Option.isNone(yield* readImageFile(layers, "/other/passwd"))).toBe(true)
      const loop = yield* Effect.flip(readImageFile(layers, "/loop"))
      expect(loop._tag).toBe("ImageFileError")
      expect(loop.message).toMatch(/symbolic links/)
      expect(Option.isNone(yield* readImageFile(layers, "/private"))).toBe(true) // a directory is no file
    }))
})
