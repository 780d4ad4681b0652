/**
 * `tank get [POD] [-o yaml|json]`: the desired spec(s) in canonical form (every default spelled out),
 * ready to edit and `tank apply -f -` again. A pod whose stored record is unreadable has no spec to
 * print: `tank get POD` fails naming the record; `tank get` prints the others and names it on stderr.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import type { Pod } from "../spec/Pod.js"
import { dataDirOption, describe, podArg, selectorOption, withStore } from "./common.js"
import { formatOf, outputOption, printListing, printYaml, printYamlDocs } from "./output.js"
import { renderTable } from "./table.js"

export const get = Command.make(
  "get",
  {
    dataDir: dataDirOption,
    output: outputOption,
    json: Options.boolean("json").pipe(Options.withDescription("Same as -o json.")),
    selector: selectorOption,
    pod: podArg.pipe(Args.withDescription("A pod name (default: every pod)."), Args.optional)
  },
  ({ dataDir, json, output, pod, selector }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const [Api, { encodePod }, { Store }, { warnInvalid }] = yield* Effect.promise(() =>
          Promise.all([
            import("../api/Api.js"),
            import("../spec/decode.js"),
            import("../store/Store.js"),
            import("./ps.js")
          ])
        )
        // Specs read best as YAML: the default here; table/wide are a NAME, IMAGES, LABELS summary.
        const format = formatOf({ json, output }, "yaml")
        const summary = (pods: ReadonlyArray<Pod>) => () =>
          renderTable(
            ["NAME", "IMAGES", "LABELS"],
            pods.map((p) => [
              p.name,
              p.containers.map((c) => typeof c.image === "string" ? c.image : `rootfs:${c.image.rootfs}`).join(","),
              Object.entries(p.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-"
            ])
          )
        if (Option.isSome(pod)) {
          const one = yield* Api.get(pod.value)
          const spec = encodePod(one)
          if (format === "yaml") return yield* printYaml(spec)
          return yield* printListing(format, { value: spec, names: [`pod/${one.name}`], table: summary([one]) })
        }
        const { invalid, pods } = yield* Effect.flatMap(Store, (s) => s.list)
        const { matches, parseSelector } = yield* Effect.promise(() => import("../spec/selector.js"))
        const sel = Option.isSome(selector) ? yield* parseSelector(selector.value) : []
        const picked = pods.filter((p) => matches(sel, p.spec.labels)).map((p) => p.spec)
        const specs = picked.map(encodePod)
        yield* format === "yaml"
          ? printYamlDocs(specs)
          : printListing(format, { value: specs, names: picked.map((p) => `pod/${p.name}`), table: summary(picked) })
        yield* warnInvalid(invalid)
      }), { readOnly: true })
).pipe(
  Command.withDescription(describe("get", "Print desired pod specs as stored (canonical form, defaults filled in).", [
    ["tank get web", "the spec of pod \"web\" as YAML"],
    ["tank get -o json -l app=web", "the pods labelled app=web as a JSON array"],
    ["tank get web > web.yaml && $EDITOR web.yaml && tank apply -f web.yaml", "edit a pod in place"]
  ]))
)
