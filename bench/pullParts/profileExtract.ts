/**
 * Profiling aid for the pull bench: builds the large layer once (kept in /tmp/tank-pull-prof) and
 * times `extractLayer` on it against `tar -xzf`, interleaved. `npx tsx bench/pullParts/profileExtract.ts [runs=3]`.
 */
import { Effect } from "effect"
import { execFileSync } from "node:child_process"
import * as fs from "node:fs"
import * as path from "node:path"
import { performance } from "node:perf_hooks"
import { extractLayer } from "../../src/image/extract.js"
import { buildLargeLayer } from "../largeLayer.js"

const dir = process.env["PROF_DIR"] ?? "/tmp/tank-pull-prof"
const layer = "/tmp/tank-pull-prof/large.tar.gz"
const runs = Number(process.argv[2] ?? 3)

const main = async () => {
  fs.mkdirSync(dir, { recursive: true })
  if (!fs.existsSync(layer)) await buildLargeLayer(layer)
  // Trees are kept until the end: ext4 without a journal skips recently deleted inodes when it
  // allocates, so creating files right after removing thousands costs several times more.
  const outs: Array<string> = []
  const fresh = (name: string) => {
    const out = path.join(dir, name)
    fs.mkdirSync(out)
    outs.push(out)
    return out
  }
  for (let i = 0; i < runs; i++) {
    let t0 = performance.now()
    execFileSync("tar", ["-xzf", layer, "-C", fresh(`tar-${i}`)])
    const tar = performance.now() - t0
    const out = fresh(`tank-${i}`)
    t0 = performance.now()
    await Effect.runPromise(
      extractLayer({ blobPath: layer, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", dest: out })
    )
    const tank = performance.now() - t0
    console.log(`tar ${tar.toFixed(0)} ms, tank ${tank.toFixed(0)} ms, ratio ${(tank / tar).toFixed(2)}`)
  }
  for (const out of outs) fs.rmSync(out, { recursive: true, force: true })
}
void main()
