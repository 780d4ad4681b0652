/**
 * Shared setup for the image tests: a plain registry with every fixture pushed, a fresh cache per
 * test, and checks that a cache holds nothing partial or corrupt.
 */
import { Context, Effect, Layer } from "effect"
import { createHash } from "node:crypto"
import * as fs from "node:fs"
import * as path from "node:path"
import { Images, type ImagesOptions, layer } from "../../src/image/Images.js"
import { buildFixtures, type FixtureRefs, type Fixtures, pushFixtures } from "../support/fixtureImages.js"
import { type Registry, startRegistry } from "../support/registry.js"
import { tmpDir } from "../support/tmp.js"

export class FixtureRegistry extends Context.Tag("test/FixtureRegistry")<FixtureRegistry, {
  readonly registry: Registry
  readonly refs: FixtureRefs
  readonly fixtures: Fixtures
}>() {}

/** A plain-HTTP registry on 127.0.0.1 holding every fixture image. */
export const FixtureRegistryLive = Layer.scoped(
  FixtureRegistry,
  Effect.gen(function*() {
    const registry = yield* startRegistry()
    const refs = yield* Effect.promise(() => pushFixtures(registry.host))
    const fixtures = yield* Effect.promise(() => buildFixtures())
    return { registry, refs, fixtures }
  })
).pipe(Layer.orDie)

/** Fast retries, so fault tests take milliseconds. */
export const fastRetry = { retries: 3, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 2_000 }

/** An Images service on a fresh temp cache, alive until the test's scope ends. */
export const imagesIn = (options: Partial<ImagesOptions> = {}) =>
  Effect.gen(function*() {
    const cacheDir = options.cacheDir ?? (yield* tmpDir("tank-images-"))
    const ctx = yield* Layer.build(layer({ retry: fastRetry, ...options, cacheDir }))
    return { images: Context.get(ctx, Images), cacheDir }
  })

/** Everything wrong a cache could hold: tmp leftovers, blobs not matching their name. */
export const cacheProblems = (cacheDir: string): Array<string> => {
  const problems: Array<string> = []
  const tmp = path.join(cacheDir, "tmp")
  for (const n of fs.existsSync(tmp) ? fs.readdirSync(tmp) : []) problems.push(`tmp/${n}`)
  const blobs = path.join(cacheDir, "blobs", "sha256")
  for (const n of fs.existsSync(blobs) ? fs.readdirSync(blobs) : []) {
    const hex = createHash("sha256").update(fs.readFileSync(path.join(blobs, n))).digest("hex")
    if (hex !== n) problems.push(`blobs/sha256/${n} hashes to ${hex}`)
  }
  return problems
}

export const blobCount = (cacheDir: string) => fs.readdirSync(path.join(cacheDir, "blobs", "sha256")).length
export const layerDirs = (cacheDir: string) => fs.readdirSync(path.join(cacheDir, "layers", "sha256")).sort()
