/**
 * `tank web url`: the dashboard's URL with its access token, again (the daemon prints it once when
 * it starts). From the running agent's record (`<dataDir>/web.json`), else from the config's
 * `web.listen` when no agent serves it right now.
 */
import * as Command from "@effect/cli/Command"
import { Effect } from "effect"
import { CliExit, dataDirOption, describe, ExitCode, loadConfig, out } from "./common.js"

const url = Command.make("url", { dataDir: dataDirOption }, ({ dataDir }) =>
  Effect.gen(function*() {
    const config = yield* loadConfig(dataDir)
    const Token = yield* Effect.promise(() => import("../web/token.js"))
    const endpoint = Token.readEndpoint(config.dataDir)
    const base = endpoint?.url ??
      (config.web
        ? `${config.web.tls ? "https" : "http"}://${
          config.web.host.includes(":") ? `[${config.web.host}]` : config.web.host
        }:${config.web.port}/`
        : undefined)
    if (base === undefined) {
      return yield* new CliExit({
        code: ExitCode.error,
        message: `no agent serves the web dashboard for ${config.dataDir} (start one: tank daemon --web 127.0.0.1:4400)`
      })
    }
    const token = yield* Token.readToken(config.dataDir).pipe(
      Effect.mapError((e) => new CliExit({ code: ExitCode.error, message: e.message }))
    )
    yield* out(Token.urlWithToken(base, token))
  })).pipe(
    Command.withDescription(
      describe("web url", "Print the web dashboard's URL with its access token.", [
        ["tank web url", "the URL to open (keep it secret: it gives shells in every pod)"],
        ["xdg-open \"$(tank web url)\"", "open it in the browser"]
      ], "Needs read access to the data dir (the token file is 0600). See docs/web.md.")
    )
  )

export const web = Command.make("web").pipe(
  Command.withDescription(describe(
    "web",
    "The web dashboard the agent serves (tank daemon --web 127.0.0.1:4400): `tank web url` prints its URL.",
    [["tank web url", "the URL to open, with the token"]],
    "The dashboard is described in docs/web.md (pages, the JSON/SSE API, curl examples)."
  )),
  Command.withSubcommands([url])
)
