/**
 * `tank images` lists the image cache; `tank prune` removes cached content no declared pod uses.
 */
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect } from "effect"
import type { ImageRecord } from "../image/Images.js"
import { CliExit, dataDirOption, describe, jsonOption, loadConfig, out, withStore } from "./common.js"
import { imagesLayer } from "./imagesLayer.js"
import { formatOf, outputOption, printJson, printListing } from "./output.js"
import { shortDigest } from "./pullView.js"
import { ageSince, formatBytes, renderTable } from "./table.js"

export const imagesTable = (records: ReadonlyArray<ImageRecord>, now: number) =>
  renderTable(
    ["REFERENCE", "PLATFORM", "DIGEST", "LAYERS", "SIZE", "PULLED"],
    records.map((r) => [
      r.ref,
      r.platform,
      shortDigest(r.manifest),
      String(r.layers.length),
      formatBytes(r.size),
      `${ageSince(r.pulledAt, now)} ago`
    ])
  )

export const images = Command.make(
  "images",
  { dataDir: dataDirOption, json: jsonOption, output: outputOption },
  ({ dataDir, json, output }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      const { Images, layer } = yield* imagesLayer(config)
      const records = yield* Effect.flatMap(Images.Images, (i) => i.list()).pipe(Effect.provide(layer))
      return yield* printListing(formatOf({ json, output }), {
        value: records,
        names: records.map((r) => `image/${r.ref}`),
        table: () => imagesTable(records, Date.now())
      })
    })
).pipe(
  Command.withDescription(
    describe("images", "List the images in Tank's cache (one row per reference and platform pulled).", [[
      "tank images",
      "a table"
    ], ["tank images --json", "the cache's ref records"]])
  )
)

export const prune = Command.make(
  "prune",
  {
    dataDir: dataDirOption,
    json: jsonOption,
    all: Options.boolean("all").pipe(
      Options.withAlias("a"),
      Options.withDescription("Also forget images no declared pod uses (like `docker image prune -a`).")
    )
  },
  ({ all, dataDir, json }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      const { Images, layer } = yield* imagesLayer(config)
      const [{ Store }, { inUseDigests }] = yield* Effect.promise(() =>
        Promise.all([import("../store/Store.js"), import("../image/inUse.js")])
      )
      const { invalid, pods } = yield* withStore(
        dataDir,
        () => Effect.flatMap(Store, (s) => s.list),
        { readOnly: true }
      ).pipe(Effect.map((l) => ({ invalid: l.invalid, pods: l.pods.map((p) => p.spec) })))
      // An unreadable pod record may be a pod still running on its images: with --all, which images
      // are in use cannot be told, so nothing is removed.
      if (all && invalid.length > 0) {
        return yield* new CliExit({
          code: 1,
          message: `${
            invalid[0]!.message
          }: cannot tell which images it uses; repair it (tank doctor) or prune without --all`
        })
      }
      const report = yield* Effect.gen(function*() {
        const svc = yield* Images.Images
        return yield* svc.prune(inUseDigests(pods, yield* svc.list()), { all })
      }).pipe(Effect.provide(layer))
      if (json) return yield* printJson(report)
      for (const r of report.removedRefs) yield* out(`untagged ${r}`)
      yield* out(
        `removed ${report.removedBlobs} blob(s), ${report.removedLayers} layer dir(s); freed ${
          formatBytes(report.freedBytes)
        }`
      )
    })
).pipe(
  Command.withDescription(
    describe(
      "prune",
      "Remove cached image content that no cached reference reaches; with --all, also images no declared pod uses.",
      [["tank prune", "free unreferenced blobs and layers"], ["tank prune --all", "keep only what declared pods use"]]
    )
  )
)
