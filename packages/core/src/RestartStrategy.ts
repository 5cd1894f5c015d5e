/**
 * Restart strategies: which siblings a system stops and starts again when one
 * of its children must be restarted.
 *
 * - `one_for_all` (the default, as in spry): every child is shut down in
 *   reverse start order and the system's `start` runs again, so values flow to
 *   the new siblings exactly as on the first start.
 * - `rest_for_one`: the child and those declared after it are shut down in
 *   reverse order, then `start` runs again; the children declared before it,
 *   still running, are reused: their declarations resume with the values they
 *   returned the first time, and they are not restarted.
 * - `one_for_one`: only that child is started again, with the same startup
 *   function. Its new value is not handed to anyone: siblings keep what they
 *   were given, so hand out stable handles (a `Queue`, a `SubscriptionRef`)
 *   when a sibling must see the restarted child's state.
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
 * const strategy: RestartStrategy.RestartStrategy = "rest_for_one"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type RestartStrategy = "one_for_all" | "rest_for_one" | "one_for_one"

/**
 * The schema of a restart strategy, for validating configuration.
 *
 * @example
 * ```ts
 * import { RestartStrategy } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(RestartStrategy.RestartStrategy)("one_for_one")
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const RestartStrategy = Schema.Literals(["one_for_all", "rest_for_one", "one_for_one"])
