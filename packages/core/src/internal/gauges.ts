import type * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { ChildState } from "../TreeSnapshot.ts"
import type { Supervising } from "./child.ts"
import * as Metrics from "../Metrics.ts"

const states: ReadonlyArray<ChildState> = ["starting", "running", "settling", "restarting", "stopped"]

/**
 * Registers `arbor_children{path, state}` for a system or pool, and a pool's
 * `arbor_pool_waiting{path}`. The values are read when metrics are exported,
 * so state changes cost nothing. Resumes with the function that removes the
 * series again.
 */
export const registerGauges = (node: Supervising): Effect.Effect<() => void> =>
  Effect.map(Effect.context<never>(), (context) => {
    const registrations = states.map((state) =>
      reading(Metrics.children, { path: node.path, state }, context, () => {
        let value = 0
        for (const child of node.list()) if (child.shownState === state) value++
        return value
      })
    )
    if (node.waiting !== undefined) {
      registrations.push(reading(Metrics.poolWaiting, { path: node.path }, context, () => node.waiting ?? 0))
    }
    return () => {
      for (const registration of registrations) registration.remove()
    }
  })

/** A gauge series whose value is `read` when the metrics are exported. */
const reading = (
  gauge: Metric.Gauge<number>,
  attributes: Readonly<Record<string, string>>,
  context: Context.Context<never>,
  read: () => number
) =>
  Metric.registerUnsafe(Metric.withAttributes(gauge, attributes), context, {
    get: () => ({ value: read() }),
    update: () => {},
    modify: () => {}
  })
