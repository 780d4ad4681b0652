/**
 * `tank pull IMAGE`: fetch an image into the data dir's cache, with a progress bar per layer on a
 * terminal (plain lines otherwise). `tank images` lists the cache; `tank prune` frees what no pod uses.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option, Stream } from "effect"
import { dataDirOption, describe, loadConfig, out } from "./common.js"
import { imagesLayer } from "./imagesLayer.js"
import { PullView } from "./pullView.js"
import { write } from "./stdio.js"

/** Redraws the layer lines in place: move up over the previous drawing, clear and rewrite each line. */
const ttyDrawer = () => {
  let drawn = 0
  return (lines: ReadonlyArray<string>) => {
    const up = drawn > 0 ? `\x1b[${drawn}A` : ""
    drawn = lines.length
    return write("stdout", up + lines.map((l) => `\x1b[2K${l}\n`).join(""))
  }
}

export const pull = Command.make(
  "pull",
  {
    dataDir: dataDirOption,
    platform: Options.text("platform").pipe(
      Options.withPseudoName("OS/ARCH[/VARIANT]"),
      Options.withDescription("The platform to pull from a multi-platform image (default: this host's)."),
      Options.optional
    ),
    refresh: Options.boolean("refresh").pipe(
      Options.withDescription("Fetch manifests and blobs again even when cached (re-verified).")
    ),
    image: Args.text({ name: "IMAGE" }).pipe(
      Args.withDescription("An image reference: host[:port]/repo[:tag|@digest].")
    )
  },
  ({ dataDir, image, platform, refresh }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      const { Images, layer } = yield* imagesLayer(config)
      const view = new PullView()
      const tty = process.stdout.isTTY === true
      const draw = ttyDrawer()
      let header = ""
      yield* Effect.flatMap(Images.Images, (images) =>
        images.pullWithProgress(image, {
          ...(Option.isSome(platform) ? { platform: platform.value } : {}),
          ...(refresh ? { refresh: true } : {})
        }).pipe(
          Stream.runForEach((e) =>
            Effect.gen(function*() {
              const line = view.update(e)
              if (!tty) return line !== undefined ? yield* out(line) : undefined
              if (e._tag === "Resolved") {
                header = line ?? ""
                yield* out(header)
              }
              if (e._tag === "Done") {
                yield* draw(view.lines())
                return yield* out(line ?? "")
              }
              yield* draw(view.lines())
            })
          )
        )).pipe(Effect.provide(layer))
    })
).pipe(
  Command.withDescription(
    describe("pull", "Pull an image into Tank's cache (the agent pulls on demand too; this warms the cache).", [
      ["tank pull 127.0.0.1:5000/tank/busybox:latest", "from a local registry (loopback registries may be plain HTTP)"],
      ["tank pull --platform linux/arm64 registry.example/app:1.2", "another platform"],
      ["tank pull --refresh registry.example/app:latest", "re-check the registry for a moved tag"]
    ], "Registries, credentials and CAs come from the config file (registries:) and dockerConfig.")
  )
)
