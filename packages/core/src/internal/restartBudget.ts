import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { BackoffEnded, TooManyRestarts } from "../Errors.ts"
import { Backoff } from "./backoff.ts"
import type { IntensityUse } from "../TreeSnapshot.ts"
import type { Verdict } from "./decision.ts"
import type { RestartLimits } from "./options.ts"

/**
 * A supervisor's restart limits: the intensity window (every restart counts,
 * whether or not it waited for a backoff delay) and then the backoff
 * schedule (whose end means no more restarts).
 */
export class RestartBudget {
  private readonly window = new SlidingWindow()
  /** The supervisor's own backoff; a pool gives each child its own (`makeBackoff`). */
  readonly backoff: Backoff

  private readonly path: string
  private readonly limits: RestartLimits
  /** The intensity window as log lines and errors show it (`"5s"`), formatted once, and in milliseconds. */
  private readonly within: string
  private readonly withinMillis: number

  constructor(path: string, limits: RestartLimits) {
    this.path = path
    this.limits = limits
    this.within = Duration.format(limits.intensity.within)
    this.withinMillis = Duration.toMillis(limits.intensity.within)
    this.backoff = new Backoff(limits.backoff)
  }

  /** The intensity window at `now`, for inspection: read only, so it costs the restarts nothing. */
  use(now: number): IntensityUse {
    const { intensity } = this.limits
    return {
      path: this.path,
      restarts: this.window.count(now, this.withinMillis),
      maxRestarts: intensity.maxRestarts,
      within: this.within,
      backoff: this.limits.backoff !== undefined
    }
  }

  makeBackoff(): Backoff {
    return new Backoff(this.limits.backoff)
  }

  /** Records a restart asked for by the exit of `child` with `cause`: whether it may happen, and when. */
  next(child: string, cause: Cause.Cause<unknown>, backoff: Backoff = this.backoff): Effect.Effect<Verdict> {
    return Effect.withFiber((fiber) => {
      const { maxRestarts } = this.limits.intensity
      const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
      const restarts = this.window.record(now, this.withinMillis)
      if (restarts > maxRestarts) {
        const error = new TooManyRestarts({ path: this.path, child, maxRestarts, within: this.within, cause })
        return Effect.succeed({ _tag: "GiveUp", error } as const)
      }
      const restart = (delay: Duration.Duration): Verdict => ({ _tag: "Restart", delay, restart: restarts, maxRestarts, within: this.within })
      // No backoff (the default): at once, with no schedule to step.
      if (!backoff.scheduled) return Effect.succeed(restart(Duration.zero))
      return Effect.map(backoff.next(now, cause), (delay): Verdict =>
        delay === undefined
          ? { _tag: "GiveUp", error: new BackoffEnded({ path: this.path, child, restarts: backoff.restarts, cause }) }
          : restart(delay))
    })
  }
}

/**
 * How a restart log line counts the restarts in the intensity window
 * (`"; 2 restarts in the last 5s, at most 3 allowed"`). The window slides:
 * the count can go down between two restarts, so the line says what it counts.
 */
export const countNote = ({ maxRestarts, restart, within }: Verdict & { readonly _tag: "Restart" }): string =>
  `; ${restart} ${restart === 1 ? "restart" : "restarts"} in the last ${within}, at most ${maxRestarts} allowed`

/** How a restart log line mentions its backoff delay. */
export const delayNote = (delay: Duration.Duration): string =>
  Duration.isZero(delay) ? "" : ` after a backoff of ${Duration.format(delay)}`

/**
 * The restart times of the intensity window, oldest first. Times only grow,
 * so forgetting the old ones is a move of the head: recording a restart costs
 * the same with 10 restarts in the window as with 10,000. The same rule as
 * `RestartIntensity.record`: a restart counts while it is less than `within` old.
 */
class SlidingWindow {
  private times: Array<number> = []
  private head = 0

  /** Records a restart at `now` and resumes with how many the window holds, this one included. */
  record(now: number, within: number): number {
    const horizon = now - within
    while (this.head < this.times.length && this.times[this.head]! <= horizon) this.head++
    if (this.head > 64 && this.head * 2 > this.times.length) {
      this.times = this.times.slice(this.head)
      this.head = 0
    }
    this.times.push(now)
    return this.times.length - this.head
  }

  /** How many restarts the window holds at `now`, recording none. */
  count(now: number, within: number): number {
    const horizon = now - within
    let head = this.head
    while (head < this.times.length && this.times[head]! <= horizon) head++
    return this.times.length - head
  }
}

/** A give-up error's message for a log line about its own path (which the line already starts with). */
export const givingUp = (error: { readonly path: string; readonly message: string }): string => {
  const prefix = `${error.path}: `
  const reason = error.message.startsWith(prefix) ? error.message.slice(prefix.length) : error.message
  return `${reason}; stopping all children and escalating`
}
