/**
 * One node in depth: its policy, strategy, budgets, how close its system is
 * to giving up, uptime, restart history, a pool's occupancy and waiting
 * callers, the startup-time histogram of its system; and the control actions.
 * It is read from `/node` when selected and again (at most once a second)
 * when an event about it arrives.
 */
import { useEffect, useState } from "preact/hooks"
import * as api from "./api.ts"
import { Bars } from "./Charts.tsx"
import { ago, count, duration, plural } from "./format.ts"
import type { Store } from "./store.ts"
import { historyMinutes } from "./store.ts"

const historyBuckets = 30

/** Restarts per bucket over the last ten minutes. */
const history = (times: ReadonlyArray<number>, now: number) => {
  const span = historyMinutes * 60_000
  const bucket = span / historyBuckets
  const bars = Array.from({ length: historyBuckets }, (_, i) => ({
    label: i === 0 ? `-${historyMinutes} min` : i === historyBuckets - 1 ? "now" : "",
    value: 0
  }))
  for (const at of times) {
    const i = Math.floor((at - (now - span)) / bucket)
    if (i >= 0 && i < historyBuckets) bars[i]!.value++
  }
  return bars
}

/** The histogram's cumulative buckets as counts per bucket. */
const startupBars = (histogram: api.Histogram) => {
  let before = 0
  return histogram.buckets.map(([bound, cumulative]) => {
    const value = cumulative - before
    before = cumulative
    const label = bound === null ? "more" : bound < 1 ? `≤${Math.round(bound * 1000)} ms` : `≤${bound} s`
    return { label, value }
  })
}

const Window = ({ use, whose }: { readonly use: NonNullable<api.Detail["intensity"]>; readonly whose: string }) => {
  const ratio = use.maxRestarts === 0 ? 1 : use.restarts / use.maxRestarts
  const level = ratio >= 1 ? "danger" : ratio >= 0.5 ? "warn" : "ok"
  return (
    <div class={`window ${level}`} data-testid={`window-${use.path}`}>
      <div class="label">
        {whose} <code>{use.path}</code>: {count(use.restarts)} of {count(use.maxRestarts)} restarts in the last {use.within}
        {use.backoff ? ", with backoff" : ""}
      </div>
      <div class="meter"><div style={{ width: `${Math.min(100, ratio * 100)}%` }} /></div>
    </div>
  )
}

const gone = "Not in the running tree now (its system may be restarting): shown as last seen."

export interface DetailProps {
  readonly store: Store
  readonly path: string | undefined
  readonly token: string
}

export const Detail = ({ store, path, token }: DetailProps) => {
  const [detail, setDetail] = useState<api.NodeDetail | undefined>(undefined)
  const [error, setError] = useState<{ readonly status: number; readonly message: string } | undefined>(undefined)
  const [outcome, setOutcome] = useState<{ ok: boolean; message: string } | undefined>(undefined)
  const [, setTick] = useState(0)
  const now = Date.now()

  useEffect(() => {
    setDetail(undefined)
    setOutcome(undefined)
    if (path === undefined) return
    let last = 0
    let timer: ReturnType<typeof setTimeout> | undefined
    let current = true
    const read = () => {
      timer = undefined
      last = Date.now()
      api.detail(path).then((value) => {
        if (current) {
          setDetail(value)
          setError(undefined)
        }
      }, (cause: unknown) => {
        if (current) setError(cause instanceof api.HttpError ? cause : { status: 0, message: String(cause) })
      })
    }
    read()
    const stop = store.watch(path, () => {
      timer ??= setTimeout(read, Math.max(0, last + 1000 - Date.now()))
    })
    return () => {
      current = false
      stop()
      if (timer !== undefined) clearTimeout(timer)
    }
  }, [path])

  // Uptime and "ago" move on by themselves.
  useEffect(() => {
    const timer = setInterval(() => setTick((tick) => tick + 1), 1000)
    return () => clearInterval(timer)
  }, [])

  if (path === undefined) {
    return (
      <section class="detail panel" aria-label="node detail">
        <header><h2>Detail</h2></header>
        <p class="muted">Select a node of the tree.</p>
      </section>
    )
  }

  const node = store.nodes.get(path) ?? (detail === undefined ? undefined : { ...detail.node })
  const act = (action: "terminate" | "restart" | "shutdown") => {
    setOutcome(undefined)
    void api.act(action, path, token).then(setOutcome, (cause: unknown) => setOutcome({ ok: false, message: String(cause) }))
  }
  const isRoot = path === store.root
  // A worker's chart shows its own restarts; a system's or pool's, those it made of its children.
  const supervises = node !== undefined && node.kind !== "worker"
  const restarts = history((supervises ? store.restartsMadeAt : store.restartsAt).get(path) ?? [], now)
  const recent = restarts.reduce((sum, bar) => sum + bar.value, 0)
  const counts = detail?.node.counts

  return (
    <section class="detail panel" aria-label="node detail" data-testid="detail" data-path={path}>
      <header>
        <h2>{path}</h2>
        {node === undefined ? null : <span class={`badge state-${node.state}`}>{node.state}</span>}
      </header>
      {error === undefined ? null : <p class={error.status === 404 ? "muted" : "error"}>{error.status === 404 ? gone : error.message}</p>}
      <div class="actions">
        {isRoot
          ? <button onClick={() => act("shutdown")} disabled={!store.controlEnabled}>Shut down the tree</button>
          : (
            <>
              <button onClick={() => act("terminate")} disabled={!store.controlEnabled} data-testid="terminate">Terminate</button>
              <button onClick={() => act("restart")} disabled={!store.controlEnabled} data-testid="restart">Restart</button>
            </>
          )}
        {store.controlEnabled ? null : <span class="muted">control actions are off (no token configured on the server)</span>}
        {outcome === undefined ? null : <span class={outcome.ok ? "ok" : "error"} data-testid="outcome">{outcome.message}</span>}
      </div>
      {node === undefined ? null : (
        <dl class="facts">
          <dt>kind</dt>
          <dd>{node.kind}{node.strategy === undefined ? "" : `, ${node.strategy}`}</dd>
          <dt>policy</dt>
          <dd>{node.restart}</dd>
          <dt>uptime</dt>
          <dd>{node.startedAt === null || node.state === "stopped" ? "—" : duration(Math.max(0, now - node.startedAt))}</dd>
          <dt>restarts</dt>
          <dd>{count(node.restarts)}</dd>
          <dt>last exit</dt>
          <dd>{node.lastExit === null ? "—" : `${node.lastExit.kind}, ${ago(node.lastExit.at, now)}: ${node.lastExit.message}`}</dd>
          {detail === undefined ? null : (
            <>
              <dt>shutdown budget</dt>
              <dd>{detail.settings.shutdown}</dd>
              {detail.settings.startTimeout === undefined ? null : <><dt>start timeout</dt><dd>{detail.settings.startTimeout}</dd></>}
              {detail.settings.deadline === undefined ? null : <><dt>liveness deadline</dt><dd>{detail.settings.deadline}</dd></>}
              {detail.settings.significant ? <><dt>significant</dt><dd>yes</dd></> : null}
              {detail.autoShutdown === undefined || detail.autoShutdown === "never" ? null : <><dt>autoShutdown</dt><dd>{detail.autoShutdown}</dd></>}
            </>
          )}
          {node.lastHeartbeat === undefined ? null : <><dt>last heartbeat</dt><dd>{ago(node.lastHeartbeat, now)}</dd></>}
          {node.callbackFibers === undefined ? null : <><dt>callback fibers</dt><dd>{count(node.callbackFibers)}</dd></>}
        </dl>
      )}
      {detail?.intensity === undefined ? null : <Window use={detail.intensity} whose="its restarts" />}
      {detail?.supervisor === undefined ? null : <Window use={detail.supervisor} whose="restarted by" />}
      {counts === undefined || detail === undefined ? null : (
        <div class="pool" data-testid="pool">
          <div class="label">
            {plural(counts.running, "child", "children")} running of {detail.maxChildren === null || detail.maxChildren === undefined ? "no limit" : `at most ${count(detail.maxChildren)}`}
            {counts.restarting > 0 ? `, ${count(counts.restarting)} restarting` : ""}; {plural(counts.waiting, "caller")} waiting for a slot
            {detail.wait === null || detail.wait === undefined ? " (callers do not wait: full fails at once)" : ` (for up to ${detail.wait})`}
          </div>
          {detail.maxChildren === null || detail.maxChildren === undefined ? null : (
            <div class="meter"><div style={{ width: `${Math.min(100, (counts.children / detail.maxChildren) * 100)}%` }} /></div>
          )}
        </div>
      )}
      <div class="charts">
        <Bars
          label={supervises ? "restarts of its children" : "restarts"}
          bars={restarts}
          caption={`${plural(recent, "restart")} in the last ${historyMinutes} min of the events received`}
        />
        {detail?.startup === undefined || detail.startup.count === 0 ? null : (
          <Bars
            label="startup times"
            bars={startupBars(detail.startup)}
            caption={`${plural(detail.startup.count, "startup")} of ${detail.startup.path}'s children, ${duration((detail.startup.sum / detail.startup.count) * 1000)} on average`}
          />
        )}
      </div>
    </section>
  )
}
