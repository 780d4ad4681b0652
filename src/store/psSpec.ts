/**
 * The part of a stored spec `tank ps` shows, validated by a narrow Schema (the quick path's reader,
 * psReader.ts): the name, the labels, each container's name, image and whether it has readiness or
 * startup probes, and the published ports — each by the Pod's own rules (spec/shown.ts, fields.ts).
 * Decoding a whole Pod in a fresh process costs ~60 ms (the parsers of its ~100 schemas and their
 * garbage): most of what `tank ps` did above Node's own start. So a row that is bad only in a field
 * ps does not show lists with what it shows, while `tank status`, `get`, `doctor` and the agent
 * (which decode the whole Pod) call it invalid. Every row Tank writes passed the whole schema, so
 * this reads the same values from them (the defaults below are the Pod's).
 */
import { Either, Option, ParseResult, Schema } from "effect"
import { ContainerName, PodName } from "../spec/fields.js"
import { formatPath } from "../spec/issuePath.js"
import { ImageSource, Labels, PortMapping } from "../spec/shown.js"
import { parseJsonText } from "./layout.js"
import { reasonOf } from "./Store.js"

// Only whether a probe is there matters to ps (the READY column).
const Probe = Schema.optionalWith(Schema.Unknown, { exact: true })

const Container = Schema.Struct({
  name: ContainerName,
  image: ImageSource,
  readinessProbe: Probe,
  startupProbe: Probe
})

const LabelsRead = Schema.Record({ key: Schema.String, value: Schema.String })

/** What ps reads of a spec; a decoded Pod is one (psList.ts takes either). */
export const PsSpec = Schema.Struct({
  name: PodName,
  // As the Pod's: `{}` reads as no labels (-o json prints `labels` only for a pod that has some).
  labels: Schema.optionalToOptional(Labels, LabelsRead, {
    decode: Option.filter((l) => Object.keys(l).length > 0),
    encode: (o) => o
  }),
  containers: Schema.Array(Container).pipe(
    Schema.filter((cs) => cs.length > 0 ? true : "a pod needs at least one container")
  ),
  // The Pod's default is "none": absent reads as no ports either way.
  network: Schema.optionalWith(
    Schema.Union(
      Schema.Literal("none", "host"),
      Schema.Struct({ ports: Schema.optionalWith(Schema.Array(PortMapping), { exact: true }) })
    ),
    { exact: true }
  )
})
export type PsSpec = typeof PsSpec.Type

const decode = Schema.decodeUnknownEither(PsSpec, { errors: "all" })

/** A stored spec's text as ps's view of it, or why not (each bad field named). */
export const psSpecOf = (text: string): Either.Either<PsSpec, string> =>
  parseJsonText(text).pipe(
    Either.flatMap((value) =>
      Either.mapLeft(decode(value), (e) =>
        reasonOf(
          ParseResult.ArrayFormatter.formatErrorSync(e)
            .map((i) => `${formatPath(i.path) || "(root)"}: ${i.message}`)
            .join("; ")
        ))
    )
  )
