/**
 * The health monitor: polls the store's own trouble counters into the gate,
 * and while the gate is latched, writes a canary commit at each poll so
 * that a store still broken keeps the gate latched (each failed canary is
 * one more failed commit) and a healed one lets it clear.
 */
import { type HealthGate, MainLoop } from "@arbor/core"
import { type Duration, Effect } from "effect"
import type { Store } from "./store.ts"

export const monitor = (store: Store, gate: HealthGate.HealthGate, interval: Duration.Duration) =>
  MainLoop.interruptOnSettle(Effect.forever(Effect.gen(function*() {
    yield* gate.observe("failedCommits", store.stats.failedCommits)
    yield* gate.observe("stalledCommits", store.stats.stalledCommits)
    // The canary's failure is counted by the store; the next poll reports it.
    if (yield* gate.isLatched) yield* Effect.ignore(store.touch)
    yield* Effect.sleep(interval)
  })))
