/**
 * `tank get [POD] [-o yaml|json|kube]`: the desired spec(s) in canonical form (every default spelled
 * out), ready to edit and `tank apply -f -` again; `-o kube` as Kubernetes Pod manifests (src/kube). A pod whose stored record is unreadable has no spec to
 * print: `tank get POD` fails naming the record; `tank get` prints the others and names it on stderr.
 */
import * as Args from "@effect/cli/Args"
import * as Command from "@effect/cli/Command"
import * as Options from "@effect/cli/Options"
import { Effect, Option, Stream } from "effect"
import type { Pod } from "../spec/Pod.js"
import { dataDirOption, describe, err, out, podArg, selectorOption, withStore } from "./common.js"
import { type Format, formatOf, FORMATS, loadYaml, printListing, printYaml, printYamlDocs } from "./output.js"
import { renderTable } from "./table.js"

/** The listing formats, and `kube`: Kubernetes `v1 Pod` manifests (YAML) that `tank apply -f` reads back. */
const getOutput = Options.choice("output", [...FORMATS, "kube"] as const).pipe(
  Options.withAlias("o"),
  Options.withPseudoName("FORMAT"),
  Options.withDescription(
    "table, wide, json, yaml, name, or kube (a Kubernetes v1 Pod manifest; Tank-only fields in its tank/extra annotation)."
  ),
  Options.optional
)

export const get = Command.make(
  "get",
  {
    dataDir: dataDirOption,
    output: getOutput,
    json: Options.boolean("json").pipe(Options.withDescription("Same as -o json.")),
    selector: selectorOption,
    watch: Options.boolean("watch").pipe(
      Options.withAlias("w"),
      Options.withDescription("Then print each spec change as it is stored (Ctrl-C stops).")
    ),
    pod: podArg.pipe(Args.withDescription("A pod name (default: every pod)."), Args.optional)
  },
  ({ dataDir, json, output, pod, selector, watch }) =>
    withStore(dataDir, () =>
      Effect.gen(function*() {
        const [Api, { encodePod: encodeTank }, { Store }, { warnInvalid }, { toKube }] = yield* Effect.promise(() =>
          Promise.all([
            import("../api/Api.js"),
            import("../spec/decode.js"),
            import("../store/Store.js"),
            import("./ps.js"),
            import("../kube/toKube.js")
          ])
        )
        // -o kube is YAML of the manifests instead of the specs.
        const kube = !json && Option.contains(output, "kube")
        const encodePod = (p: Pod): unknown => kube ? toKube(p) : encodeTank(p)
        // Specs read best as YAML: the default here; table/wide are a NAME, IMAGES, LABELS summary.
        const format = formatOf({ json, output: Option.filter(output, (o): o is Format => o !== "kube") }, "yaml")
        const summary = (pods: ReadonlyArray<Pod>) => () =>
          renderTable(
            ["NAME", "IMAGES", "LABELS"],
            pods.map((p) => [
              p.name,
              p.containers.map((c) => typeof c.image === "string" ? c.image : `rootfs:${c.image.rootfs}`).join(","),
              Object.entries(p.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(",") || "-"
            ])
          )
        const store = yield* Store
        const { matches, parseSelector } = yield* Effect.promise(() => import("../spec/selector.js"))
        const sel = Option.isSome(selector) ? yield* parseSelector(selector.value) : []
        const wanted = (p: Pod) => (Option.isNone(pod) || p.name === pod.value) && matches(sel, p.labels)
        // -w: the feed from the revision read before the listing, so no change between is lost.
        const since = yield* store.revision
        /** `get -w`: each stored spec (or deletion) of the pods asked for, as it happens. */
        const follow = (shown: ReadonlySet<string>) =>
          Effect.gen(function*() {
            const YAML = yield* loadYaml
            const names = new Set(shown)
            const print = (p: Pod) => {
              names.add(p.name)
              const spec = encodePod(p)
              return out(
                format === "json"
                  ? JSON.stringify(spec)
                  : format === "name"
                  ? `pod/${p.name}`
                  : format === "yaml"
                  ? `---\n${YAML.stringify(spec)}`
                  : summary([p])().split("\n")[1]!
              )
            }
            const gone = (name: string) =>
              names.delete(name)
                ? out(format === "json" ? JSON.stringify({ name, deleted: true }) : `# pod/${name} deleted`)
                : Effect.void
            yield* store.watch(since).pipe(Stream.runForEach((c) => {
              switch (c._tag) {
                case "PodPut":
                  return wanted(c.pod.spec) ? print(c.pod.spec) : Effect.void
                case "PodDeleted":
                  return gone(c.name)
                case "PodInvalid":
                  return err(`tank: warning: ${c.record.message} (see tank doctor)`)
                case "Resync":
                  return Effect.forEach(c.pods.filter((p) => wanted(p.spec)), (p) => print(p.spec), { discard: true })
              }
            }))
          })
        if (Option.isSome(pod)) {
          const one = yield* Api.get(pod.value)
          const spec = encodePod(one)
          yield* format === "yaml"
            ? printYaml(spec)
            : printListing(format, { value: spec, names: [`pod/${one.name}`], table: summary([one]) })
          return yield* watch ? follow(new Set([one.name])) : Effect.void
        }
        const { invalid, pods } = yield* store.list
        const picked = pods.filter((p) => wanted(p.spec)).map((p) => p.spec)
        const specs = picked.map(encodePod)
        yield* format === "yaml"
          ? printYamlDocs(specs)
          : printListing(format, { value: specs, names: picked.map((p) => `pod/${p.name}`), table: summary(picked) })
        yield* warnInvalid(invalid)
        if (watch) yield* follow(new Set(picked.map((p) => p.name)))
      }), { readOnly: true })
).pipe(
  Command.withDescription(describe("get", "Print desired pod specs as stored (canonical form, defaults filled in).", [
    ["tank get web", "the spec of pod \"web\" as YAML"],
    ["tank get -o json -l app=web", "the pods labelled app=web as a JSON array"],
    ["tank get web -w -o json", "the spec, then every new spec of it as one JSON line"],
    ["tank get web -o kube", "as a Kubernetes Pod manifest (tank apply -f reads it back)"],
    ["tank get web > web.yaml && $EDITOR web.yaml && tank apply -f web.yaml", "edit a pod in place"]
  ]))
)
