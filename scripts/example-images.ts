/**
 * Writes Tank's example images, built from Debian's busybox-static (the same ones
 * scripts/local-registry.ts serves), as one OCI-layout tarball that `tank load -i` reads: setup
 * loads it so the README's quick start and the REPL's example run offline, without a registry.
 *
 *   npx tsx scripts/example-images.ts out.tar
 *     busybox (docker.io/library/busybox:latest), 127.0.0.1:5000/tank/busybox:latest,
 *     127.0.0.1:5000/tank/busybox-user:latest, 127.0.0.1:5000/tank/busybox-httpd:latest
 */
import * as fs from "node:fs"
import * as tar from "tar-stream"
import { buildFixtures, type Image } from "../test/support/fixtureImages.js"

const out = process.argv[2]
if (!out) {
  process.stderr.write("usage: tsx scripts/example-images.ts OUT.tar\n")
  process.exit(2)
}
const REGISTRY = "127.0.0.1:5000"
const f = await buildFixtures()
const images: ReadonlyArray<readonly [string, Image]> = [
  // Plain `busybox` (the REPL banner's example) is this one too, so it needs no internet.
  ["docker.io/library/busybox:latest", f.busybox.oci],
  [`${REGISTRY}/tank/busybox:latest`, f.busybox.oci],
  [`${REGISTRY}/tank/busybox-user:latest`, f.busyboxUser],
  [`${REGISTRY}/tank/busybox-httpd:latest`, f.busyboxHttpd]
]
const pack = tar.pack()
const written = new Promise<void>((resolve, reject) => {
  const file = fs.createWriteStream(`${out}.tmp`)
  pack.pipe(file)
  file.on("finish", resolve)
  file.on("error", reject)
})
pack.entry({ name: "oci-layout" }, JSON.stringify({ imageLayoutVersion: "1.0.0" }))
pack.entry(
  { name: "index.json" },
  JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.index.v1+json",
    manifests: images.map(([name, img]) => ({
      mediaType: img.mediaType,
      digest: img.manifest.digest,
      size: img.manifest.size,
      annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": name }
    }))
  })
)
const blobs = new Map(images.flatMap(([, i]) => [i.manifest, i.config, ...i.layers]).map((b) => [b.digest, b.bytes]))
for (const [digest, bytes] of blobs) pack.entry({ name: `blobs/sha256/${digest.slice("sha256:".length)}` }, bytes)
pack.finalize()
await written
fs.renameSync(`${out}.tmp`, out)
for (const [name] of images) process.stdout.write(`${name}\n`)
