/**
 * The server-rendered shell of each page, pure: navigation, a heading, a live-connection status,
 * and the client bundle (which fills in the page from the API). Every value put into the HTML is
 * escaped; the client sets text with textContent only.
 */

export type Page = "pods" | "pod" | "images" | "networks" | "nodes" | "system"

const NAV: ReadonlyArray<readonly [Page, string, string]> = [
  ["pods", "/", "Pods"],
  ["images", "/images", "Images"],
  ["networks", "/networks", "Networks"],
  ["nodes", "/nodes", "Nodes"],
  ["system", "/system", "System"]
]

export const escapeHtml = (s: string): string =>
  s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;" })[c]!)

export interface AssetRefs {
  /** `/assets/app.js?v=<hash>`, or undefined when the client was not built. */
  readonly script: string | undefined
  readonly style: string | undefined
}

export const renderPage = (page: Page, assets: AssetRefs, pod?: string): string => {
  const title = page === "pod" ? `${pod} · Pods` : NAV.find(([p]) => p === page)![2]
  const current: Page = page === "pod" ? "pods" : page
  const nav = NAV.map(([p, href, label]) =>
    `<a href="${href}"${p === current ? " aria-current=\"page\"" : ""}>${label}</a>`
  ).join("")
  const missing = assets.script === undefined
    ? `<p class="notice error">The dashboard's client is not built: run <code>npm run build</code> and restart the agent.</p>`
    : ""
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="color-scheme" content="light dark">
<title>${escapeHtml(title)} · Tank</title>
<link rel="icon" href="data:,">
${assets.style ? `<link rel="stylesheet" href="${assets.style}">` : ""}
</head>
<body data-page="${page}"${pod !== undefined ? ` data-pod="${escapeHtml(pod)}"` : ""}>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
<a class="brand" href="/">Tank</a>
<nav aria-label="Sections">${nav}</nav>
<span id="conn" class="conn" role="status" aria-live="polite"></span>
</header>
<main id="main" tabindex="-1">
<h1>${escapeHtml(page === "pod" ? pod! : title)}</h1>
${missing}<noscript><p class="notice">The dashboard needs JavaScript; the JSON API works without it (docs/web.md).</p></noscript>
</main>
${assets.script ? `<script type="module" src="${assets.script}"></script>` : ""}
</body>
</html>
`
}

/** The answer without a token: what to do, never why in detail. */
export const unauthorizedPage = (): string =>
  `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Token needed · Tank</title></head>
<body><main><h1>Token needed</h1>
<p>Open the dashboard with the URL <code>tank daemon</code> printed when it started, or print it again with
<code>tank web url</code>.</p></main></body></html>
`

export const SECURITY_HEADERS: Readonly<Record<string, string>> = {
  "content-security-policy": "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; " +
    "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
  "x-content-type-options": "nosniff",
  "x-frame-options": "DENY",
  "referrer-policy": "no-referrer",
  "cross-origin-opener-policy": "same-origin",
  "cross-origin-resource-policy": "same-origin"
}
