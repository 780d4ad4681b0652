/**
 * `tank save POD-or-IMAGE... -o FILE` and `tank load -i FILE`: cached images to and from tarballs
 * (OCI layout; docker-archive too on load), as `docker save` / `docker load`. Offline: a machine
 * without a registry gets its images from a file (see src/image/archive/).
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import * as path from "node:path"
import { CliExit, dataDirOption, describe, loadConfig, out, withStore } from "./common.js"

const platformOption = Options.text("platform").pipe(
  Options.withPseudoName("OS/ARCH[/VARIANT]"),
  Options.withDescription("The platform taken from multi-platform images (default: this host's)."),
  Options.optional
)

const cacheDir = (dataDir: string) => path.join(dataDir, "images")

export const load = Command.make(
  "load",
  {
    dataDir: dataDirOption,
    platform: platformOption,
    input: Options.file("input", { exists: "yes" }).pipe(
      Options.withAlias("i"),
      Options.withDescription("The tarball: an OCI image layout or a docker-archive (`docker save`).")
    )
  },
  ({ dataDir, input, platform }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      const [archive, { DATA_DIR_MARKERS, ensurePrivateDir }] = yield* Effect.promise(() =>
        Promise.all([import("../image/archive/archive.js"), import("../config/privateDir.js")])
      )
      yield* ensurePrivateDir(config.dataDir, DATA_DIR_MARKERS)
      const loaded = yield* archive.load(path.resolve(input), {
        cacheDir: cacheDir(config.dataDir),
        platform: Option.getOrUndefined(platform)
      })
      for (const image of loaded) yield* out(`loaded ${image.ref} (${image.manifestDigest})`)
    })
).pipe(Command.withDescription(describe(
  "load",
  "Load images from a tarball into the cache (OCI layout or docker-archive), every blob verified.",
  [["tank load -i busybox.tar", "the images it names, ready for pods"]]
)))

export const save = Command.make(
  "save",
  {
    dataDir: dataDirOption,
    platform: platformOption,
    output: Options.file("output").pipe(
      Options.withAlias("o"),
      Options.withDescription("The tarball to write (an OCI image layout with docker's manifest.json).")
    ),
    names: Args.text({ name: "POD-or-IMAGE" }).pipe(
      Args.withDescription("A declared pod (its containers' images) or a cached image reference."),
      Args.atLeast(1)
    )
  },
  ({ dataDir, names, output, platform }) =>
    Effect.gen(function*() {
      const config = yield* loadConfig(dataDir)
      const { Store } = yield* Effect.promise(() => import("../store/Store.js"))
      const pods = yield* withStore(dataDir, () => Effect.flatMap(Store, (s) => s.list), { readOnly: true })
      const refs = new Set<string>()
      for (const name of names) {
        const pod = pods.pods.find((p) => p.spec.name === name)?.spec
        if (pod === undefined) {
          refs.add(name)
          continue
        }
        const images = [...pod.initContainers, ...pod.containers].flatMap((c) =>
          typeof c.image === "string" ? [c.image] : []
        )
        if (images.length === 0) return yield* new CliExit({ code: 1, message: `pod "${name}" uses no image` })
        for (const i of images) refs.add(i)
      }
      const archive = yield* Effect.promise(() => import("../image/archive/archive.js"))
      yield* archive.save([...refs], path.resolve(output), {
        cacheDir: cacheDir(config.dataDir),
        platform: Option.getOrUndefined(platform)
      })
      yield* out(`saved ${[...refs].join(", ")} to ${output}`)
    })
).pipe(Command.withDescription(describe(
  "save",
  "Write cached images (named, or those a pod uses) to a tarball that `tank load` and `docker load` read.",
  [["tank save web -o web.tar", "the images of pod web"], [
    "tank save busybox:latest -o busybox.tar",
    "one image"
  ]]
)))
