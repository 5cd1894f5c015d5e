/**
 * A supervisor's decisions about the exit of one of its children, as pure
 * functions of what it knows: no effect, no clock, nothing changed. They are
 * the three steps of OTP's `supervisor.erl`:
 *
 * 1. restart or not (`do_restart/4`): the child's restart policy and how it
 *    ended, `RestartPolicy.restartsAfter`; a significant child that stays
 *    down may end its system ({@link autoShutdownAfter});
 * 2. may it restart (`add_restart/1`): the intensity window and the backoff
 *    schedule, read by `RestartBudget.next` into a {@link Verdict} (the
 *    schedule is an effect, so this step is not here);
 * 3. what to restart (`restart/2`): {@link decideRestart}, by the verdict
 *    and the strategy.
 *
 * The supervisor (`supervisor.ts`) and the pool (`pool.ts`) carry them out.
 */
import type * as Duration from "effect/Duration"
import type { BackoffEnded, TooManyRestarts } from "../Errors.ts"
import type { RestartStrategy } from "../RestartStrategy.ts"
import type { AutoShutdown } from "./options.ts"

/** Whether a supervisor may restart, and after which delay; or why it must give up. */
export type Verdict =
  | {
    readonly _tag: "Restart"
    readonly delay: Duration.Duration
    /** How many restarts the intensity window holds, this one included; more than `maxRestarts` gives up. */
    readonly restart: number
    readonly maxRestarts: number
    /** The intensity window as log lines show it (`"5s"`): see `countNote`. */
    readonly within: string
  }
  | { readonly _tag: "GiveUp"; readonly error: TooManyRestarts | BackoffEnded }

/**
 * What a system does to restart (OTP's `restart/2`): give up (stop every
 * child and fail), restart the failed child alone, or restart the group
 * from position `from` on (stop it in reverse order, then replay `start`).
 */
export type Restart<Child> =
  | { readonly _tag: "GiveUp"; readonly error: TooManyRestarts | BackoffEnded }
  | { readonly _tag: "RestartOne"; readonly verdict: Verdict & { readonly _tag: "Restart" }; readonly child: Child }
  | { readonly _tag: "RestartGroup"; readonly verdict: Verdict & { readonly _tag: "Restart" }; readonly from: number }

/**
 * Decides a system's restart after the exit of `child` (`undefined`: a
 * replay that failed), from the budget's `verdict`, the `strategy` and its
 * children. `one_for_one` restarts the child alone; `rest_for_one` the child
 * and those declared after it; `one_for_all` every child. A failed replay
 * restarts its group (from `groupFrom`) again, and a group restart waiting
 * for its backoff delay (from `pendingFrom`) widens to take it in.
 */
export const decideRestart = <Child>(
  verdict: Verdict,
  strategy: RestartStrategy,
  children: ReadonlyArray<Child>,
  child: Child | undefined,
  groupFrom: number,
  pendingFrom: number | undefined
): Restart<Child> => {
  if (verdict._tag === "GiveUp") return verdict
  if (strategy === "one_for_one" && child !== undefined) return { _tag: "RestartOne", verdict, child }
  const failed = child === undefined ? groupFrom : Math.max(0, children.indexOf(child))
  const from = Math.min(strategy === "rest_for_one" ? failed : 0, pendingFrom ?? Number.POSITIVE_INFINITY)
  return { _tag: "RestartGroup", verdict, from }
}

/**
 * Whether a system shuts itself down, normally, once a significant child
 * finished for good (OTP's `auto_shutdown`): at once with
 * `"anySignificant"`, once no other significant child runs with
 * `"allSignificant"`, never with `"never"`.
 */
export const autoShutdownAfter = (mode: AutoShutdown, otherSignificantRunning: boolean): boolean =>
  mode === "anySignificant" || (mode === "allSignificant" && !otherSignificantRunning)
