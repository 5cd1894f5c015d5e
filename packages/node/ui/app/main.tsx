/**
 * The web observer: a live view of a running Arbor tree, served by the
 * process itself at `/` (`NodeObserver`). It reads the snapshot once, then
 * follows `/events` (the browser resumes it after `Last-Event-ID` when the
 * connection drops) and `/process`; it reads the snapshot again only when
 * events cannot tell the whole story.
 */
import { render } from "preact"
import { useEffect, useState } from "preact/hooks"
import * as api from "./api.ts"
import { Detail } from "./Detail.tsx"
import { EventLog } from "./EventLog.tsx"
import { Side } from "./Side.tsx"
import { store } from "./store.ts"
import { Tree } from "./Tree.tsx"

const connectionText = {
  connecting: "connecting…",
  live: "live",
  reconnecting: "reconnecting…",
  ended: "the tree has stopped"
} as const

const follow = () => {
  const events = new EventSource(api.url("events?after=0"))
  const process = new EventSource(api.url("process"))
  events.onopen = () => store.setConnection("live")
  events.onerror = () => {
    if (store.treeStopped) {
      // The tree ended and its stream with it: the server is going away, there is nothing to reconnect to.
      store.setConnection("ended")
      events.close()
      process.close()
    } else {
      store.setConnection("reconnecting")
    }
  }
  for (const tag of api.eventTags) {
    events.addEventListener(tag, (message) => store.applyEvent(Number(message.lastEventId), JSON.parse(message.data)))
  }
  events.addEventListener("Gap", (message) => {
    const gap = JSON.parse(message.data) as { missed: number; after: number }
    store.gap(gap.missed, gap.after)
  })
  process.addEventListener("Process", (message) => store.addSample(JSON.parse(message.data)))
}

const start = async () => {
  for (let attempt = 0;; attempt++) {
    try {
      store.applySnapshot(await api.snapshot())
      break
    } catch {
      store.setConnection("reconnecting")
      await new Promise((resolve) => setTimeout(resolve, Math.min(5000, 250 * 2 ** attempt)))
    }
  }
  follow()
  store.controlEnabled = await api.controlEnabled().catch(() => false)
  store.changed()
}

const App = () => {
  const [, setVersion] = useState(0)
  const [selected, setSelected] = useState<string | undefined>(undefined)
  const [token, setToken] = useState(sessionStorage.getItem("arbor-token") ?? "")
  useEffect(() => store.subscribe(() => setVersion((v) => v + 1)), [])

  // The page's own measure of its first paint of the tree, read by its browser test.
  useEffect(() => {
    if (store.root === undefined || store.firstRender !== undefined) return
    requestAnimationFrame(() => {
      store.firstRender = performance.now()
      document.documentElement.dataset["firstRender"] = String(Math.round(store.firstRender))
    })
  })

  const root = store.root === undefined ? undefined : store.nodes.get(store.root)
  const latched = store.gates?.filter((gate) => gate.state === "latched").length ?? 0
  return (
    <div class="app">
      <header class="top">
        <h1>
          Arbor <span class="muted">observer</span> {store.name}
        </h1>
        {root === undefined ? null : <span class={`badge state-${root.state}`} data-testid="root-state">{root.state}</span>}
        <span class={`connection ${store.connection}`} data-testid="connection">{connectionText[store.connection]}</span>
        {latched === 0 ? null : <span class="badge latched" data-testid="latched">{latched === 1 ? "1 gate latched" : `${latched} gates latched`}</span>}
        {store.cluster === undefined ? null : (
          <span class="muted" data-testid="cluster">
            cluster singleton on {store.cluster.runner}: {store.cluster.role}
            {store.cluster.owner === null || store.cluster.role === "owner" ? "" : ` (owner ${store.cluster.owner})`}
            {store.cluster.store.available ? "" : "; store unreachable"}
          </span>
        )}
        <label class="token">
          control token
          <input
            type="password"
            autocomplete="off"
            value={token}
            data-testid="token"
            onInput={(event) => {
              const value = event.currentTarget.value.trim()
              setToken(value)
              sessionStorage.setItem("arbor-token", value)
            }}
          />
        </label>
      </header>
      <main>
        <Tree store={store} selected={selected} onSelect={setSelected} />
        <Detail store={store} path={selected} token={token} />
        <EventLog store={store} />
        <Side store={store} />
      </main>
    </div>
  )
}

render(<App />, document.getElementById("app")!)
void start()
