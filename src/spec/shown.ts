/**
 * Parts of a pod's schema (image, published ports, labels), kept apart from Pod.ts, which re-exports
 * them. (They were split out for a narrow reader of what `tank ps` shows; ps now decodes the whole
 * Pod, as the Store does.)
 */
import { Either, Schema } from "effect"
import { parseReference } from "../image/reference.js"
import { AbsPath, Ipv4, labelKeyProblem, labelValueProblem, PositiveInt } from "./fields.js"
import { quoted } from "./printable.js"

/** A local rootfs is an overlayfs lower directory, whose option syntax has no room for ':' or ','. */
export const ImageRootfs = Schema.Struct({
  rootfs: AbsPath("rootfs path").pipe(
    Schema.filter((p) => /[:,]/.test(p) ? `rootfs path ${quoted(p)} must not contain ':' or ','` : true)
  )
})
/**
 * An OCI reference string ("busybox", "ghcr.io/o/a:tag", "host:5000/a@sha256:...") or a local rootfs.
 * Parsed as the puller will (repository at most 255 characters, tag and digest syntax).
 */
export const ImageSource = Schema.Union(
  Schema.String.pipe(
    Schema.filter((s) => {
      if (!(s.trim() === s && s.length > 0 && s.length <= 1024 && !/[\s\0]/.test(s))) {
        return `image reference ${quoted(s)} must be non-empty, at most 1024 characters, without whitespace`
      }
      const ref = parseReference(s)
      return Either.isRight(ref) ? true : `image reference ${quoted(s)}: ${ref.left.reason}`
    })
  ),
  ImageRootfs
).annotations({ identifier: "Image" })
export type ImageSource = typeof ImageSource.Type

/** A port of a bridge pod published on the host (DNAT), like `docker run -p hostIP:hostPort:containerPort`. */
export const PortMapping = Schema.Struct({
  containerPort: PositiveInt("containerPort", 65535),
  hostPort: PositiveInt("hostPort", 65535),
  protocol: Schema.optionalWith(
    Schema.Literal("tcp", "udp").annotations({ message: () => `protocol must be "tcp" or "udp"` }),
    { default: () => "tcp" as const }
  ),
  /** Only connections to this host address (default: every address of the host, loopback included). */
  hostIP: Schema.optionalWith(Ipv4, { exact: true })
}).annotations({ identifier: "PortMapping" })
export type PortMapping = typeof PortMapping.Type

/**
 * Node labels a pod requires (cluster mode): every pair must be among the node's labels. Keys are
 * checked by a filter for the same reason as env names (see `Env` in Pod.ts).
 */
const LabelMap = Schema.Record({
  key: Schema.String.pipe(Schema.filter((k) => k !== "__proto__")),
  value: Schema.String.pipe(Schema.filter((v) => labelValueProblem(v) ?? true))
}).pipe(
  Schema.filter((sel) => {
    const issues = Object.keys(sel).flatMap((k) => {
      const problem = labelKeyProblem(k)
      return problem === undefined ? [] : [{ path: [k], message: problem }]
    })
    return issues.length === 0 ? true : issues
  })
)
export const NodeSelector = LabelMap.annotations({ identifier: "NodeSelector" })
/** A pod's own labels (the same rules), picked by `-l` selectors (src/spec/selector.ts). */
export const Labels = LabelMap.annotations({ identifier: "Labels" })
