// DNS load generator for bench/networkServices.ts, run as its own process inside the bench's
// namespace: `node --import tsx bench/dnsLoad.ts SERVER NAME COUNT WINDOW` → JSON {qps, p50, p99, lost}.
import * as dnsPacket from "dns-packet"
import * as dgram from "node:dgram"
import { performance } from "node:perf_hooks"

const [server, name, countText, windowText] = process.argv.slice(2)
const count = Number(countText), window = Number(windowText)
const socket = dgram.createSocket("udp4")
const sentAt = new Map<number, number>()
const latencies: Array<number> = []
let sent = 0, done = 0, lost = 0, finished = false
const t0 = performance.now()

const send = () => {
  if (finished || sent >= count) return
  const id = sent % 65536
  sent++
  sentAt.set(id, performance.now())
  socket.send(
    dnsPacket.encode({
      id,
      type: "query",
      flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ type: "A", name: name! }]
    }),
    53,
    server!
  )
}
const finish = () => {
  if (finished) return
  finished = true
  clearInterval(sweep)
  const s = latencies.sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? NaN
  process.stdout.write(
    JSON.stringify({ qps: done / ((performance.now() - t0) / 1000), p50: at(0.5), p99: at(0.99), lost }) + "\n"
  )
  socket.close()
}
socket.on("message", (msg) => {
  const id = msg.readUInt16BE(0)
  const at = sentAt.get(id)
  if (at === undefined) return
  sentAt.delete(id)
  latencies.push(performance.now() - at)
  done++
  if (done + lost >= count) return finish()
  send()
})
// Whatever is still unanswered after a second is lost (and replaced, to keep the window full).
const sweep = setInterval(() => {
  const now = performance.now()
  for (const [id, at] of sentAt) {
    if (now - at > 1000) {
      sentAt.delete(id)
      lost++
      send()
    }
  }
  if (done + lost >= count) finish()
}, 100)
sweep.unref()
socket.bind(0, () => {
  for (let i = 0; i < window; i++) send()
})
