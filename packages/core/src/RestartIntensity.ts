/**
 * Restart intensity: how many restarts a system may make within a sliding
 * window of time before it gives up.
 *
 * With the default of 3 restarts within 5 seconds, a fourth restart inside
 * any 5-second window makes the system shut all its children down and fail
 * with `TooManyRestarts`. Its parent sees that as a failure of the system's
 * child, so a crash loop climbs the tree until a level that can absorb it —
 * or reaches the top, where `Toplevel.start()` fails.
 *
 * The functions here are pure: a window of restart times goes in, the new
 * window and a verdict come out. Supervisors keep the window in their state.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"

/**
 * At most `maxRestarts` restarts within `within`.
 *
 * @example
 * ```ts
 * import { RestartIntensity } from "@arbor/core"
 * import { Duration } from "effect"
 *
 * const intensity: RestartIntensity.RestartIntensity = { maxRestarts: 3, within: Duration.seconds(5) }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RestartIntensity {
  readonly maxRestarts: number
  readonly within: Duration.Duration
}

/**
 * The default intensity: 3 restarts within 5 seconds (as in spry and OTP's
 * `intensity`/`period` defaults scaled to seconds).
 *
 * @example
 * ```ts
 * import { RestartIntensity } from "@arbor/core"
 *
 * RestartIntensity.defaultIntensity.maxRestarts // 3
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const defaultIntensity: RestartIntensity = { maxRestarts: 3, within: Duration.seconds(5) }

/**
 * The times (in milliseconds) of the restarts that still count, oldest first.
 *
 * @example
 * ```ts
 * import { RestartIntensity } from "@arbor/core"
 *
 * const window: RestartIntensity.Window = [1_000, 2_500] // two restarts, at 1 s and 2.5 s
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Window = ReadonlyArray<number>

/**
 * Records a restart at `now`. Restarts older than `within` drop out of the
 * window (one made exactly `within` ago no longer counts). The verdict is
 * `exceeded` when the window then holds more than `maxRestarts` restarts.
 *
 * @example
 * ```ts
 * import { RestartIntensity } from "@arbor/core"
 * import { Duration } from "effect"
 *
 * const intensity = { maxRestarts: 1, within: Duration.seconds(1) }
 * const first = RestartIntensity.record(intensity, [], 0)
 * first.exceeded // false
 * RestartIntensity.record(intensity, first.window, 500).exceeded // true
 * RestartIntensity.record(intensity, first.window, 1000).exceeded // false
 * ```
 *
 * @category decisions
 * @since 0.1.0
 */
export const record = (
  intensity: RestartIntensity,
  window: Window,
  now: number
): { readonly window: Window; readonly exceeded: boolean } => {
  const horizon = now - Duration.toMillis(intensity.within)
  const kept = window.filter((time) => time > horizon)
  kept.push(now)
  return { window: kept, exceeded: kept.length > intensity.maxRestarts }
}
