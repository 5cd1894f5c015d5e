/**
 * The metrics of cluster singletons, as Effect `Metric`s labelled with the
 * singleton's name (`singleton`). Each runner counts what happens on it: the
 * cluster's totals are the sums over its runners.
 *
 * @since 0.1.0
 */
import * as Metric from "effect/Metric"

/**
 * `arbor_cluster_failovers_total{singleton}`: how many times this runner took
 * a singleton over from another runner.
 *
 * @example
 * ```ts
 * import { SingletonMetrics } from "@arbor/cluster"
 * import { Effect, Metric } from "effect"
 *
 * const failovers = Effect.map(
 *   Metric.value(Metric.withAttributes(SingletonMetrics.failovers, { singleton: "scheduler" })),
 *   (state) => state.count
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const failovers = Metric.counter("arbor_cluster_failovers_total", {
  description: "Times this runner took a cluster singleton over from another runner",
  incremental: true
})

/**
 * `arbor_cluster_ownerless_seconds_total{singleton}`: how long the singleton
 * ran nowhere before this runner took it (from the previous owner's last sign
 * of life), added up over the takeovers.
 *
 * @example
 * ```ts
 * import { SingletonMetrics } from "@arbor/cluster"
 * import { Effect, Metric } from "effect"
 *
 * const ownerless = Effect.map(
 *   Metric.value(Metric.withAttributes(SingletonMetrics.ownerless, { singleton: "scheduler" })),
 *   (state) => state.count
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const ownerless = Metric.counter("arbor_cluster_ownerless_seconds_total", {
  description: "Seconds a cluster singleton ran on no runner before this runner took it, added up"
})

/**
 * `arbor_cluster_singleton_restarts_total{singleton}`: how many times the
 * singleton's tree gave up on this runner and was started again after a
 * backoff.
 *
 * @example
 * ```ts
 * import { SingletonMetrics } from "@arbor/cluster"
 * import { Effect, Metric } from "effect"
 *
 * const restarts = Effect.map(
 *   Metric.value(Metric.withAttributes(SingletonMetrics.restarts, { singleton: "scheduler" })),
 *   (state) => state.count
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const restarts = Metric.counter("arbor_cluster_singleton_restarts_total", {
  description: "Times a cluster singleton's tree gave up on this runner and was started again after a backoff",
  incremental: true
})

/**
 * `arbor_cluster_owner{singleton}`: 1 while this runner runs the singleton's
 * tree, else 0.
 *
 * @example
 * ```ts
 * import { SingletonMetrics } from "@arbor/cluster"
 * import { Effect, Metric } from "effect"
 *
 * const owner = Effect.map(
 *   Metric.value(Metric.withAttributes(SingletonMetrics.owner, { singleton: "scheduler" })),
 *   (state) => state.value === 1
 * )
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const owner = Metric.gauge("arbor_cluster_owner", { description: "1 while this runner runs the cluster singleton's tree" })
