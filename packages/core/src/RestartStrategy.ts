/**
 * Restart strategies: which siblings a system stops and starts again when one
 * of its children must be restarted.
 *
 * `one_for_all` (the default, as in spry): every child is shut down in
 * reverse start order and the system's `start` runs again, so values flow to
 * the new siblings exactly as on the first start.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"

/**
 * A system's restart strategy.
 *
 * @example
 * ```ts
 * import { RestartStrategy } from "@arbor/core"
 *
 * const strategy: RestartStrategy.RestartStrategy = "one_for_all"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type RestartStrategy = "one_for_all"

/**
 * The schema of a restart strategy, for validating configuration.
 *
 * @example
 * ```ts
 * import { RestartStrategy } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(RestartStrategy.RestartStrategy)("one_for_all")
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const RestartStrategy = Schema.Literals(["one_for_all"])
