/**
 * How a child ended, as a supervisor sees it.
 *
 * A supervisor reduces every `Exit` of a child's main loop to one of four
 * kinds; the child's restart policy then decides what happens next
 * (see {@link RestartPolicy}).
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Exit from "effect/Exit"

/**
 * The kind of a child's exit:
 *
 * - `normal`: the main loop returned.
 * - `failure`: the main loop failed with an expected error.
 * - `defect`: the main loop died (a thrown exception, `Effect.die`).
 * - `interrupted`: the main loop was interrupted by someone other than its
 *   supervisor. This is an abnormal exit: a transient child is restarted.
 *
 * @example
 * ```ts
 * import { ChildExit } from "@arbor/core"
 *
 * const abnormal = (kind: ChildExit.ExitKind) => kind !== "normal"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ExitKind = "normal" | "failure" | "defect" | "interrupted"

/**
 * Classifies an `Exit`. A cause holding both a defect and a failure counts as
 * a defect, the more severe of the two; interruptions only count when nothing
 * else went wrong.
 *
 * @example
 * ```ts
 * import { ChildExit } from "@arbor/core"
 * import { Exit } from "effect"
 *
 * ChildExit.kindOf(Exit.void) // "normal"
 * ChildExit.kindOf(Exit.fail("boom")) // "failure"
 * ChildExit.kindOf(Exit.die(new Error("bug"))) // "defect"
 * ```
 *
 * @category classification
 * @since 0.1.0
 */
export const kindOf = (exit: Exit.Exit<unknown, unknown>): ExitKind => {
  if (Exit.isSuccess(exit)) return "normal"
  if (Cause.hasDies(exit.cause)) return "defect"
  if (Cause.hasFails(exit.cause)) return "failure"
  return "interrupted"
}
