import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import type { ChildState } from "../Toplevel.ts"
import type { Supervising } from "./child.ts"
import * as Metrics from "../Metrics.ts"

const states: ReadonlyArray<ChildState> = ["starting", "running", "settling", "restarting", "stopped"]

/**
 * Registers `arbor_children{path, state}` for a system or pool. The counts are
 * read from its children when metrics are exported, so state changes cost
 * nothing. Resumes with the function that removes the series again.
 */
export const registerGauges = (node: Supervising): Effect.Effect<() => void> =>
  Effect.map(Effect.context<never>(), (context) => {
    const registrations = states.map((state) =>
      Metric.registerUnsafe(Metric.withAttributes(Metrics.children, { path: node.path, state }), context, {
        get: () => {
          let value = 0
          for (const child of node.list()) if (child.shownState === state) value++
          return { value }
        },
        update: () => {},
        modify: () => {}
      })
    )
    return () => {
      for (const registration of registrations) registration.remove()
    }
  })
