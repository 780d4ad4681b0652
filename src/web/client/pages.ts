/** The images, networks, nodes and system pages: small views over the JSON API. */
import { ApiError, getJson, postEvents, send } from "./api.js"
import { confirmAction } from "./dialogs.js"
import { age, bytes, h, main, replace, time } from "./dom.js"

const table = (label: string, head: ReadonlyArray<string>, rows: ReadonlyArray<ReadonlyArray<Node | string>>) =>
  h(
    "div",
    { class: "table-wrap" },
    h(
      "table",
      { "aria-label": label },
      h("thead", {}, h("tr", {}, head.map((c) => h("th", { scope: "col" }, c)))),
      h("tbody", {}, rows.map((r) => h("tr", {}, r.map((c, i) => h("td", { "data-label": head[i]! }, c)))))
    )
  )

const facts = (pairs: ReadonlyArray<readonly [string, string]>) =>
  h("dl", { class: "facts" }, pairs.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v)]))

const failed = (e: unknown) => h("p", { class: "error", role: "alert" }, e instanceof ApiError ? e.message : String(e))

interface ImageRecord {
  readonly ref: string
  readonly platform: string
  readonly manifest: string
  readonly layers: ReadonlyArray<string>
  readonly size: number
  readonly pulledAt: string
}

export const imagesPage = () => {
  const list = h("div", { id: "images-list" })
  const ref = h("input", { id: "pull-ref", placeholder: "registry/name:tag", "aria-label": "Image reference" })
  const pullButton = h("button", { type: "submit" }, "Pull")
  const progress = h("div", { id: "pull-progress", class: "progress", role: "status", "aria-live": "polite" })
  const all = h("input", { type: "checkbox", id: "prune-all" })
  const pruneOut = h("p", { id: "prune-result", role: "status" })
  const load = async () => {
    try {
      const r = await getJson<{ images: ReadonlyArray<ImageRecord> }>("/api/images")
      replace(
        list,
        r.images.length === 0 ? h("p", { class: "empty" }, "The cache is empty.") : table(
          "Images",
          ["Reference", "Platform", "Digest", "Layers", "Size", "Pulled"],
          r.images.map((i) => [
            i.ref,
            i.platform,
            h("code", { title: i.manifest }, i.manifest.replace(/^sha256:/, "").slice(0, 12)),
            String(i.layers.length),
            bytes(i.size),
            `${age(i.pulledAt)} ago`
          ])
        )
      )
    } catch (e) {
      replace(list, failed(e))
    }
  }
  const pullForm = h("form", { class: "toolbar" }, ref, pullButton)
  pullForm.addEventListener("submit", async (e) => {
    e.preventDefault()
    if (!ref.value.trim()) return
    pullButton.disabled = true
    const bars = new Map<string, HTMLProgressElement>()
    const status = h("p", { id: "pull-status" }, `Pulling ${ref.value.trim()}…`)
    replace(progress, status)
    try {
      await postEvents("/api/images/pull", { ref: ref.value.trim() }, (event, d) => {
        if (event === "problem") return replace(status, h("span", { class: "error" }, d.message))
        if (event === "done") {
          for (const bar of bars.values()) bar.value = bar.max
          return replace(status, `Pulled ${d.ref} (${String(d.digest).slice(0, 19)})`)
        }
        if (d._tag === "Resolved") {
          for (const l of d.layers as ReadonlyArray<{ digest: string; size: number }>) {
            const bar = h("progress", { max: l.size, value: 0, "aria-label": `layer ${l.digest.slice(7, 19)}` })
            bars.set(l.digest, bar)
            progress.append(h("div", { class: "layer" }, h("code", {}, l.digest.slice(7, 19)), " ", bar))
          }
        } else if (d._tag === "LayerBytes") bars.get(d.digest)!.value = d.received
        else if (d._tag === "LayerCached" || d._tag === "LayerExtracted") {
          const bar = bars.get(d.digest)
          if (bar) bar.value = bar.max
        }
      })
    } catch (err) {
      replace(progress, failed(err))
    } finally {
      pullButton.disabled = false
      void load()
    }
  })
  const pruneButton = h("button", {
    type: "button",
    class: "danger",
    onclick: async () => {
      const text = all.checked
        ? "Images no declared pod uses are forgotten, and their content removed."
        : "Cached content no image reference reaches is removed."
      if (!await confirmAction("Prune the image cache?", text, "Prune")) return
      try {
        const r = await send<{ removedRefs: ReadonlyArray<string>; removedBlobs: number; freedBytes: number }>(
          "POST",
          "/api/images/prune",
          JSON.stringify({ all: all.checked })
        )
        pruneOut.textContent = `Removed ${r.removedRefs.length} image(s), ${r.removedBlobs} blob(s); freed ${
          bytes(r.freedBytes)
        }.`
      } catch (e) {
        pruneOut.textContent = e instanceof Error ? e.message : String(e)
      }
      void load()
    }
  }, "Prune")
  main().append(
    h("h2", {}, "Pull"),
    pullForm,
    progress,
    h("h2", {}, "Cache"),
    list,
    h("div", { class: "toolbar" }, h("label", { class: "check" }, all, " also images no pod uses"), pruneButton),
    pruneOut
  )
  void load()
}

interface Nic {
  readonly name: string
  readonly mode: string
  readonly parent: string
  readonly address: string
  readonly gateway?: string
}

export const networksPage = async () => {
  try {
    const r = await getJson<{
      host: { uplink: string | null; dns: ReadonlyArray<string> }
      pools: null | ReadonlyArray<unknown>
      pods: ReadonlyArray<{ name: string; mode: string; nics: ReadonlyArray<Nic>; addresses: ReadonlyArray<string> }>
    }>("/api/networks")
    main().append(
      h("h2", {}, "Host"),
      facts([["Uplink (parent: auto)", r.host.uplink ?? "none"], ["DNS for pods", r.host.dns.join(", ") || "–"]]),
      h("h2", {}, "Address pools"),
      h(
        "p",
        { class: "muted" },
        r.pools === null ? "No address pools: pods use the static addresses of their specs." : ""
      ),
      h("h2", {}, "Pods"),
      table(
        "Pod networks",
        ["Pod", "Network", "Interfaces", "Addresses"],
        r.pods.map((p) => [
          h("a", { href: `/pods/${encodeURIComponent(p.name)}` }, p.name),
          p.mode,
          p.nics.map((n) => `${n.name}: ${n.mode} on ${n.parent}, ${n.address}${n.gateway ? ` via ${n.gateway}` : ""}`)
            .join("; ") || "–",
          p.addresses.join(", ") || "–"
        ])
      )
    )
  } catch (e) {
    main().append(failed(e))
  }
}

export const nodesPage = async () => {
  try {
    const r = await getJson<{
      cluster: boolean
      self: string
      nodes: ReadonlyArray<{
        name: string
        ready: boolean
        registeredAt: string
        addresses: ReadonlyArray<string>
        labels: Record<string, string>
        capacity: { cpu: number; memory: number; pods: number }
        pods: number
      }>
    }>("/api/nodes")
    if (!r.cluster) {
      main().append(h("p", {}, `This agent runs one machine (${r.self}), not a cluster. See docs/cluster.md.`))
      return
    }
    main().append(table(
      "Nodes",
      ["Node", "Status", "Age", "Addresses", "Pods", "CPU", "Memory", "Labels"],
      r.nodes.map((n) => [
        n.name + (n.name === r.self ? " (this agent)" : ""),
        n.ready ? "Ready" : "NotReady",
        age(n.registeredAt),
        n.addresses.join(", ") || "–",
        `${n.pods}/${n.capacity.pods}`,
        `${n.capacity.cpu / 1000}`,
        bytes(n.capacity.memory),
        Object.entries(n.labels).map(([k, v]) => `${k}=${v}`).join(", ") || "–"
      ])
    ))
  } catch (e) {
    main().append(failed(e))
  }
}

export const systemPage = async () => {
  try {
    const r = await getJson<any>("/api/system")
    main().append(facts([
      ["Tank", r.version],
      ["Node.js", r.node],
      ["Kernel", r.kernel],
      ["Host", `${r.hostname} (${r.cpus} CPUs, ${bytes(r.memoryBytes)})`],
      ["Data dir", r.dataDir],
      ["Store", r.store.kind === "sqlite" ? `SQLite ${r.store.file}` : `etcd ${r.store.endpoints.join(", ")}`],
      [
        "Agent",
        `pid ${r.agent.pid}, up ${age(r.agent.startedAt)} (since ${time(r.agent.startedAt)}), ${
          bytes(r.agent.rssBytes)
        }`
      ],
      ["Pods", `${r.pods.declared} declared, ${r.pods.running} running`],
      ["Dashboard", `${r.dashboard.url}${r.dashboard.tls ? " (TLS)" : ""}`]
    ]))
  } catch (e) {
    main().append(failed(e))
  }
}
