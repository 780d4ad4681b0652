/**
 * Typed failures of the image service. Each names what was being done (the step), to which
 * registry / repository / digest, and why, so a CLI can print it as is and callers can match on `_tag`.
 */
import { Schema } from "effect"

/** Which part of a pull a registry request belonged to. */
export const Step = Schema.Literal("ping", "token", "manifest", "config", "blob")
export type Step = typeof Step.Type

/** The reference string does not follow the Docker/OCI grammar. Nothing was contacted. */
export class InvalidReference extends Schema.TaggedError<InvalidReference>()("InvalidReference", {
  input: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `invalid image reference ${JSON.stringify(this.input)}: ${this.reason}`
  }
}

/** Connection-level failure (refused, reset, closed early, DNS). Retried with backoff. */
export class RegistryUnreachable extends Schema.TaggedError<RegistryUnreachable>()("RegistryUnreachable", {
  registry: Schema.String,
  url: Schema.String,
  step: Step,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.step} request to ${this.url} failed: ${this.code} ${this.reason}`
  }
}

/** No response headers or no body bytes within the configured timeout. Retried with backoff. */
export class RegistryTimeout extends Schema.TaggedError<RegistryTimeout>()("RegistryTimeout", {
  registry: Schema.String,
  url: Schema.String,
  step: Step,
  timeoutMs: Schema.Number
}) {
  override get message(): string {
    return `${this.step} request to ${this.url} timed out (no progress for ${this.timeoutMs} ms)`
  }
}

/** TLS handshake refused: unknown CA, bad certificate, wrong host name. Not retried. */
export class RegistryTlsError extends Schema.TaggedError<RegistryTlsError>()("RegistryTlsError", {
  registry: Schema.String,
  url: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `TLS to ${this.registry} failed (${this.code}: ${this.reason}); give the registry's CA in its config (ca) ` +
      `or mark it insecure`
  }
}

/** An unexpected HTTP status. 5xx, 408 and 429 are retried (429/503 honour Retry-After). */
export class RegistryHttpError extends Schema.TaggedError<RegistryHttpError>()("RegistryHttpError", {
  registry: Schema.String,
  url: Schema.String,
  step: Step,
  status: Schema.Number,
  /** The registry's error text (first 512 bytes of the body), when it sent one. */
  detail: Schema.String,
  /** From `Retry-After`, in milliseconds. */
  retryAfterMs: Schema.optional(Schema.Number)
}) {
  override get message(): string {
    return `${this.step} request to ${this.url} failed with HTTP ${this.status}${this.detail ? `: ${this.detail}` : ""}`
  }
}

/** The registry refused our credentials (or asked for some and we have none). */
export class Unauthorized extends Schema.TaggedError<Unauthorized>()("Unauthorized", {
  registry: Schema.String,
  repository: Schema.String,
  status: Schema.Number,
  reason: Schema.String
}) {
  override get message(): string {
    return `access to ${this.registry}/${this.repository} denied (HTTP ${this.status}): ${this.reason}`
  }
}

/**
 * The registry's Bearer challenge names a token service Tank will not send credentials to: plain
 * HTTP to a host that is not loopback (and not marked insecure in its own registries entry), or no
 * http(s) URL at all. Nothing was sent to the realm. Not retried.
 */
export class UntrustedTokenRealm extends Schema.TaggedError<UntrustedTokenRealm>()("UntrustedTokenRealm", {
  registry: Schema.String,
  realm: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.registry} sends clients to the token service ${this.realm}, refused: ${this.reason}`
  }
}

/** The manifest (tag or digest) does not exist in the repository. */
export class ImageNotFound extends Schema.TaggedError<ImageNotFound>()("ImageNotFound", {
  ref: Schema.String
}) {
  override get message(): string {
    return `image ${this.ref} not found in its registry`
  }
}

/** A blob named by a manifest is missing from the registry. */
export class BlobNotFound extends Schema.TaggedError<BlobNotFound>()("BlobNotFound", {
  ref: Schema.String,
  digest: Schema.String
}) {
  override get message(): string {
    return `blob ${this.digest} of ${this.ref} not found in its registry`
  }
}

/** A manifest kind we do not pull (Docker schema1, artifacts, unknown media types). */
export class UnsupportedManifest extends Schema.TaggedError<UnsupportedManifest>()("UnsupportedManifest", {
  ref: Schema.String,
  mediaType: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `${this.ref}: unsupported manifest (${this.mediaType || "no media type"}): ${this.reason}`
  }
}

/** An index / manifest list has no entry for the wanted platform. */
export class NoMatchingPlatform extends Schema.TaggedError<NoMatchingPlatform>()("NoMatchingPlatform", {
  ref: Schema.String,
  wanted: Schema.String,
  available: Schema.Array(Schema.String)
}) {
  override get message(): string {
    return `${this.ref} has no image for ${this.wanted} (available: ${this.available.join(", ") || "none"})`
  }
}

/** Content did not hash to the digest that named it. Nothing was kept. Not retried. */
export class DigestMismatch extends Schema.TaggedError<DigestMismatch>()("DigestMismatch", {
  what: Schema.String,
  expected: Schema.String,
  actual: Schema.String
}) {
  override get message(): string {
    return `${this.what}: content hashes to ${this.actual}, expected ${this.expected}`
  }
}

/** Fewer bytes arrived than the descriptor announced (a cut connection or a lying server). Retried. */
export class BlobTruncated extends Schema.TaggedError<BlobTruncated>()("BlobTruncated", {
  digest: Schema.String,
  expected: Schema.Number,
  received: Schema.Number
}) {
  override get message(): string {
    return `blob ${this.digest}: got ${this.received} of ${this.expected} bytes`
  }
}

/** A manifest, config or blob is larger than allowed (or than its descriptor said). Not retried. */
export class ContentTooLarge extends Schema.TaggedError<ContentTooLarge>()("ContentTooLarge", {
  what: Schema.String,
  limit: Schema.Number
}) {
  override get message(): string {
    return `${this.what} exceeds ${this.limit} bytes`
  }
}

/** JSON from a registry or the cache does not match its schema. */
export class InvalidContent extends Schema.TaggedError<InvalidContent>()("InvalidContent", {
  what: Schema.String,
  issues: Schema.String
}) {
  override get message(): string {
    return `${this.what} is malformed: ${this.issues}`
  }
}

/** `offline` pull of something the cache does not hold. */
export class NotCached extends Schema.TaggedError<NotCached>()("NotCached", {
  ref: Schema.String,
  missing: Schema.String
}) {
  override get message(): string {
    return `${this.ref} is not in the image cache (${this.missing}) and offline mode forbids pulling it`
  }
}

/** A file system operation on the cache failed. */
export class CacheError extends Schema.TaggedError<CacheError>()("CacheError", {
  op: Schema.String,
  path: Schema.String,
  code: Schema.String,
  reason: Schema.String
}) {
  override get message(): string {
    return `image cache: ${this.op} ${this.path} failed: ${this.code} ${this.reason}`
  }
}

/** The extraction module refused or failed a layer; its error is kept as the cause. */
export class LayerExtractFailed extends Schema.TaggedError<LayerExtractFailed>()("LayerExtractFailed", {
  digest: Schema.String,
  reason: Schema.String,
  cause: Schema.Defect
}) {
  override get message(): string {
    return `extracting layer ${this.digest} failed: ${this.reason}`
  }
}

/** Errors of talking to a registry. */
export type RegistryError =
  | RegistryUnreachable
  | RegistryTimeout
  | RegistryTlsError
  | RegistryHttpError
  | Unauthorized
  | UntrustedTokenRealm
  | ImageNotFound
  | BlobNotFound
  | UnsupportedManifest
  | NoMatchingPlatform
  | DigestMismatch
  | BlobTruncated
  | ContentTooLarge
  | InvalidContent

/** Everything `Images.pull` can fail with. */
export type PullError = RegistryError | InvalidReference | NotCached | CacheError | LayerExtractFailed

/** Failures worth another attempt: the next try may well succeed. */
export const isTransient = (e: { readonly _tag: string }): boolean => {
  switch (e._tag) {
    case "RegistryUnreachable":
    case "RegistryTimeout":
    case "BlobTruncated":
      return true
    case "RegistryHttpError": {
      const status = (e as RegistryHttpError).status
      return status >= 500 || status === 429 || status === 408
    }
    default:
      return false
  }
}
