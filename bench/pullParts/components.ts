/**
 * Where extraction of the bench's large layer goes: gunzip alone, gunzip + tar parsing, and the whole
 * extractor (wall and CPU of this process). `npx tsx bench/pullParts/components.ts` after profileExtract.ts.
 */
import { Effect } from "effect"
import * as fs from "node:fs"
import { performance } from "node:perf_hooks"
import { pipeline } from "node:stream/promises"
import * as zlib from "node:zlib"
import * as tar from "tar-stream"
import { extractLayer } from "../../src/image/extract.js"

const layer = "/tmp/tank-pull-prof/large.tar.gz"
const out = "/tmp/tank-pull-prof/out"

const timed = async (name: string, f: () => Promise<unknown>) => {
  const c0 = process.cpuUsage()
  const t0 = performance.now()
  await f()
  const c = process.cpuUsage(c0)
  console.log(
    `${name.padEnd(22)} wall ${(performance.now() - t0).toFixed(0).padStart(5)} ms  cpu user ${
      (c.user / 1000).toFixed(0)
    } sys ${(c.system / 1000).toFixed(0)} ms`
  )
}

const main = async () => {
  for (let i = 0; i < 2; i++) {
    await timed("read file", () =>
      pipeline(fs.createReadStream(layer, { highWaterMark: 1 << 20 }), async function*(s) {
        for await (const _ of s) void _
      }))
    await timed(
      "gunzip 256K",
      () =>
        pipeline(
          fs.createReadStream(layer, { highWaterMark: 1 << 20 }),
          zlib.createGunzip({ chunkSize: 1 << 18 }),
          async function*(s) {
            for await (const _ of s) void _
          }
        )
    )
    await timed("gunzip sync", async () => zlib.gunzipSync(fs.readFileSync(layer)))
    await timed("gunzip+tar-stream", async () => {
      const ex = tar.extract()
      ex.on("entry", (_h, s, next) => {
        s.on("end", next)
        s.resume()
      })
      await pipeline(
        fs.createReadStream(layer, { highWaterMark: 1 << 20 }),
        zlib.createGunzip({ chunkSize: 1 << 18 }),
        ex
      )
    })
    fs.rmSync(out, { recursive: true, force: true })
    fs.mkdirSync(out)
    await timed(
      "extractLayer",
      () =>
        Effect.runPromise(
          extractLayer({ blobPath: layer, mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", dest: out })
        )
    )
    fs.rmSync(out, { recursive: true, force: true })
  }
}
void main()
