/**
 * Who may use the dashboard (pure): the token (bearer, cookie, or once in a page URL), the Origin
 * of state-changing requests and WebSocket upgrades, the Host of a loopback listener, and the
 * constant-time comparison.
 */
import { assert, describe, it } from "@effect/vitest"
import { type AuthContext, cookieName, decide, parseCookies, type RequestFacts } from "../../src/web/auth.js"
import { tokenMatches } from "../../src/web/token.js"

const token = "A".repeat(43)
const ctx: AuthContext = { token, secure: false, loopback: true, port: 4400 }
const host = "127.0.0.1:4400"
const origin = "http://127.0.0.1:4400"
const cookie = `${cookieName(4400)}=${token}`

const req = (over: Partial<RequestFacts> & { headers?: Record<string, string | undefined> }): RequestFacts => ({
  method: "GET",
  url: "/api/pods",
  upgrade: false,
  ...over,
  headers: { host, ...over.headers }
})

const status = (r: RequestFacts, c: AuthContext = ctx) => {
  const v = decide(r, c)
  return v._tag === "Deny" ? v.status : v._tag
}

describe("web auth", () => {
  it("nothing without the token: 401 for the API, pages, SSE and WebSocket upgrades", () => {
    assert.strictEqual(status(req({})), 401)
    assert.strictEqual(status(req({ url: "/" })), 401)
    assert.strictEqual(status(req({ url: "/api/pods/stream" })), 401)
    assert.strictEqual(status(req({ url: "/assets/app.js" })), 401)
    assert.strictEqual(status(req({ url: "/api/pods/web/terminal", upgrade: true, headers: { origin } })), 401)
  })

  it("a wrong token is 401, whichever way it comes", () => {
    const wrong = "B".repeat(43)
    assert.strictEqual(status(req({ headers: { authorization: `Bearer ${wrong}` } })), 401)
    assert.strictEqual(status(req({ headers: { cookie: `${cookieName(4400)}=${wrong}` } })), 401)
    assert.strictEqual(status(req({ url: `/?token=${wrong}` })), 401)
    // Another dashboard's cookie (another port of the same host) is not this one's.
    assert.strictEqual(status(req({ headers: { cookie: `${cookieName(4401)}=${token}` } })), 401)
  })

  it("bearer token: any method, no Origin needed (curl)", () => {
    const bearer = { authorization: `Bearer ${token}` }
    assert.deepStrictEqual(decide(req({ headers: bearer }), ctx), { _tag: "Allow", via: "bearer" })
    assert.strictEqual(status(req({ method: "DELETE", url: "/api/pods/web", headers: bearer })), "Allow")
  })

  it("?token= on a page sets an HttpOnly SameSite=Strict cookie and redirects without the token", () => {
    const v = decide(req({ url: `/pods/web?tab=x&token=${token}` }), ctx)
    assert.strictEqual(v._tag, "SetCookie")
    if (v._tag !== "SetCookie") return
    assert.strictEqual(v.location, "/pods/web?tab=x")
    assert.include(v.cookie, `${cookieName(4400)}=${token}`)
    assert.include(v.cookie, "HttpOnly")
    assert.include(v.cookie, "SameSite=Strict")
    assert.notInclude(v.cookie, "Secure")
    const tls = decide(req({ url: `/?token=${token}` }), { ...ctx, secure: true })
    assert.include(tls._tag === "SetCookie" ? tls.cookie : "", "; Secure")
  })

  it("?token= is not accepted by the API (tokens stay out of URLs the page fetches)", () => {
    assert.strictEqual(status(req({ url: `/api/pods?token=${token}` })), 401)
    assert.strictEqual(status(req({ method: "POST", url: `/?token=${token}`, headers: { origin } })), 401)
  })

  it("cookie: reads pass; writes and upgrades need this dashboard's Origin", () => {
    assert.strictEqual(status(req({ headers: { cookie } })), "Allow")
    assert.strictEqual(status(req({ method: "POST", headers: { cookie, origin } })), "Allow")
    assert.strictEqual(status(req({ method: "POST", headers: { cookie } })), 403)
    assert.strictEqual(status(req({ method: "DELETE", url: "/api/pods/x", headers: { cookie } })), 403)
    assert.strictEqual(status(req({ url: "/api/pods/x/terminal", upgrade: true, headers: { cookie } })), 403)
    assert.strictEqual(
      status(req({ url: "/api/pods/x/terminal", upgrade: true, headers: { cookie, origin } })),
      "Allow"
    )
  })

  it("another Origin is refused, even from another port of the same host, even with a valid token", () => {
    for (const o of ["http://127.0.0.1:8080", "https://127.0.0.1:4400", "http://localhost:4400", "null"]) {
      assert.strictEqual(status(req({ method: "POST", headers: { cookie, origin: o } })), 403, o)
      assert.strictEqual(
        status(req({ upgrade: true, url: "/api/pods/x/terminal", headers: { cookie, origin: o } })),
        403
      )
      assert.strictEqual(status(req({ headers: { authorization: `Bearer ${token}`, origin: o } })), 403)
    }
  })

  it("a loopback listener refuses foreign Host names (DNS rebinding) before the token check", () => {
    assert.strictEqual(status(req({ headers: { host: "evil.example:4400", cookie } })), 403)
    assert.strictEqual(status(req({ headers: { host: undefined, cookie } })), 403)
    for (const h of ["localhost:4400", "[::1]:4400", "127.0.0.2:4400"]) {
      assert.strictEqual(status(req({ headers: { host: h, cookie } })), "Allow", h)
    }
    // Behind TLS on a real address any Host may be used (the certificate names the machine).
    assert.strictEqual(
      status(req({ headers: { host: "box.lan:4400", cookie } }), { ...ctx, loopback: false, secure: true }),
      "Allow"
    )
  })

  it("parses cookies; compares tokens in full", () => {
    assert.deepStrictEqual(parseCookies("a=1; b = 2;c=x=y; a=9"), { a: "1", b: "2", c: "x=y" })
    assert.isTrue(tokenMatches(token, token))
    assert.isFalse(tokenMatches(token, token.slice(0, 42)))
    assert.isFalse(tokenMatches(token, token + "A"))
    assert.isFalse(tokenMatches(token, ""))
    assert.isFalse(tokenMatches(token, undefined))
  })
})
