/**
 * Test images built by hand from Debian's busybox-static, deterministically (mtime 0, sorted
 * entries, gzip without timestamps), and pushed with plain registry API calls:
 *
 *   tank/busybox          one layer: /bin/busybox + a symlink per applet, /etc/passwd|group, /tmp 1777, …
 *   tank/busybox-user     same layer; Entrypoint sh -c, Cmd printing greeting/uid/gid/user/cwd/host, User tank
 *   tank/busybox-httpd    same layer; httpd -f -v -p 8080 -h /var/www
 *   tank/layers           busybox + 3 layers: files/hardlink/symlinks/dirs; whiteouts, opaque dir,
 *                         file↔dir swaps; modifications
 *   tank/multiarch        OCI index: linux/amd64 (= tank/busybox) and linux/arm64/v8 (a tiny layer)
 *   tank/*-docker         Docker media type twins (schema2 manifests, a Docker manifest list)
 *
 *   const refs = await pushFixtures("127.0.0.1:5000")   // refs.busybox === "127.0.0.1:5000/tank/busybox:latest"
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import type { Readable } from "node:stream"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import { request } from "undici"

export interface Entry {
  readonly name: string
  readonly type: "file" | "directory" | "symlink" | "link"
  readonly mode?: number
  readonly uid?: number
  readonly gid?: number
  readonly data?: Buffer | string
  readonly linkname?: string
}

export interface Blob {
  readonly bytes: Buffer
  readonly digest: string
  readonly size: number
}

export const digestOf = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`
const blob = (bytes: Buffer): Blob => ({ bytes, digest: digestOf(bytes), size: bytes.length })

/** A gzip'd tar of `entries` in the given order (callers sort), every mtime 0. */
export const buildLayer = async (entries: ReadonlyArray<Entry>): Promise<{ gz: Blob; diffId: string }> => {
  const pack = tar.pack()
  const chunks: Array<Buffer> = []
  const done = new Promise<void>((resolve, reject) => {
    pack.on("data", (c) => void chunks.push(c as Buffer))
    pack.on("end", resolve)
    pack.on("error", reject)
  })
  for (const e of entries) {
    const data = e.data === undefined ? undefined : Buffer.from(e.data)
    const header = {
      name: e.name,
      type: e.type,
      mode: e.mode ?? (e.type === "directory" ? 0o755 : e.type === "symlink" ? 0o777 : 0o644),
      uid: e.uid ?? 0,
      gid: e.gid ?? 0,
      uname: "",
      gname: "",
      mtime: new Date(0),
      ...(e.linkname !== undefined ? { linkname: e.linkname } : {}),
      ...(data ? { size: data.length } : {})
    } as Parameters<typeof pack.entry>[0]
    await new Promise<void>((resolve, reject) =>
      data ? pack.entry(header, data, (err) => (err ? reject(err) : resolve())) : (pack.entry(header), resolve())
    )
  }
  pack.finalize()
  await done
  const raw = Buffer.concat(chunks)
  return { gz: blob(zlib.gzipSync(raw, { level: 9 })), diffId: digestOf(raw) }
}

const sortEntries = (entries: Array<Entry>) => entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))

const BUSYBOX = "/bin/busybox"

export const GREETING_CMD = "echo \"$GREETING uid=$(id -u) gid=$(id -g) user=$(id -un) cwd=$(pwd) host=$(hostname)\""

const busyboxEntries = (): Array<Entry> => {
  const applets = execFileSync(BUSYBOX, ["--list"], { encoding: "utf8" }).split("\n").filter((a) =>
    a && a !== "busybox"
  )
  const dirs: Array<Entry> = [
    { name: "bin", type: "directory" },
    { name: "dev", type: "directory" },
    { name: "etc", type: "directory" },
    { name: "home", type: "directory" },
    { name: "home/tank", type: "directory", uid: 1000, gid: 1000 },
    { name: "proc", type: "directory" },
    { name: "root", type: "directory", mode: 0o700 },
    { name: "sbin", type: "directory" },
    { name: "sys", type: "directory" },
    { name: "tmp", type: "directory", mode: 0o1777 },
    { name: "usr", type: "directory" },
    { name: "usr/bin", type: "directory" },
    { name: "var", type: "directory" },
    { name: "var/www", type: "directory" }
  ]
  return sortEntries([
    ...dirs,
    { name: "bin/busybox", type: "file", mode: 0o755, data: fs.readFileSync(BUSYBOX) },
    ...applets.map((a): Entry => ({ name: `bin/${a}`, type: "symlink", linkname: "busybox" })),
    {
      name: "etc/passwd",
      type: "file",
      data: "root:x:0:0:root:/root:/bin/sh\ntank:x:1000:1000:tank:/home/tank:/bin/sh\n" +
        "nobody:x:65534:65534:nobody:/nonexistent:/bin/false\n"
    },
    { name: "etc/group", type: "file", data: "root:x:0:\ntank:x:1000:\nnogroup:x:65534:\n" },
    { name: "var/www/index.html", type: "file", data: "hello from tank httpd\n" }
  ])
}

const layerEntries = (): Array<Array<Entry>> => [
  sortEntries([
    { name: "data", type: "directory" },
    { name: "data/keep.txt", type: "file", data: "keep v1\n" },
    { name: "data/remove-me.txt", type: "file", data: "remove me\n" },
    { name: "data/hardlink.txt", type: "link", linkname: "data/keep.txt" },
    { name: "data/sym.txt", type: "symlink", linkname: "keep.txt" },
    { name: "data/abs-sym", type: "symlink", linkname: "/etc/passwd" },
    { name: "data/exec.sh", type: "file", mode: 0o755, data: "#!/bin/sh\necho exec\n" },
    { name: "opaque", type: "directory" },
    { name: "opaque/old-a.txt", type: "file", data: "old a\n" },
    { name: "opaque/sub", type: "directory" },
    { name: "opaque/sub/old-b.txt", type: "file", data: "old b\n" },
    { name: "gone", type: "directory" },
    { name: "gone/file.txt", type: "file", data: "gone\n" },
    { name: "replace", type: "file", data: "was a file\n" },
    { name: "dir2file", type: "directory" },
    { name: "dir2file/inner.txt", type: "file", data: "inner\n" },
    { name: "emptydir", type: "directory", mode: 0o750 }
  ]).filter((e) => e.name !== "data/hardlink.txt").concat([
    // A hardlink must come after its target in the archive.
    { name: "data/hardlink.txt", type: "link", linkname: "data/keep.txt" }
  ]),
  sortEntries([
    { name: ".wh.gone", type: "file", data: "" },
    { name: "data", type: "directory" },
    { name: "data/.wh.remove-me.txt", type: "file", data: "" },
    { name: "dir2file", type: "file", data: "now a file\n" },
    { name: "opaque", type: "directory" },
    { name: "opaque/.wh..wh..opq", type: "file", data: "" },
    { name: "opaque/new.txt", type: "file", data: "new\n" },
    { name: "replace", type: "directory" },
    { name: "replace/inside.txt", type: "file", data: "now a dir\n" }
  ]),
  sortEntries([
    { name: "data", type: "directory" },
    { name: "data/keep.txt", type: "file", data: "keep v2\n" },
    { name: "etc", type: "directory" },
    { name: "etc/motd", type: "file", mode: 0o600, uid: 1000, gid: 1000, data: "layered\n" },
    { name: "gone", type: "directory" },
    { name: "gone/again.txt", type: "file", data: "again\n" }
  ])
]

type Flavour = "oci" | "docker"
const MT = {
  oci: {
    manifest: "application/vnd.oci.image.manifest.v1+json",
    index: "application/vnd.oci.image.index.v1+json",
    config: "application/vnd.oci.image.config.v1+json",
    layer: "application/vnd.oci.image.layer.v1.tar+gzip"
  },
  docker: {
    manifest: "application/vnd.docker.distribution.manifest.v2+json",
    index: "application/vnd.docker.distribution.manifest.list.v2+json",
    config: "application/vnd.docker.container.image.v1+json",
    layer: "application/vnd.docker.image.rootfs.diff.tar.gzip"
  }
} as const

export interface Image {
  readonly manifest: Blob
  readonly mediaType: string
  readonly config: Blob
  readonly layers: ReadonlyArray<Blob>
}

export const makeImage = (
  flavour: Flavour,
  layers: ReadonlyArray<{ gz: Blob; diffId: string }>,
  config: Record<string, unknown>,
  platform: { architecture: string; variant?: string } = { architecture: "amd64" }
): Image => {
  const configBlob = blob(Buffer.from(JSON.stringify({
    ...platform,
    os: "linux",
    created: "1970-01-01T00:00:00Z",
    config,
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({ created: "1970-01-01T00:00:00Z", created_by: `tank fixture layer ${i}` }))
  })))
  const manifest = {
    schemaVersion: 2,
    mediaType: MT[flavour].manifest,
    config: { mediaType: MT[flavour].config, digest: configBlob.digest, size: configBlob.size },
    layers: layers.map((l) => ({ mediaType: MT[flavour].layer, digest: l.gz.digest, size: l.gz.size }))
  }
  return {
    manifest: blob(Buffer.from(JSON.stringify(manifest))),
    mediaType: MT[flavour].manifest,
    config: configBlob,
    layers: layers.map((l) => l.gz)
  }
}

export const makeIndex = (
  flavour: Flavour,
  entries: ReadonlyArray<{ image: Image; platform: { os: string; architecture: string; variant?: string } }>
) => {
  const index = {
    schemaVersion: 2,
    mediaType: MT[flavour].index,
    manifests: entries.map((e) => ({
      mediaType: e.image.mediaType,
      digest: e.image.manifest.digest,
      size: e.image.manifest.size,
      platform: e.platform
    }))
  }
  return { index: blob(Buffer.from(JSON.stringify(index))), mediaType: MT[flavour].index }
}

const PATH_ENV = "PATH=/bin:/usr/bin:/sbin"

export interface Fixtures {
  readonly busybox: { readonly oci: Image; readonly docker: Image }
  readonly busyboxUser: Image
  readonly busyboxHttpd: Image
  readonly layers: { readonly oci: Image; readonly docker: Image }
  readonly arm64: { readonly oci: Image; readonly docker: Image }
  readonly multiarch: { readonly oci: ReturnType<typeof makeIndex>; readonly docker: ReturnType<typeof makeIndex> }
}

let built: Promise<Fixtures> | undefined

/** Builds every fixture image in memory (once per process; ~2 MB). */
export const buildFixtures = (): Promise<Fixtures> =>
  built ??= (async () => {
    const base = await buildLayer(busyboxEntries())
    const extra = await Promise.all(layerEntries().map(buildLayer))
    const armLayer = await buildLayer([
      { name: "etc", type: "directory" },
      { name: "etc/arch", type: "file", data: "arm64\n" }
    ])
    const bbConfig = { Env: [PATH_ENV], Cmd: ["sh"] }
    const busybox = { oci: makeImage("oci", [base], bbConfig), docker: makeImage("docker", [base], bbConfig) }
    const layersConfig = { Env: [PATH_ENV], Cmd: ["sh"], WorkingDir: "/data" }
    const arm = { architecture: "arm64", variant: "v8" }
    const arm64 = {
      oci: makeImage("oci", [armLayer], { Env: [PATH_ENV], Cmd: ["sh"] }, arm),
      docker: makeImage("docker", [armLayer], { Env: [PATH_ENV], Cmd: ["sh"] }, arm)
    }
    const index = (f: Flavour) =>
      makeIndex(f, [
        { image: busybox[f], platform: { os: "linux", architecture: "amd64" } },
        { image: arm64[f], platform: { os: "linux", architecture: "arm64", variant: "v8" } }
      ])
    return {
      busybox,
      busyboxUser: makeImage("oci", [base], {
        Env: [PATH_ENV, "GREETING=hello-from-tank", "EMPTY="],
        Entrypoint: ["/bin/sh", "-c"],
        Cmd: [GREETING_CMD],
        WorkingDir: "/home/tank",
        User: "tank",
        ExposedPorts: { "8080/tcp": {} },
        Labels: { "org.opencontainers.image.title": "busybox-user" },
        StopSignal: "SIGTERM"
      }),
      busyboxHttpd: makeImage("oci", [base], {
        Env: [PATH_ENV],
        Entrypoint: ["httpd", "-f", "-v", "-p", "8080", "-h", "/var/www"],
        User: "1000:1000",
        ExposedPorts: { "8080/tcp": {} }
      }),
      layers: {
        oci: makeImage("oci", [base, ...extra], layersConfig),
        docker: makeImage("docker", [base, ...extra], layersConfig)
      },
      arm64,
      multiarch: { oci: index("oci"), docker: index("docker") }
    }
  })()

// -- pushing ---------------------------------------------------------------------------------------

export interface PushTarget {
  /** `http://127.0.0.1:PORT` (plain HTTP; push to a plain registry and serve its storage elsewhere). */
  readonly url: string
  /** Extra headers, e.g. `authorization` for a Basic-auth registry. */
  readonly headers?: Record<string, string>
}

const check = async (res: Awaited<ReturnType<typeof request>>, what: string, ok: ReadonlyArray<number>) => {
  if (!ok.includes(res.statusCode)) {
    throw new Error(`${what}: HTTP ${res.statusCode} ${await res.body.text()}`)
  }
  await res.body.dump()
}

/** Pushes a blob (monolithic upload: POST then PUT ?digest=), skipping ones already there. */
export const pushBlob = async (
  t: PushTarget,
  repo: string,
  b: Blob | { digest: string; size: number; body: () => Readable }
) => {
  const head = await request(`${t.url}/v2/${repo}/blobs/${b.digest}`, { method: "HEAD", headers: t.headers ?? {} })
  await head.body.dump()
  if (head.statusCode === 200) return
  const start = await request(`${t.url}/v2/${repo}/blobs/uploads/`, { method: "POST", headers: t.headers ?? {} })
  const location = start.headers["location"]
  await check(start, `start upload to ${repo}`, [202])
  const url = new URL(String(location), t.url)
  url.searchParams.set("digest", b.digest)
  const body = "bytes" in b ? b.bytes : b.body()
  const put = await request(url.toString(), {
    method: "PUT",
    headers: { ...t.headers, "content-type": "application/octet-stream", "content-length": String(b.size) },
    body
  })
  await check(put, `upload ${b.digest} to ${repo}`, [201])
}

export const pushManifest = async (
  t: PushTarget,
  repo: string,
  reference: string,
  bytes: Buffer,
  mediaType: string
) => {
  const res = await request(`${t.url}/v2/${repo}/manifests/${reference}`, {
    method: "PUT",
    headers: { ...t.headers, "content-type": mediaType },
    body: bytes
  })
  await check(res, `push manifest ${repo}:${reference}`, [201])
}

export const pushImage = async (t: PushTarget, repo: string, tag: string, img: Image) => {
  for (const b of [...img.layers, img.config]) await pushBlob(t, repo, b)
  await pushManifest(t, repo, tag, img.manifest.bytes, img.mediaType)
}

export interface FixtureRefs {
  readonly busybox: string
  readonly busyboxUser: string
  readonly busyboxHttpd: string
  readonly layers: string
  readonly multiarch: string
  readonly busyboxDocker: string
  readonly layersDocker: string
  readonly multiarchDocker: string
}

/**
 * Pushes every fixture to the registry at `registry` (`127.0.0.1:PORT` or a URL; plain HTTP) and
 * returns their references.
 */
export const pushFixtures = async (registry: string, headers?: Record<string, string>): Promise<FixtureRefs> => {
  const f = await buildFixtures()
  const url = /^https?:\/\//.test(registry) ? registry : `http://${registry}`
  const host = new URL(url).host
  const t: PushTarget = { url, ...(headers ? { headers } : {}) }
  await pushImage(t, "tank/busybox", "latest", f.busybox.oci)
  await pushImage(t, "tank/busybox-user", "latest", f.busyboxUser)
  await pushImage(t, "tank/busybox-httpd", "latest", f.busyboxHttpd)
  await pushImage(t, "tank/layers", "latest", f.layers.oci)
  await pushImage(t, "tank/busybox-docker", "latest", f.busybox.docker)
  await pushImage(t, "tank/layers-docker", "latest", f.layers.docker)
  for (const flavour of ["oci", "docker"] as const) {
    const repo = flavour === "oci" ? "tank/multiarch" : "tank/multiarch-docker"
    for (const img of [f.busybox[flavour], f.arm64[flavour]]) {
      await pushImage(t, repo, img.manifest.digest, img)
    }
    await pushManifest(t, repo, "latest", f.multiarch[flavour].index.bytes, f.multiarch[flavour].mediaType)
  }
  const ref = (repo: string) => `${host}/tank/${repo}:latest`
  return {
    busybox: ref("busybox"),
    busyboxUser: ref("busybox-user"),
    busyboxHttpd: ref("busybox-httpd"),
    layers: ref("layers"),
    multiarch: ref("multiarch"),
    busyboxDocker: ref("busybox-docker"),
    layersDocker: ref("layers-docker"),
    multiarchDocker: ref("multiarch-docker")
  }
}

/** `pushFixtures` as an Effect. */
export const pushFixturesEffect = (registry: string, headers?: Record<string, string>) =>
  Effect.tryPromise(() => pushFixtures(registry, headers))
