/**
 * Telling manifest kinds apart and decoding them. Pure.
 */
import { Either, ParseResult, Schema } from "effect"
import { InvalidContent, UnsupportedManifest } from "../errors.js"
import { ImageIndex, ImageManifest, isIndexType, isManifestType, ManifestProbe, MediaType } from "./oci.js"

export type ParsedManifest =
  | { readonly kind: "index"; readonly mediaType: string; readonly index: ImageIndex }
  | { readonly kind: "manifest"; readonly mediaType: string; readonly manifest: ImageManifest }

const decodeJson = <A, I>(schema: Schema.Schema<A, I>, bytes: Uint8Array, what: string) => {
  let json: unknown
  try {
    json = JSON.parse(Buffer.from(bytes).toString("utf8"))
  } catch (e) {
    return Either.left(new InvalidContent({ what, issues: `not JSON: ${(e as Error).message}` }))
  }
  return Schema.decodeUnknownEither(schema)(json).pipe(
    Either.mapLeft((e) => new InvalidContent({ what, issues: ParseResult.TreeFormatter.formatErrorSync(e) }))
  )
}

export const decodeJsonBytes = decodeJson

/**
 * Decides what a manifest body is, from its `mediaType` field or else the response's Content-Type
 * (OCI makes the field optional), falling back to its shape. Schema1 is refused with a clear reason.
 */
export const parseManifest = (
  bytes: Uint8Array,
  contentType: string | undefined,
  ref: string
): Either.Either<ParsedManifest, UnsupportedManifest | InvalidContent> =>
  Either.gen(function*() {
    const probe = yield* decodeJson(ManifestProbe, bytes, `manifest of ${ref}`)
    const header = contentType?.split(";")[0]?.trim() ?? ""
    const mediaType = probe.mediaType ?? header
    if (
      probe.schemaVersion === 1 || mediaType === MediaType.dockerSchema1 || mediaType === MediaType.dockerSchema1Signed
    ) {
      return yield* Either.left(
        new UnsupportedManifest({
          ref,
          mediaType: mediaType || MediaType.dockerSchema1,
          reason: "Docker schema1 manifests are deprecated and not supported; push the image again with a " +
            "current client (schema2 or OCI)"
        })
      )
    }
    const looksLikeIndex = probe.manifests !== undefined && probe.layers === undefined
    if (isIndexType(mediaType) || (!isManifestType(mediaType) && looksLikeIndex)) {
      const index = yield* decodeJson(ImageIndex, bytes, `image index of ${ref}`)
      return { kind: "index" as const, mediaType: mediaType || MediaType.ociIndex, index }
    }
    if (isManifestType(mediaType) || (mediaType === "" && probe.layers !== undefined && probe.config !== undefined)) {
      const manifest = yield* decodeJson(ImageManifest, bytes, `image manifest of ${ref}`)
      return { kind: "manifest" as const, mediaType: mediaType || MediaType.ociManifest, manifest }
    }
    return yield* Either.left(
      new UnsupportedManifest({ ref, mediaType, reason: "not an image manifest or index" })
    )
  })
