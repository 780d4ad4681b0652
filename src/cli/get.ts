/**
 * `tank get [POD] [-o yaml|json]`: the desired spec(s) in canonical form (every default spelled out),
 * ready to edit and `tank apply -f -` again. A pod whose stored record is unreadable has no spec to
 * print: `tank get POD` fails naming the record; `tank get` prints the others and names it on stderr.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option } from "effect"
import { dataDirOption, describe, podArg, selectorOption, withStore } from "./common.js"
import { printJson, printYaml, printYamlDocs } from "./output.js"

const outputOption = Options.choice("output", ["yaml", "json"]).pipe(
  Options.withAlias("o"),
  Options.withDescription("Output format."),
  Options.withDefault("yaml" as const)
)

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
        const asJson = json || output === "json"
        if (Option.isSome(pod)) {
          const spec = encodePod(yield* Api.get(pod.value))
          return yield* asJson ? printJson(spec) : printYaml(spec)
        }
        const { invalid, pods } = yield* Effect.flatMap(Store, (s) => s.list)
        const { matches, parseSelector } = yield* Effect.promise(() => import("../spec/selector.js"))
        const sel = Option.isSome(selector) ? yield* parseSelector(selector.value) : []
        const specs = pods.filter((p) => matches(sel, p.spec.labels)).map((p) => encodePod(p.spec))
        yield* asJson ? printJson(specs) : printYamlDocs(specs)
        yield* warnInvalid(invalid)
      }), { readOnly: true })
).pipe(
  Command.withDescription(describe("get", "Print desired pod specs as stored (canonical form, defaults filled in).", [
    ["tank get web", "the spec of pod \"web\" as YAML"],
    ["tank get -o json -l app=web", "the pods labelled app=web as a JSON array"],
    ["tank get web > web.yaml && $EDITOR web.yaml && tank apply -f web.yaml", "edit a pod in place"]
  ]))
)
