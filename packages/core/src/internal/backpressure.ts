import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import * as Semaphore from "effect/Semaphore"
import * as ArborOptions from "../Options.ts"
import type { Unhealthy } from "./gateState.ts"

/** The caller's deadline passed first (`Backpressure.DeadlineExceeded`). */
export class DeadlineExceeded extends Schema.TaggedError<DeadlineExceeded>()("DeadlineExceeded", {
  deadline: Schema.Number,
  attempts: Schema.Number
}) {
  override get message(): string {
    return `busy past the caller's deadline (${this.attempts} attempts)`
  }
}

/** The operation's own timeout passed first (`Backpressure.TimedOut`). */
export class TimedOut extends Schema.TaggedError<TimedOut>()("TimedOut", {
  timeout: Schema.String,
  attempts: Schema.Number
}) {
  override get message(): string {
    return `no success within the operation's timeout of ${this.timeout} (${this.attempts} attempts)`
  }
}

/** What `retry` needs of a health gate (`HealthGate.HealthGate`). */
interface Gate {
  guard<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Unhealthy, R>
  record(error: unknown): Effect.Effect<void>
}

/** What `make` reads of `Backpressure.Options` as given; the durations and limits are decoded. */
interface Options<E> {
  readonly busy: (error: E) => boolean
  readonly gate?: Gate
}

const OptionsSchema = Schema.Struct({
  busy: Schema.declare((u: unknown): u is (error: unknown) => boolean => typeof u === "function", { expected: "a function" }),
  timeout: Schema.optionalKey(ArborOptions.PositiveDuration),
  gate: Schema.optionalKey(Schema.declare((u: unknown): u is Gate => typeof u === "object" && u !== null && "guard" in u, {
    expected: "a HealthGate"
  })),
  maxWaiting: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1))),
  initialDelay: Schema.optionalKey(ArborOptions.PositiveDuration),
  maxDelay: Schema.optionalKey(ArborOptions.PositiveDuration)
})

const toMillis = (input: Duration.Input | undefined, fallback: number): number =>
  input === undefined ? fallback : Duration.toMillis(Duration.fromInputUnsafe(input))

/** `Backpressure.make`: the options are checked once; each call then costs a few closures. */
export const make = <E>(options: Options<E>) =>
  Effect.map(ArborOptions.decode(OptionsSchema, "Backpressure", options), (decoded) => {
    const initial = toMillis(decoded.initialDelay, 0.5)
    const cap = Math.max(initial, toMillis(decoded.maxDelay, 50))
    const timeout = decoded.timeout === undefined ? undefined : Duration.fromInputUnsafe(decoded.timeout)
    const timeoutMillis = timeout === undefined ? Number.POSITIVE_INFINITY : Duration.toMillis(timeout)
    const timeoutText = timeout === undefined ? "" : Duration.format(timeout)
    const gate = options.gate
    const limit = decoded.maxWaiting === undefined ? undefined : Semaphore.makeUnsafe(decoded.maxWaiting)
    const guard = <A, E2, R>(attempt: Effect.Effect<A, E2, R>) => gate === undefined ? attempt : gate.guard(attempt)

    return {
      retry: <A, E2 extends E, R>(
        attempt: Effect.Effect<A, E2, R>,
        call?: { readonly deadline?: number }
      ): Effect.Effect<A, E2 | DeadlineExceeded | TimedOut | Unhealthy, R> =>
        Effect.flatMap(Clock.currentTimeMillis, (start): Effect.Effect<A, E2 | DeadlineExceeded | TimedOut | Unhealthy, R> => {
          const caller = call?.deadline ?? Number.POSITIVE_INFINITY
          const own = start + timeoutMillis
          // The earlier deadline wins; at a tie, the caller's: it would have given up anyway.
          const end = Math.min(caller, own)
          let attempts = 0
          const expired = Effect.suspend((): Effect.Effect<never, DeadlineExceeded | TimedOut> => {
            if (caller <= own) return Effect.fail(new DeadlineExceeded({ deadline: caller, attempts }))
            const error = new TimedOut({ timeout: timeoutText, attempts })
            return Effect.andThen(gate === undefined ? Effect.void : gate.record(error), Effect.fail(error))
          })
          const once = (now: number): Effect.Effect<A, E2 | DeadlineExceeded | TimedOut | Unhealthy, R> => {
            attempts++
            if (end === Number.POSITIVE_INFINITY) return guard(attempt)
            return Effect.flatMap(
              Effect.timeoutOption(guard(attempt), Math.max(0, end - now)),
              (result): Effect.Effect<A, DeadlineExceeded | TimedOut> => Option.isSome(result) ? Effect.succeed(result.value) : expired
            )
          }
          /** After a "busy": wait the next delay and try again, or give up now if the deadline comes first. */
          const again = (delay: number): Effect.Effect<A, E2 | DeadlineExceeded | TimedOut | Unhealthy, R> =>
            Effect.flatMap(Clock.currentTimeMillis, (now) => {
              if (now + delay >= end) return expired
              return Effect.andThen(
                Effect.sleep(delay),
                Effect.flatMap(Clock.currentTimeMillis, (now) =>
                  Effect.catchIf(once(now), isBusy, () => again(Math.min(delay * 2, cap))))
              )
            })
          const isBusy = (error: E2 | DeadlineExceeded | TimedOut | Unhealthy): error is E2 =>
            !(error instanceof DeadlineExceeded || error instanceof TimedOut || isUnhealthy(error)) && options.busy(error as E2)
          if (start >= end) return expired
          const waiting = limit === undefined ? again(initial) : waitTurn(limit, end, expired, again(initial))
          return Effect.catchIf(once(start), isBusy, () => waiting)
        })
    }
  })

const isUnhealthy = (error: unknown): error is Unhealthy =>
  typeof error === "object" && error !== null && "_tag" in error && error._tag === "Unhealthy"

/** Runs `waiting` holding one of `limit`'s permits; getting one counts against the deadline. */
const waitTurn = <A, E, R>(
  limit: Semaphore.Semaphore,
  end: number,
  expired: Effect.Effect<never, DeadlineExceeded | TimedOut>,
  waiting: Effect.Effect<A, E, R>
): Effect.Effect<A, E | DeadlineExceeded | TimedOut, R> => {
  if (end === Number.POSITIVE_INFINITY) return limit.withPermit(waiting)
  // Only the wait for a permit may be cut short; once taken, it is released whatever happens next.
  return Effect.uninterruptibleMask((restore) =>
    Effect.flatMap(Clock.currentTimeMillis, (now) =>
      Effect.flatMap(restore(Effect.timeoutOption(limit.take(1), Math.max(0, end - now))), (taken): Effect.Effect<A, E | DeadlineExceeded | TimedOut, R> =>
        Option.isNone(taken) ? expired : Effect.ensuring(restore(waiting), limit.release(1))))
  )
}
