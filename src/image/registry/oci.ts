/**
 * OCI image-spec and Docker schema2 documents as Schemas, and the media types we pull.
 * Unknown fields are ignored (registries add their own); fields that Docker writes as `null`
 * are accepted as absent.
 */
import { Schema } from "effect"

export const MediaType = {
  ociIndex: "application/vnd.oci.image.index.v1+json",
  dockerList: "application/vnd.docker.distribution.manifest.list.v2+json",
  ociManifest: "application/vnd.oci.image.manifest.v1+json",
  dockerManifest: "application/vnd.docker.distribution.manifest.v2+json",
  dockerSchema1: "application/vnd.docker.distribution.manifest.v1+json",
  dockerSchema1Signed: "application/vnd.docker.distribution.manifest.v1+prettyjws",
  ociConfig: "application/vnd.oci.image.config.v1+json",
  dockerConfig: "application/vnd.docker.container.image.v1+json"
} as const

/**
 * Always sent as `Accept`: without it distribution 404s OCI indexes and silently converts Docker
 * schema2 manifests to signed schema1 (reference/infra.md §1).
 */
export const MANIFEST_ACCEPT = [
  MediaType.ociIndex,
  MediaType.dockerList,
  MediaType.ociManifest,
  MediaType.dockerManifest
].join(", ")

export const isIndexType = (t: string) => t === MediaType.ociIndex || t === MediaType.dockerList
export const isManifestType = (t: string) => t === MediaType.ociManifest || t === MediaType.dockerManifest
export const isConfigType = (t: string) => t === MediaType.ociConfig || t === MediaType.dockerConfig

/** Layer media types the extraction module understands (gzip, plain tar, zstd; OCI and Docker names). */
export const LAYER_TYPES: ReadonlySet<string> = new Set([
  "application/vnd.oci.image.layer.v1.tar",
  "application/vnd.oci.image.layer.v1.tar+gzip",
  "application/vnd.oci.image.layer.v1.tar+zstd",
  "application/vnd.oci.image.layer.nondistributable.v1.tar",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
  "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
  "application/vnd.docker.image.rootfs.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
  "application/vnd.docker.image.rootfs.diff.tar"
])

const Digest = Schema.String.pipe(Schema.pattern(/^sha256:[a-f0-9]{64}$/, {
  message: () => "only sha256 digests (64 lower-case hex characters) are supported"
}))

export const Platform = Schema.Struct({
  architecture: Schema.String,
  os: Schema.String,
  variant: Schema.optional(Schema.String),
  "os.version": Schema.optional(Schema.String),
  "os.features": Schema.optional(Schema.Array(Schema.String))
})
export type Platform = typeof Platform.Type

export const Descriptor = Schema.Struct({
  mediaType: Schema.String,
  digest: Digest,
  size: Schema.Number.pipe(Schema.int(), Schema.nonNegative()),
  urls: Schema.optional(Schema.Array(Schema.String)),
  annotations: Schema.optional(Schema.Record({ key: Schema.String, value: Schema.String })),
  platform: Schema.optional(Platform)
})
export type Descriptor = typeof Descriptor.Type

/** OCI image index or Docker manifest list. */
export const ImageIndex = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optional(Schema.String),
  manifests: Schema.Array(Descriptor)
})
export type ImageIndex = typeof ImageIndex.Type

/** OCI image manifest or Docker schema2 manifest. */
export const ImageManifest = Schema.Struct({
  schemaVersion: Schema.Literal(2),
  mediaType: Schema.optional(Schema.String),
  config: Descriptor,
  layers: Schema.Array(Descriptor)
})
export type ImageManifest = typeof ImageManifest.Type

const nullable = <S extends Schema.Schema.Any>(s: S) => Schema.optional(Schema.NullOr(s))
const StringArray = Schema.Array(Schema.String)
const EmptyObjectMap = Schema.Record({ key: Schema.String, value: Schema.Unknown })

/** The `config` section of an image config: what to run and how (OCI image-spec config.md). */
export const ImageRunConfig = Schema.Struct({
  User: nullable(Schema.String),
  ExposedPorts: nullable(EmptyObjectMap),
  Env: nullable(StringArray),
  Entrypoint: nullable(StringArray),
  Cmd: nullable(StringArray),
  Volumes: nullable(EmptyObjectMap),
  WorkingDir: nullable(Schema.String),
  Labels: nullable(Schema.Record({ key: Schema.String, value: Schema.String })),
  StopSignal: nullable(Schema.String),
  /** docker's HEALTHCHECK: kept as found, decoded field by field by src/probes/healthcheck.ts. */
  Healthcheck: nullable(Schema.Unknown)
})
export type ImageRunConfig = typeof ImageRunConfig.Type

/** An OCI / Docker image config blob (`application/vnd.oci.image.config.v1+json`). */
export const ImageConfig = Schema.Struct({
  architecture: Schema.String,
  os: Schema.String,
  variant: Schema.optional(Schema.String),
  created: nullable(Schema.String),
  author: nullable(Schema.String),
  config: nullable(ImageRunConfig),
  rootfs: Schema.Struct({
    type: Schema.String,
    diff_ids: Schema.Array(Digest)
  }),
  history: nullable(Schema.Array(Schema.Struct({
    created: nullable(Schema.String),
    created_by: nullable(Schema.String),
    comment: nullable(Schema.String),
    empty_layer: nullable(Schema.Boolean)
  })))
}).annotations({ identifier: "ImageConfig" })
export type ImageConfig = typeof ImageConfig.Type

/** What a `GET /v2/<repo>/manifests/<ref>` body may be, before we know its kind. */
export const ManifestProbe = Schema.Struct({
  schemaVersion: Schema.Number,
  mediaType: Schema.optional(Schema.String),
  manifests: Schema.optional(Schema.Unknown),
  layers: Schema.optional(Schema.Unknown),
  config: Schema.optional(Schema.Unknown)
})
