/**
 * Pulls from a real registry (Debian's docker-registry on 127.0.0.1) into a real cache, with the
 * real extraction module; a counting proxy proves coalescing, offline mode and refresh.
 */
import { assert, describe, expect, it, layer } from "@effect/vitest"
import { Chunk, Effect, Either, Stream } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { startFaultProxy, via } from "./faultProxy.js"
import { blobCount, cacheProblems, FixtureRegistry, FixtureRegistryLive, imagesIn, layerDirs } from "./helpers.js"

const read = (p: string) => fs.readFileSync(p, "utf8")

layer(FixtureRegistryLive, { timeout: 120_000, excludeTestServices: true })("pull from a real registry", (it) => {
  it.scoped("tank/busybox: one runnable layer with the fixture's files, config and digest", () =>
    Effect.gen(function*() {
      const { fixtures, refs } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const img = yield* images.pull(refs.busybox)
      expect(img.ref).toBe(refs.busybox)
      expect(img.digest).toBe(fixtures.busybox.oci.manifest.digest)
      expect(img.manifestDigest).toBe(img.digest)
      expect(img.platform).toBe("linux/amd64")
      expect(img.config.config?.Cmd).toEqual(["sh"])
      expect(img.config.config?.Env).toEqual(["PATH=/bin:/usr/bin:/sbin"])
      expect(img.layers).toHaveLength(1)
      const root = img.layers[0]!
      expect(root).toBe(path.join(cacheDir, "layers", "sha256", fixtures.busybox.oci.layers[0]!.digest.slice(7)))
      expect(fs.readlinkSync(path.join(root, "bin/sh"))).toBe("busybox")
      expect(execFileSync(path.join(root, "bin/busybox"), ["echo", "ran from the layer"], { encoding: "utf8" })).toBe(
        "ran from the layer\n"
      )
      expect(read(path.join(root, "etc/passwd"))).toMatch(/^tank:x:1000:1000:/m)
      expect(fs.statSync(path.join(root, "tmp")).mode & 0o7777).toBe(0o1777)
      expect(fs.statSync(path.join(root, "root")).mode & 0o777).toBe(0o700)
      expect(fs.statSync(path.join(root, "home/tank")).uid).toBe(1000)
      expect(cacheProblems(cacheDir)).toEqual([])
      expect(fs.readdirSync(path.join(cacheDir, "refs"))).toHaveLength(1)
      // tag + digest: the digest decides what is fetched.
      const pinned = yield* images.pull(`${refs.busybox}@${img.digest}`)
      expect([pinned.ref, pinned.layers]).toEqual([`${refs.busybox}@${img.digest}`, img.layers])
      const wrong = yield* Effect.flip(images.pull(`${refs.busybox}@sha256:${"0".repeat(64)}`))
      expect(wrong._tag).toBe("ImageNotFound")
    }))

  it.scoped("busybox-user and busybox-httpd reuse the busybox layer dir and carry their run config", () =>
    Effect.gen(function*() {
      const { refs } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const base = yield* images.pull(refs.busybox)
      const user = yield* images.pull(refs.busyboxUser)
      const httpd = yield* images.pull(refs.busyboxHttpd)
      expect(user.layers).toEqual(base.layers)
      expect(httpd.layers).toEqual(base.layers)
      expect(layerDirs(cacheDir)).toHaveLength(1)
      expect(user.config.config).toMatchObject({
        Entrypoint: ["/bin/sh", "-c"],
        User: "tank",
        WorkingDir: "/home/tank",
        Env: ["PATH=/bin:/usr/bin:/sbin", "GREETING=hello-from-tank", "EMPTY="]
      })
      expect(httpd.config.config?.Entrypoint).toEqual(["httpd", "-f", "-v", "-p", "8080", "-h", "/var/www"])
      expect(read(path.join(httpd.layers[0]!, "var/www/index.html"))).toBe("hello from tank httpd\n")
    }))

  it.scoped("tank/layers: four layer dirs that stack under overlayfs to the expected tree", () =>
    Effect.gen(function*() {
      const { refs } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const img = yield* images.pull(refs.layers)
      expect(img.layers).toHaveLength(4)
      const [, l1, l2, l3] = img.layers as [string, string, string, string]
      expect(fs.statSync(path.join(l1, "data/hardlink.txt")).ino).toBe(fs.statSync(path.join(l1, "data/keep.txt")).ino)
      expect(fs.readlinkSync(path.join(l1, "data/sym.txt"))).toBe("keep.txt")
      expect(fs.readlinkSync(path.join(l1, "data/abs-sym"))).toBe("/etc/passwd")
      const wh = fs.lstatSync(path.join(l2, "data/remove-me.txt"))
      expect(wh.isCharacterDevice() && wh.rdev === 0).toBe(true)
      expect(fs.existsSync(path.join(l2, "data/.wh.remove-me.txt"))).toBe(false)
      expect(read(path.join(l3, "data/keep.txt"))).toBe("keep v2\n")
      const motd = fs.statSync(path.join(l3, "etc/motd"))
      expect([motd.mode & 0o777, motd.uid, motd.gid]).toEqual([0o600, 1000, 1000])
      // The real proof: mount them as overlayfs lowers (in a private mount namespace) and look.
      const mnt = path.join(cacheDir, "mnt-test")
      fs.mkdirSync(mnt)
      const lower = [...img.layers].reverse().join(":")
      const script = `mount -t overlay overlay -o lowerdir=${lower} ${mnt} && cd ${mnt} && ` +
        `find data opaque gone replace dir2file -print | sort && cat data/keep.txt dir2file replace/inside.txt`
      const out = execFileSync("unshare", ["-m", "--propagation", "private", "sh", "-c", script], { encoding: "utf8" })
      fs.rmdirSync(mnt)
      expect(out.split("\n")).toEqual([
        "data",
        "data/abs-sym",
        "data/exec.sh",
        "data/hardlink.txt",
        "data/keep.txt",
        "data/sym.txt",
        "dir2file",
        "gone",
        "gone/again.txt",
        "opaque",
        "opaque/new.txt",
        "replace",
        "replace/inside.txt",
        "keep v2",
        "now a file",
        "now a dir",
        ""
      ])
    }))

  it.scoped("Docker media type twins share blobs and layer dirs with the OCI images", () =>
    Effect.gen(function*() {
      const { fixtures, refs } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const oci = yield* images.pull(refs.layers)
      const docker = yield* images.pull(refs.layersDocker)
      expect(docker.digest).toBe(fixtures.layers.docker.manifest.digest)
      expect(docker.digest).not.toBe(oci.digest)
      expect(docker.layers).toEqual(oci.layers)
      expect(docker.config).toEqual(oci.config)
      const bb = yield* images.pull(refs.busyboxDocker)
      expect(bb.layers).toEqual([oci.layers[0]])
      expect(layerDirs(cacheDir)).toHaveLength(4)
    }))

  it.scoped("an index / manifest list picks the host's amd64; an explicit platform picks arm64", () =>
    Effect.gen(function*() {
      const { fixtures, refs } = yield* FixtureRegistry
      const { images } = yield* imagesIn()
      for (const [ref, flavour] of [[refs.multiarch, "oci"], [refs.multiarchDocker, "docker"]] as const) {
        const amd = yield* images.pull(ref)
        expect(amd.digest).toBe(fixtures.multiarch[flavour].index.digest)
        expect(amd.manifestDigest).toBe(fixtures.busybox[flavour].manifest.digest)
        expect(amd.config.architecture).toBe("amd64")
        const arm = yield* images.pull(ref, { platform: "linux/arm64/v8" })
        expect(arm.manifestDigest).toBe(fixtures.arm64[flavour].manifest.digest)
        expect([arm.config.architecture, arm.config.variant, arm.platform]).toEqual(["arm64", "v8", "linux/arm64/v8"])
        expect(read(path.join(arm.layers[0]!, "etc/arch"))).toBe("arm64\n")
        const armNoVariant = yield* images.pull(ref, { platform: { os: "linux", architecture: "arm64" } })
        expect(armNoVariant.manifestDigest).toBe(arm.manifestDigest)
        const none = yield* Effect.flip(images.pull(ref, { platform: "linux/s390x" }))
        assert(none._tag === "NoMatchingPlatform")
        expect(none.available).toEqual(["linux/amd64", "linux/arm64/v8"])
        expect(none.message).toMatch(/no image for linux\/s390x/)
      }
    }))

  it.scoped("unknown image and malformed refs fail with typed errors", () =>
    Effect.gen(function*() {
      const { registry } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const missing = yield* Effect.flip(images.pull(`${registry.host}/tank/nope:latest`))
      expect(missing._tag).toBe("ImageNotFound")
      const bad = yield* Effect.flip(images.pull(`${registry.host}/Tank/Busybox`))
      expect(bad._tag).toBe("InvalidReference")
      expect(cacheProblems(cacheDir)).toEqual([])
    }))

  it.scoped("offline: a miss is NotCached; after a pull it works without touching the network", () =>
    Effect.gen(function*() {
      const { refs, registry } = yield* FixtureRegistry
      const proxy = yield* startFaultProxy(registry.host)
      const { images } = yield* imagesIn()
      const ref = via(proxy, refs.multiarch)
      const miss = yield* Effect.flip(images.pull(ref, { offline: true }))
      assert(miss._tag === "NotCached")
      expect(proxy.log).toEqual([])
      const online = yield* images.pull(ref)
      const requests = proxy.log.length
      const offline = yield* images.pull(ref, { offline: true })
      expect(offline).toEqual(online)
      expect(proxy.log.length).toBe(requests)
      // A platform never pulled is a miss even though the index is cached.
      const otherPlatform = yield* Effect.flip(images.pull(ref, { offline: true, platform: "linux/arm64" }))
      expect(otherPlatform._tag).toBe("NotCached")
      // Once pulled, the same platform in another spelling (no variant = v8) is a hit.
      const arm = yield* images.pull(ref, { platform: "linux/arm64/v8" })
      expect(yield* images.pull(ref, { offline: true, platform: { os: "linux", architecture: "aarch64" } })).toEqual(
        arm
      )
      // By digest, offline works from the blobs alone.
      const byDigest = yield* images.pull(`${proxy.host}/tank/multiarch@${online.digest}`, { offline: true })
      expect(byDigest.layers).toEqual(online.layers)
    }))

  it.scoped("ifNotPresent: pulls when missing, then answers from the cache without the registry", () =>
    Effect.gen(function*() {
      const { refs, registry } = yield* FixtureRegistry
      const proxy = yield* startFaultProxy(registry.host)
      const { cacheDir, images } = yield* imagesIn()
      const ref = via(proxy, refs.busyboxUser)
      const first = yield* images.pull(ref, { ifNotPresent: true })
      const requests = proxy.log.length
      expect(requests).toBeGreaterThan(0)
      proxy.plan(() => ({ kind: "status", status: 503 }))
      expect(yield* images.pull(ref, { ifNotPresent: true })).toEqual(first)
      expect(proxy.log.length).toBe(requests)
      expect((yield* Effect.flip(images.pull(ref)))._tag).toBe("RegistryHttpError")
      // Issue 21: what a digest resolved to is kept (its content cannot change), so a start reads
      // neither the manifest nor the config again: with every blob gone it still answers offline...
      const blobs = path.join(cacheDir, "blobs", "sha256")
      const asked = proxy.log.length
      for (const f of fs.readdirSync(blobs)) fs.rmSync(path.join(blobs, f))
      expect(yield* images.pull(ref, { ifNotPresent: true })).toEqual(first)
      expect(proxy.log.length).toBe(asked)
      // ...but its layer dirs are checked each time: one pruned is fetched again, not handed out.
      proxy.plan(() => undefined)
      for (const l of first.layers) fs.rmSync(l, { recursive: true })
      expect(yield* images.pull(ref, { ifNotPresent: true })).toEqual(first)
      for (const l of first.layers) expect(fs.existsSync(path.join(l, "bin"))).toBe(true)
    }))

  it.scoped("online pulls re-resolve the tag but download nothing cached; refresh downloads again", () =>
    Effect.gen(function*() {
      const { refs, registry } = yield* FixtureRegistry
      const proxy = yield* startFaultProxy(registry.host)
      const { cacheDir, images } = yield* imagesIn()
      const ref = via(proxy, refs.layers)
      const first = yield* images.pull(ref)
      const blobs = () => proxy.count((r) => r.kind === "blob")
      const manifests = () => proxy.count((r) => r.kind === "manifest")
      expect([blobs(), manifests()]).toEqual([5, 1]) // config + 4 layers
      const again = yield* images.pull(ref)
      expect([blobs(), manifests()]).toEqual([5, 2])
      expect(again).toEqual(first)
      const inode = fs.statSync(first.layers[0]!).ino
      const refreshed = yield* images.pull(ref, { refresh: true })
      expect([blobs(), manifests()]).toEqual([10, 3])
      expect(refreshed.layers).toEqual(first.layers)
      expect(fs.statSync(first.layers[0]!).ino).toBe(inode) // layer dirs in use are never swapped
      expect(cacheProblems(cacheDir)).toEqual([])
    }))

  it.scoped("concurrent pulls are coalesced: each blob is downloaded once", () =>
    Effect.gen(function*() {
      const { refs, registry } = yield* FixtureRegistry
      const proxy = yield* startFaultProxy(registry.host)
      const { cacheDir, images } = yield* imagesIn()
      const all = yield* Effect.all(
        [
          ...Array.from({ length: 5 }, () => images.pull(via(proxy, refs.layers))),
          images.pull(via(proxy, refs.busybox)),
          images.pull(via(proxy, refs.busyboxUser))
        ],
        { concurrency: "unbounded" }
      )
      expect(new Set(all.slice(0, 5).map((i) => JSON.stringify(i))).size).toBe(1)
      const perBlob = new Map<string, number>()
      for (const r of proxy.log) if (r.kind === "blob") perBlob.set(r.path, (perBlob.get(r.path) ?? 0) + 1)
      expect([...perBlob.values()].every((n) => n === 1)).toBe(true)
      // layers: config + 4 layers; busybox and busybox-user: a config each (their layer is the shared base)
      expect(perBlob.size).toBe(7)
      expect(proxy.count((r) => r.kind === "manifest" && r.path.includes("/tank/layers/"))).toBe(1)
      expect(cacheProblems(cacheDir)).toEqual([])
    }))

  it.scoped("list, remove and prune", () =>
    Effect.gen(function*() {
      const { refs } = yield* FixtureRegistry
      const { cacheDir, images } = yield* imagesIn()
      const bb = yield* images.pull(refs.busybox)
      const ly = yield* images.pull(refs.layers)
      expect((yield* images.list()).map((r) => r.ref).sort()).toEqual([refs.busybox, refs.layers].sort())
      expect(yield* images.prune(new Set())).toMatchObject({ removedBlobs: 0, removedLayers: 0 })
      expect(yield* images.remove(refs.layers)).toBe(1)
      expect(yield* images.remove(refs.layers)).toBe(0)
      // tank/layers is still in use by a pod: its content stays.
      expect(yield* images.prune(new Set([ly.digest]))).toMatchObject({ removedBlobs: 0, removedLayers: 0 })
      const report = yield* images.prune(new Set())
      expect(report).toMatchObject({ removedBlobs: 5, removedLayers: 3, removedRefs: [] }) // manifest, config, 3 layers
      expect(layerDirs(cacheDir)).toEqual([path.basename(bb.layers[0]!)])
      expect(yield* images.pull(refs.busybox, { offline: true })).toEqual(bb)
      const all = yield* images.prune(new Set(), { all: true })
      expect(all.removedRefs).toEqual([refs.busybox])
      expect([blobCount(cacheDir), layerDirs(cacheDir).length]).toEqual([0, 0])
      expect(cacheProblems(cacheDir)).toEqual([])
    }))

  it.scoped("pullWithProgress streams per-layer events ending with Done", () =>
    Effect.gen(function*() {
      const { fixtures, refs } = yield* FixtureRegistry
      const { images } = yield* imagesIn()
      const events = Chunk.toReadonlyArray(yield* Stream.runCollect(images.pullWithProgress(refs.busybox)))
      const tags = events.map((e) => e._tag)
      expect(tags[0]).toBe("Resolved")
      expect(tags.at(-1)).toBe("Done")
      expect(tags.filter((t) => t !== "LayerBytes")).toEqual([
        "Resolved",
        "LayerStarted",
        "LayerDownloaded",
        "LayerExtracted",
        "Done"
      ])
      const bytes = events.filter((e) => e._tag === "LayerBytes")
      const size = fixtures.busybox.oci.layers[0]!.size
      expect(bytes.at(-1)).toMatchObject({ received: size, size })
      const again = Chunk.toReadonlyArray(yield* Stream.runCollect(images.pullWithProgress(refs.busybox)))
      expect(again.map((e) => e._tag)).toEqual(["Resolved", "LayerCached", "Done"])
      const failed = yield* Stream.runCollect(images.pullWithProgress(`${refs.busybox}-missing`)).pipe(Effect.either)
      assert(Either.isLeft(failed))
      expect(failed.left._tag).toBe("ImageNotFound")
    }))
})

describe("fixtures", () => {
  it("are deterministic", async () => {
    const { buildLayer } = await import("../support/fixtureImages.js")
    const a = await buildLayer([{ name: "x", type: "file", data: "1" }])
    const b = await buildLayer([{ name: "x", type: "file", data: "1" }])
    expect(a.gz.digest).toBe(b.gz.digest)
  })
})
