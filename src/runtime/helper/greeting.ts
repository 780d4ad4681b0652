/**
 * The first line a monitor sends on a new connection: its hello, or — when every connection slot
 * is taken — a `busy` error reply instead, after which it closes the connection (PROTOCOL.md §4).
 * Both the control client and attach read it here, so a busy monitor is never mistaken for a gone
 * or broken one.
 */
import { Either, Schema } from "effect"
import { HelperProtocolError, MonitorBusy } from "./errors.js"
import { Hello, PROTOCOL_VERSION, ReplyError } from "./schema.js"

const Busy = Schema.Struct({
  ok: Schema.Literal(false),
  error: Schema.extend(ReplyError, Schema.Struct({ code: Schema.Literal("busy") }))
})

const parse = (line: string): unknown => {
  try {
    return JSON.parse(line)
  } catch {
    return undefined
  }
}

/** The hello's fields, MonitorBusy, or HelperProtocolError for anything else (pure). */
export const greeting = (
  socketPath: string,
  line: string
): Either.Either<typeof Hello.Type["hello"], MonitorBusy | HelperProtocolError> => {
  const json = parse(line)
  const busy = Schema.decodeUnknownOption(Busy)(json)
  if (busy._tag === "Some") {
    const slots = busy.value.error.slots
    return Either.left(new MonitorBusy(slots === undefined ? { socketPath } : { socketPath, slots }))
  }
  const hello = Schema.decodeUnknownOption(Hello)(json)
  return hello._tag === "Some" && hello.value.hello.protocol === PROTOCOL_VERSION
    ? Either.right(hello.value.hello)
    : Either.left(new HelperProtocolError({ expected: `hello with protocol ${PROTOCOL_VERSION}`, received: line }))
}
