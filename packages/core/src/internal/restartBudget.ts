import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { BackoffEnded, TooManyRestarts } from "../Errors.ts"
import * as RestartIntensity from "../RestartIntensity.ts"
import { Backoff } from "./backoff.ts"
import type { RestartLimits } from "./options.ts"

/** Whether a supervisor may restart, and after which delay; or why it must give up. */
export type Decision =
  | {
    readonly _tag: "Restart"
    readonly delay: Duration.Duration
    /** Which restart this is within the intensity window, of at most `maxRestarts`. */
    readonly restart: number
    readonly maxRestarts: number
    /** `", restart 2 of at most 3 within 5s"`, for log lines. */
    readonly count: string
  }
  | { readonly _tag: "GiveUp"; readonly error: TooManyRestarts | BackoffEnded }

/**
 * A supervisor's restart limits: the intensity window (every restart counts,
 * whether or not it waited for a backoff delay) and then the backoff
 * schedule (whose end means no more restarts).
 */
export class RestartBudget {
  private window: RestartIntensity.Window = []
  /** The supervisor's own backoff; a pool gives each child its own (`makeBackoff`). */
  readonly backoff: Backoff

  private readonly path: string
  private readonly limits: RestartLimits

  constructor(path: string, limits: RestartLimits) {
    this.path = path
    this.limits = limits
    this.backoff = new Backoff(limits.backoff)
  }

  makeBackoff(): Backoff {
    return new Backoff(this.limits.backoff)
  }

  /** Records a restart asked for by the exit of `child` with `cause`, and decides. */
  next(child: string, cause: Cause.Cause<unknown>, backoff: Backoff = this.backoff): Effect.Effect<Decision> {
    return Effect.gen({ self: this }, function*() {
      const { intensity } = this.limits
      const now = yield* Clock.currentTimeMillis
      const recorded = RestartIntensity.record(intensity, this.window, now)
      this.window = recorded.window
      const within = Duration.format(intensity.within)
      if (recorded.exceeded) {
        const error = new TooManyRestarts({ path: this.path, child, maxRestarts: intensity.maxRestarts, within, cause })
        return { _tag: "GiveUp", error } as const
      }
      const delay = yield* backoff.next(now, cause)
      if (delay === undefined) {
        return { _tag: "GiveUp", error: new BackoffEnded({ path: this.path, child, restarts: backoff.restarts, cause }) } as const
      }
      const count = `, restart ${recorded.window.length} of at most ${intensity.maxRestarts} within ${within}`
      return { _tag: "Restart", delay, restart: recorded.window.length, maxRestarts: intensity.maxRestarts, count } as const
    })
  }
}

/** How a restart log line mentions its backoff delay. */
export const delayNote = (delay: Duration.Duration): string => Duration.isZero(delay) ? "" : ` after ${Duration.format(delay)}`
