/** The process's figures as small live charts, the tree's health gates, and the event-loop stalls with their stacks. */
import { Sparkline } from "./Charts.tsx"
import { ago, clock, megabytes } from "./format.ts"
import type { Store } from "./store.ts"

const Process = ({ store }: { readonly store: Store }) => {
  const samples = store.samples
  return (
    <section class="process panel" aria-label="process">
      <header><h2>Process</h2></header>
      <Sparkline label="heap" values={samples.map((s) => s.heapUsed)} format={megabytes} />
      <Sparkline label="event-loop delay p99" values={samples.map((s) => s.eventLoopDelay.p99)} format={(ms) => `${ms.toFixed(1)} ms`} floor={20} />
      <Sparkline label="CPU" values={samples.map((s) => s.cpu)} format={(percent) => `${percent.toFixed(0)} %`} floor={100} />
    </section>
  )
}

const Gates = ({ store }: { readonly store: Store }) => {
  const gates = store.gates
  if (gates === undefined || gates.length === 0) return null
  const now = Date.now()
  return (
    <section class="gates panel" aria-label="health gates">
      <header><h2>Health gates</h2></header>
      <ul>
        {gates.map((gate) => (
          <li class={`gate gate-${gate.state}`} key={`${gate.path}/${gate.name}`} data-testid={`gate-${gate.name}`}>
            <strong>{gate.name}</strong> <code>{gate.path}</code> <span class="badge">{gate.state}</span>
            {gate.since === undefined ? null : <span class="muted"> since {ago(gate.since, now)}</span>}
            {gate.reason === undefined ? null : <div class="reason">{gate.reason}</div>}
            <div class="muted">latched {gate.latches} {gate.latches === 1 ? "time" : "times"}</div>
          </li>
        ))}
      </ul>
    </section>
  )
}

const Stalls = ({ store }: { readonly store: Store }) => (
  <section class="stalls panel" aria-label="event-loop stalls">
    <header><h2>Stalls</h2></header>
    {store.stalls.length === 0 ? <p class="muted">No event-loop stall reported.</p> : (
      <ul>
        {store.stalls.map((stall) => (
          <li key={stall.id} data-testid="stall">
            <details>
              <summary>
                {clock(stall.at)} <code>{stall.path}</code>: stalled {stall.stalledForMillis} ms at {stall.where}
              </summary>
              {stall.stack.length === 0 ? <p class="muted">no stack</p> : <pre>{stall.stack.join("\n")}</pre>}
            </details>
          </li>
        ))}
      </ul>
    )}
  </section>
)

export const Side = ({ store }: { readonly store: Store }) => (
  <aside class="side">
    <Process store={store} />
    <Gates store={store} />
    <Stalls store={store} />
  </aside>
)
