import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Pull from "effect/Pull"
import * as Schedule from "effect/Schedule"
import type { BackoffConfig } from "./options.ts"

type Step = (now: number, input: unknown) => Pull.Pull<[unknown, Duration.Duration], never, unknown>

/**
 * The backoff of one supervisor (or of one pool child): the delays before its
 * restarts, read from the schedule one restart at a time. After `resetAfter`
 * without a restart the schedule starts over, so a long-healthy child gets
 * the smallest delay again. No backoff means restart at once, forever.
 */
export class Backoff {
  private step: Step | undefined
  private lastRestart = Number.NEGATIVE_INFINITY
  /** Restarts since the schedule (re)started. */
  restarts = 0

  private readonly config: BackoffConfig | undefined

  constructor(config: BackoffConfig | undefined) {
    this.config = config
  }

  /** Whether it has a schedule: without one, every restart is at once (`next` is then always zero). */
  get scheduled(): boolean {
    return this.config !== undefined
  }

  /** The wait before the next restart; `undefined` when the schedule has ended (no more restarts). */
  next(now: number, input: unknown): Effect.Effect<Duration.Duration | undefined> {
    const config = this.config
    if (config === undefined) return Effect.succeed(Duration.zero)
    return Effect.gen({ self: this }, function*() {
      if (this.step === undefined || now - this.lastRestart >= Duration.toMillis(config.resetAfter)) {
        this.step = yield* Schedule.toStep(config.schedule)
        this.restarts = 0
      }
      this.lastRestart = now
      const exit = yield* Effect.exit(this.step(now, input))
      if (Exit.isFailure(exit)) return undefined
      this.restarts++
      return exit.value[1]
    })
  }
}
