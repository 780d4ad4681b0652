/** The dashboard client: the server renders each page's shell; this fills it in (docs/web.md). */
import "./style.css"
import { imagesPage, networksPage, nodesPage, systemPage } from "./pages.js"
import { podPage } from "./pod.js"
import { podsPage } from "./pods.js"

const page = document.body.dataset.page
switch (page) {
  case "pods":
    podsPage()
    break
  case "pod":
    podPage(document.body.dataset.pod!)
    break
  case "images":
    imagesPage()
    break
  case "networks":
    void networksPage()
    break
  case "nodes":
    void nodesPage()
    break
  case "system":
    void systemPage()
    break
}
