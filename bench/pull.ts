/**
 * Bench: cold and warm pull + extract, Tank's Images service versus `podman pull` and
 * `skopeo copy` + `umoci unpack`, all from the same local registry (Debian's docker-registry on
 * 127.0.0.1), for tank/busybox (1 layer, ~1 MB) and a large single-layer image (~100 MB of this
 * machine's /usr, built here).
 *
 *   cold: empty cache / storage / layout before each run (cleanup not timed)
 *   warm: everything already pulled; the tool re-checks the tag and finds the content present
 *         (umoci has no cache: skopeo re-checks the layout, umoci unpacks again)
 *
 * Tank runs in-process (as it does inside the agent); podman/skopeo/umoci are processes, so their
 * figures include process start-up (~10-30 ms for podman). Run as root:
 * `npx tsx bench/pull.ts [busyboxRuns=7] [largeRuns=3]`. Installs podman with apt when missing.
 * The large layer is also extracted by GNU `tar -xzf` and by Tank's extractor alone (no registry), the
 * floor the cold pull is measured against.
 * `BENCH_VERBOSE=1` prints the timeline of each timed cold Tank pull (download vs extraction).
 *
 * Every timed run writes into a directory of its own and nothing is removed until the end, under
 * /var/tmp (`BENCH_PULL_DIR` to change): this machine's root is ext4 without a journal, whose inode
 * allocator skips inodes deleted in the last seconds to minutes by scanning past them, so creating
 * the layer's 5,471 files right after removing the previous run's tree (or in /tmp, where every test
 * on the machine creates and removes files) cost 4-8 s of kernel time instead of ~0.3 s, for tar and
 * Tank alike, and the figures measured the churn rather than the extraction.
 */
import { Context, Effect, Exit, Layer, Scope } from "effect"
import { execFileSync } from "node:child_process"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as os from "node:os"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { extractLayer } from "../src/image/extract.js"
import { Images, layer } from "../src/image/Images.js"
import { makeImage, pushBlob, pushFixtures, pushImage } from "../test/support/fixtureImages.js"
import { startRegistry } from "../test/support/registry.js"
import { buildLargeLayer, CANDIDATES } from "./largeLayer.js"
import { has, podmanEnv, sh, unmountUnder } from "./peers.js"
import { median, report } from "./report.js"

const busyboxRuns = Number(process.argv[2] ?? 7)
const largeRuns = Number(process.argv[3] ?? 3)

const benchDir = () => process.env["BENCH_PULL_DIR"] ?? (fs.existsSync("/var/tmp") ? "/var/tmp" : os.tmpdir())

const ms = (x: number) => `${x.toFixed(1)} ms`

const timeIt = (f: () => void) => {
  const t0 = performance.now()
  f()
  return performance.now() - t0
}

// -- peers ----------------------------------------------------------------------------------------

interface Row {
  readonly image: string
  readonly tool: string
  readonly cold: number
  readonly warm: number
}

const program = Effect.gen(function*() {
  const work = yield* Effect.acquireRelease(
    Effect.sync(() => fs.mkdtempSync(path.join(benchDir(), "tank-bench-pull-"))),
    (d) =>
      Effect.sync(() => {
        unmountUnder(d)
        fs.rmSync(d, { recursive: true, force: true })
      })
  )
  const registry = yield* startRegistry()
  const refs = yield* Effect.promise(() => pushFixtures(registry.host))
  console.log(`registry ${registry.url}; building the large image from ${CANDIDATES.join(" ")} ...`)
  const largeFile = path.join(work, "large.tar.gz")
  const large = yield* Effect.promise(() => buildLargeLayer(largeFile))
  const largeImage = makeImage("oci", [], { Cmd: ["/bin/sh"] })
  // makeImage wants in-memory layers; patch in the streamed one.
  const cfg = JSON.parse(largeImage.config.bytes.toString())
  cfg.rootfs.diff_ids = [large.diffId]
  const cfgBytes = Buffer.from(JSON.stringify(cfg))
  const cfgBlob = {
    bytes: cfgBytes,
    digest: `sha256:${createHash("sha256").update(cfgBytes).digest("hex")}`,
    size: cfgBytes.length
  }
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: cfgBlob.digest, size: cfgBlob.size },
    layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: large.digest, size: large.size }]
  }))
  yield* Effect.promise(async () => {
    const t = { url: registry.url }
    await pushBlob(t, "tank/large", {
      digest: large.digest,
      size: large.size,
      body: () => fs.createReadStream(largeFile)
    })
    await pushImage(t, "tank/large", "latest", {
      manifest: { bytes: manifest, digest: "", size: manifest.length },
      mediaType: "application/vnd.oci.image.manifest.v1+json",
      config: cfgBlob,
      layers: []
    })
  })
  const largeRef = `${registry.host}/tank/large:latest`
  // The floor: GNU tar extracting the very same layer file, and Tank's extractor alone on it.
  const floor = { tar: [] as Array<number>, tank: [] as Array<number> }
  const fresh = (name: string) => {
    const out = path.join(work, name)
    fs.mkdirSync(out)
    return out
  }
  const tarRun = () => {
    const out = fresh(`floor-tar-${floor.tar.length}`)
    floor.tar.push(timeIt(() => sh("tar", ["-xzf", largeFile, "-C", out])))
  }
  const tankRun = Effect.gen(function*() {
    const out = fresh(`floor-tank-${floor.tank.length}`)
    const t0 = performance.now()
    yield* extractLayer({ blobPath: largeFile, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", dest: out })
    floor.tank.push(performance.now() - t0)
  })
  // A, B, B, A...: whatever the file system is catching up on favours neither.
  for (let i = 0; i < largeRuns; i++) {
    if (i % 2 === 0) {
      tarRun()
      yield* tankRun
    } else {
      yield* tankRun
      tarRun()
    }
  }
  console.log(`large layer, extraction alone: Tank ${ms(median(floor.tank))}, tar -xzf ${ms(median(floor.tar))}`)
  console.log(
    `large image: ${large.files} entries, ${(large.total / 1e6).toFixed(0)} MB raw, ` +
      `${(large.size / 1e6).toFixed(0)} MB gzip layer`
  )

  if (!has("podman")) {
    console.log("installing podman (apt) ...")
    execFileSync("apt-get", ["install", "-y", "--no-install-recommends", "podman"], { stdio: "inherit" })
  }
  const podEnvs: Array<NodeJS.ProcessEnv> = []
  const rows: Array<Row> = []
  const downloads: Array<{ image: string; tank: number; skopeo: number }> = []

  // tar -xzf of the layer interleaved with Tank's cold pulls (A, B, B, A...), the peer of the cold
  // pull row: measured under the same file system conditions, which drift over a run (see above).
  const besideTar: Array<number> = []
  const benchImage = (name: string, ref: string, runs: number, beside?: () => number) =>
    Effect.gen(function*() {
      // Tank: a fresh cache per cold run; warm runs pull into the last one.
      const tankCold: Array<number> = []
      const tankWarm: Array<number> = []
      let cacheDir = ""
      for (let i = 0; i <= runs; i++) {
        cacheDir = path.join(work, `tank-${name}-${i}`)
        const scope = yield* Scope.make()
        const images = Context.get(yield* Layer.build(layer({ cacheDir })).pipe(Scope.extend(scope)), Images)
        const verbose = process.env["BENCH_VERBOSE"] && i > 0
        if (beside !== undefined && i > 0 && i % 2 === 1) besideTar.push(beside())
        const t0 = performance.now()
        yield* images.pull(ref, {
          onProgress: (e) => {
            if (verbose && e._tag !== "LayerBytes") {
              console.log(`  ${name} ${(performance.now() - t0).toFixed(1)} ms ${e._tag}`)
            }
          }
        })
        if (i > 0) tankCold.push(performance.now() - t0) // run 0 warms the JIT
        yield* Scope.close(scope, Exit.void)
        if (beside !== undefined && i > 0 && i % 2 === 0) besideTar.push(beside())
      }
      for (let i = 0; i < runs; i++) {
        const scope = yield* Scope.make()
        const images = Context.get(yield* Layer.build(layer({ cacheDir })).pipe(Scope.extend(scope)), Images)
        const t0 = performance.now()
        yield* images.pull(ref)
        tankWarm.push(performance.now() - t0)
        yield* Scope.close(scope, Exit.void)
      }
      rows.push({ image: name, tool: "tank", cold: median(tankCold), warm: median(tankWarm) })

      // The registry half alone: resolve + download + verify + commit, extraction left out, against
      // `skopeo copy` (which does the same into an OCI layout).
      const dlCold: Array<number> = []
      for (let i = 0; i < runs; i++) {
        const dir = path.join(work, `tank-dl-${name}-${i}`)
        const scope = yield* Scope.make()
        const noExtract = () => Effect.void
        const images = Context.get(
          yield* Layer.build(layer({ cacheDir: dir, extract: noExtract })).pipe(Scope.extend(scope)),
          Images
        )
        const t0 = performance.now()
        yield* images.pull(ref)
        dlCold.push(performance.now() - t0)
        yield* Scope.close(scope, Exit.void)
      }
      const skoDl: Array<number> = []
      for (let i = 0; i < runs; i++) {
        const layout = path.join(work, `oci-dl-${name}-${i}`)
        skoDl.push(
          timeIt(() => sh("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:img`]))
        )
      }
      downloads.push({ image: name, tank: median(dlCold), skopeo: median(skoDl) })

      // podman pull (extracts into its overlay storage; a fresh storage per cold run)
      const podCold: Array<number> = []
      const podWarm: Array<number> = []
      let podEnv: NodeJS.ProcessEnv = {}
      for (let i = 0; i < runs; i++) {
        podEnv = podmanEnv(path.join(work, `podman-${name}-${i}`), registry.host)
        podEnvs.push(podEnv)
        podCold.push(timeIt(() => sh("podman", ["pull", "-q", ref], podEnv)))
      }
      for (let i = 0; i < runs; i++) podWarm.push(timeIt(() => sh("podman", ["pull", "-q", ref], podEnv)))
      rows.push({ image: name, tool: "podman pull", cold: median(podCold), warm: median(podWarm) })

      // skopeo copy to an OCI layout + umoci unpack to a bundle
      const skoCold: Array<number> = []
      const skoWarm: Array<number> = []
      let layout = ""
      const copyUnpack = (bundle: string) => {
        sh("skopeo", ["copy", "-q", "--src-tls-verify=false", `docker://${ref}`, `oci:${layout}:img`])
        sh("umoci", ["unpack", "--image", `${layout}:img`, bundle])
      }
      for (let i = 0; i < runs; i++) {
        layout = path.join(work, `oci-${name}-${i}`)
        skoCold.push(timeIt(() => copyUnpack(path.join(work, `bundle-${name}-${i}`))))
      }
      for (let i = 0; i < runs; i++) skoWarm.push(timeIt(() => copyUnpack(path.join(work, `bundle-${name}-warm-${i}`))))
      rows.push({ image: name, tool: "skopeo+umoci", cold: median(skoCold), warm: median(skoWarm) })
    })

  yield* benchImage("busybox", refs.busybox, busyboxRuns)
  yield* benchImage("large", largeRef, largeRuns, () => {
    const out = fresh(`beside-tar-${besideTar.length}`)
    return timeIt(() => sh("tar", ["-xzf", largeFile, "-C", out]))
  })
  for (const env of podEnvs) sh("podman", ["rmi", "-a", "-f"], env)

  const largeTank0 = () => rows.find((x) => x.image === "large" && x.tool === "tank")!.cold
  console.log(`\nmedians (busybox ${busyboxRuns} runs, large ${largeRuns} runs)`)
  console.log("image     tool            cold          warm        tank/tool cold  tank/tool warm")
  for (const r of rows) {
    const tank = rows.find((x) => x.image === r.image && x.tool === "tank")!
    console.log(
      `${r.image.padEnd(9)} ${r.tool.padEnd(14)} ${ms(r.cold).padStart(11)} ${ms(r.warm).padStart(12)}` +
        (r.tool === "tank"
          ? ""
          : `   ${(tank.cold / r.cold).toFixed(2).padStart(12)}  ${(tank.warm / r.warm).toFixed(2).padStart(14)}`)
    )
  }
  console.log("(ratio < 1: Tank is faster)")
  console.log(
    `large cold pull ${ms(largeTank0())} vs tar -xzf interleaved with it ${ms(median(besideTar))} ` +
      `(${besideTar.map((t) => t.toFixed(0)).join(", ")} ms)`
  )
  const largeTank = rows.find((x) => x.image === "large" && x.tool === "tank")!
  report([
    {
      bench: "pull",
      case: "large layer: extraction alone",
      tank: median(floor.tank),
      peer: "tar -xzf",
      peerValue: median(floor.tar)
    },
    {
      bench: "pull",
      case: "large cold pull+extract",
      tank: largeTank.cold,
      peer: "tar -xzf",
      peerValue: median(besideTar)
    },
    ...rows.filter((r) => r.tool !== "tank").flatMap((r) => {
      const tank = rows.find((x) => x.image === r.image && x.tool === "tank")!
      return [
        { bench: "pull", case: `${r.image} cold pull+extract`, tank: tank.cold, peer: r.tool, peerValue: r.cold },
        { bench: "pull", case: `${r.image} warm pull`, tank: tank.warm, peer: r.tool, peerValue: r.warm }
      ]
    })
  ])
  console.log("\ndownload only (cold; Tank with extraction left out vs skopeo copy to an OCI layout)")
  for (const d of downloads) {
    console.log(
      `${d.image.padEnd(9)} tank ${ms(d.tank).padStart(10)}   skopeo copy ${ms(d.skopeo).padStart(10)}   ratio ${
        (d.tank / d.skopeo).toFixed(2)
      }`
    )
  }
})

Effect.runPromise(Effect.scoped(program)).catch((e) => {
  console.error(e)
  process.exit(1)
})
