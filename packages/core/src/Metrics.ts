/**
 * The metrics a tree keeps, as Effect `Metric`s: export them with any Effect
 * metrics exporter (`PrometheusMetrics`, OTLP), or read them with
 * `Metric.value`. Each is labelled with a `path`: a child's for restarts (a
 * pool's children under the pool's path, since they come and go), the
 * system's or pool's for startups, forced stops, escalations and children by
 * state (a histogram per child would weigh more than the child). Health
 * gates' metrics are labelled with the gate's name (`gate`).
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * `arbor_child_restarts_total{path}`: how many times a child was started again.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const gatewayRestarts = Effect.map(
 *   Metric.value(Metric.withAttributes(Metrics.childRestarts, { path: "shop/payments/gateway" })),
 *   (state) => state.count
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const childRestarts = Metric.counter("arbor_child_restarts_total", {
  description: "Restarts of a child (a pool's children are counted under the pool's path)",
  incremental: true
})

/**
 * `arbor_child_startup_seconds{path}`: how long the startup functions of the
 * children of the system or pool at `path` took.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const startups = Effect.map(Metric.value(Metric.withAttributes(Metrics.childStartup, { path: "app" })), (s) => s.count)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const childStartup = Metric.histogram("arbor_child_startup_seconds", {
  description: "How long the startup functions of a system's or pool's children took",
  boundaries: Metric.exponentialBoundaries({ start: 0.001, factor: 4, count: 9 })
})

/**
 * `arbor_shutdown_forced_total{path}`: children a system or pool had to
 * interrupt because they did not settle within their budget.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const forced = Effect.map(Metric.value(Metric.withAttributes(Metrics.shutdownForced, { path: "app" })), (s) => s.count)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const shutdownForced = Metric.counter("arbor_shutdown_forced_total", {
  description: "Children interrupted because they did not settle within their budget, by their system or pool",
  incremental: true
})

/**
 * `arbor_escalations_total{path}`: systems and pools that gave up and failed to their parent.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const gaveUp = Effect.map(Metric.value(Metric.withAttributes(Metrics.escalations, { path: "shop/payments" })), (s) => s.count)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const escalations = Metric.counter("arbor_escalations_total", {
  description: "Systems and pools that gave up and escalated to their parent",
  incremental: true
})

/**
 * `arbor_pool_waiting{path}`: callers waiting for a slot of the full pool at
 * `path` (see the pool's `wait` option), counted when the metrics are read.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const waiting = Effect.map(Metric.value(Metric.withAttributes(Metrics.poolWaiting, { path: "app/jobs" })), (s) => s.value)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const poolWaiting = Metric.gauge("arbor_pool_waiting", { description: "Callers waiting for a slot of a full pool" })

/**
 * `arbor_children{path, state}`: a system's or pool's children by state
 * (`starting`, `running`, `settling`, `restarting`, `stopped`), counted when
 * the metrics are read.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const running = Effect.map(
 *   Metric.value(Metric.withAttributes(Metrics.children, { path: "app", state: "running" })),
 *   (state) => state.value
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const children = Metric.gauge("arbor_children", { description: "Children of a system or pool, by state" })

/**
 * `arbor_health_gate_latched{gate}`: 1 while the health gate is latched, else 0 (read when the metrics are).
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const latched = Effect.map(Metric.value(Metric.withAttributes(Metrics.healthGateLatched, { gate: "store" })), (s) => s.value === 1)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const healthGateLatched = Metric.gauge("arbor_health_gate_latched", { description: "1 while a health gate is latched, else 0" })

/**
 * `arbor_health_gate_latches_total{gate}`: how many times the health gate latched.
 *
 * @example
 * ```ts
 * import { Metrics } from "@arbor/core"
 * import { Effect, Metric } from "effect"
 *
 * const latches = Effect.map(Metric.value(Metric.withAttributes(Metrics.healthGateLatches, { gate: "store" })), (s) => s.count)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const healthGateLatches = Metric.counter("arbor_health_gate_latches_total", {
  description: "Times a health gate latched",
  incremental: true
})
