/**
 * Restart policies: which exits of a child its supervisor answers with a
 * restart.
 *
 * | policy      | normal exit | failure / defect / external interruption |
 * |-------------|-------------|------------------------------------------|
 * | `permanent` | restart     | restart                                  |
 * | `transient` | stays down  | restart                                  |
 * | `temporary` | stays down  | stays down                               |
 *
 * A child that stays down has *finished for good*: when its system later
 * restarts for another reason, it is not started again, and its declaration
 * returns `Option.none()`.
 *
 * @since 0.1.0
 */
import * as Schema from "effect/Schema"
import type { ExitKind } from "./ChildExit.ts"

/**
 * A child's restart policy. `permanent` is the default.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@arbor/core"
 *
 * const fromConfig: RestartPolicy.RestartPolicy = process.env.POLICY === "transient" ? "transient" : "permanent"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type RestartPolicy = "permanent" | "transient" | "temporary"

/**
 * The schema of a restart policy, for validating configuration.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(RestartPolicy.RestartPolicy)("transient") // "transient"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const RestartPolicy = Schema.Literals(["permanent", "transient", "temporary"])

/**
 * Whether a child with this policy is restarted after an exit of this kind.
 *
 * @example
 * ```ts
 * import { RestartPolicy } from "@arbor/core"
 *
 * RestartPolicy.restartsAfter("transient", "normal") // false
 * RestartPolicy.restartsAfter("transient", "interrupted") // true
 * ```
 *
 * @category decisions
 * @since 0.1.0
 */
export const restartsAfter = (policy: RestartPolicy, kind: ExitKind): boolean => {
  switch (policy) {
    case "permanent":
      return true
    case "transient":
      return kind !== "normal"
    case "temporary":
      return false
  }
}
