/**
 * Retrying an operation that answers "busy, try again", under deadlines.
 *
 * A store that pushes back (its write queue is full, a lock is held) says
 * so with an error; `retry` tries again after a short, growing delay
 * (0.5 ms doubling up to 50 ms by default) until the operation succeeds,
 * fails with an error that is not "busy", the health gate latches, or the
 * effective deadline passes: the earlier of the caller's deadline and the
 * operation's own timeout (which can only narrow the caller's). The two
 * deadlines fail with different errors, so a protocol layer can answer
 * each correctly: {@link DeadlineExceeded} is the caller's ("too many
 * requests, slow down": HTTP 429), {@link TimedOut} the operation's (the
 * dependency is too slow: 503; it is also recorded in the gate, as an
 * unhealthy signal).
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type { InvalidOptions } from "./Errors.ts"
import type { HealthGate, Unhealthy } from "./HealthGate.ts"
import * as internal from "./internal/backpressure.ts"

/**
 * The caller's deadline passed before the operation succeeded: it kept
 * answering "busy". `deadline` is the caller's (epoch milliseconds).
 *
 * @example
 * ```ts
 * import { Backpressure } from "@arbor/core"
 *
 * new Backpressure.DeadlineExceeded({ deadline: 0, attempts: 7 }).message
 * // "busy past the caller's deadline (7 attempts)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const DeadlineExceeded: typeof internal.DeadlineExceeded = internal.DeadlineExceeded
/** @since 0.1.0 */
export type DeadlineExceeded = internal.DeadlineExceeded

/**
 * The operation's own timeout passed (before the caller's deadline) without
 * a success: the dependency is too slow or too busy.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@arbor/core"
 *
 * new Backpressure.TimedOut({ timeout: "2s", attempts: 40 }).message
 * // "no success within the operation's timeout of 2s (40 attempts)"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const TimedOut: typeof internal.TimedOut = internal.TimedOut
/** @since 0.1.0 */
export type TimedOut = internal.TimedOut

/**
 * Options of {@link make}.
 *
 * - `busy`: which errors mean "busy, try again"; any other error ends the retries.
 * - `timeout`: the operation's own deadline, counted from each call; none by default.
 * - `gate`: a health gate: no attempt while it is latched (`Unhealthy`), and a `TimedOut` is recorded in it.
 * - `maxWaiting`: at most this many callers wait between attempts at once; others wait for their turn
 *   (under their deadline). Unbounded by default.
 * - `initialDelay`, `maxDelay`: the first delay and the cap of the doubling; default 0.5 ms and 50 ms.
 *
 * @example
 * ```ts
 * import type { Backpressure } from "@arbor/core"
 *
 * class Busy { readonly _tag = "Busy" }
 *
 * const options: Backpressure.Options<Busy | Error> = {
 *   busy: (error) => error instanceof Busy,
 *   timeout: "2 seconds",
 *   maxWaiting: 64
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options<E> {
  readonly busy: (error: E) => boolean
  readonly timeout?: Duration.Input
  readonly gate?: HealthGate
  readonly maxWaiting?: number
  readonly initialDelay?: Duration.Input
  readonly maxDelay?: Duration.Input
}

/**
 * A retry policy, made once with {@link make} and used for every call.
 *
 * @example
 * ```ts
 * import type { Backpressure } from "@arbor/core"
 * import { Clock, Effect } from "effect"
 *
 * declare const writes: Backpressure.Backpressure<Error>
 * declare const write: Effect.Effect<number, Error>
 *
 * // The caller gives up 500 ms from now.
 * const id = Effect.flatMap(Clock.currentTimeMillis, (now) => writes.retry(write, { deadline: now + 500 }))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Backpressure<E> {
  /**
   * Runs `attempt`, again after each "busy" error, until it succeeds, fails
   * otherwise, the gate latches or the effective deadline passes. An attempt
   * still running at the deadline is interrupted: whether it took effect is
   * then unknown to the caller, as with any timeout. `deadline` is the
   * caller's, in epoch milliseconds on Effect's `Clock`.
   */
  retry<A, E2 extends E, R>(
    attempt: Effect.Effect<A, E2, R>,
    options?: { readonly deadline?: number }
  ): Effect.Effect<A, E2 | DeadlineExceeded | TimedOut | Unhealthy, R>
}

/**
 * Makes a retry policy; bad options fail with `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { Backpressure } from "@arbor/core"
 * import { Clock, Effect } from "effect"
 *
 * class Busy extends Error {}
 * declare const append: (message: string) => Effect.Effect<number, Busy | Error>
 *
 * const accept = (message: string) =>
 *   Effect.gen(function*() {
 *     const writes = yield* Backpressure.make({ busy: (e: Busy | Error) => e instanceof Busy, timeout: "2 seconds" })
 *     const deadline = (yield* Clock.currentTimeMillis) + 1000
 *     return yield* writes.retry(append(message), { deadline })
 *   })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <E>(options: Options<E>): Effect.Effect<Backpressure<E>, InvalidOptions> => internal.make(options)
