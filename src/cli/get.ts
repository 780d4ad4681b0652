/**
 * `tank get [POD] [-o yaml|json]`: the desired spec(s) in canonical form (every default spelled out),
 * ready to edit and `tank apply -f -` again. A pod whose stored record is unreadable has no spec to
 * print: `tank get POD` fails naming the record; `tank get` prints the others and names it on stderr.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import { dataDirOption, describe, podArg, withStore } from "./common.js"
import { printJson, printYaml, printYamlDocs } from "./output.js"

const outputOption = Options.choice("output", ["yaml", "json", "kube"]).pipe(
  Options.withAlias("o"),
  Options.withDescription("Output format (kube: a Kubernetes v1 Pod manifest, YAML, that tank apply -f reads back)."),
  Options.withDefault("yaml" as const)
)

export const get = Command.make(
  "get",
  {
    dataDir: dataDirOption,
    output: outputOption,
    json: Options.boolean("json").pipe(Options.withDescription("Same as -o json.")),
    pod: podArg.pipe(Args.withDescription("A pod name (default: every pod)."), Args.optional)
  },
  ({ dataDir, json, output, pod }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const [Api, { encodePod }, { Store }, { warnInvalid }, { toKube }] = yield* Effect.promise(() =>
          Promise.all([
            import("../api/Api.js"),
            import("../spec/decode.js"),
            import("../store/Store.js"),
            import("./ps.js"),
            import("../kube/toKube.js")
          ])
        )
        const asKube = output === "kube" && !json
        const asJson = json || output === "json"
        if (Option.isSome(pod)) {
          const got = yield* Api.get(pod.value)
          if (asKube) return yield* printYaml(toKube(got))
          const spec = encodePod(got)
          return yield* asJson ? printJson(spec) : printYaml(spec)
        }
        const { invalid, pods } = yield* Effect.flatMap(Store, (s) => s.list)
        const specs = pods.map((p) => asKube ? toKube(p.spec) : encodePod(p.spec))
        yield* asJson ? printJson(specs) : printYamlDocs(specs)
        yield* warnInvalid(invalid)
      }), { readOnly: true })
).pipe(
  Command.withDescription(describe("get", "Print desired pod specs as stored (canonical form, defaults filled in).", [
    ["tank get web", "the spec of pod \"web\" as YAML"],
    ["tank get -o json", "every pod as a JSON array"],
    ["tank get web -o kube", "as a Kubernetes Pod manifest (Tank-only fields in the tank/extra annotation)"],
    ["tank get web > web.yaml && $EDITOR web.yaml && tank apply -f web.yaml", "edit a pod in place"]
  ]))
)
