/**
 * Schemas of Arbor's options, for validating them where they come from
 * configuration. The framework validates every option with these at the edge
 * (`Toplevel.start()`, each declaration); bad input becomes an
 * `InvalidOptions` error naming the path, and nothing starts.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import { InvalidOptions } from "./Errors.ts"
import { RestartPolicy } from "./RestartPolicy.ts"
import { RestartStrategy } from "./RestartStrategy.ts"

const isDurationInput = (u: unknown): u is Duration.Input => Option.isSome(Duration.fromInput(u as Duration.Input))

/**
 * A positive, finite `Duration.Input`, such as `"5 seconds"`, `250` (milliseconds) or `Duration.minutes(1)`.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.PositiveDuration)("5 seconds") // "5 seconds"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const PositiveDuration = Schema.declare(isDurationInput, {
  expected: "a duration such as \"5 seconds\" or a number of milliseconds"
}).check(Schema.makeFilter((input) => {
  const duration = Duration.fromInputUnsafe(input)
  return Duration.isPositive(duration) && Duration.isFinite(duration) ? undefined : "must be a positive, finite duration"
}))

/** A positive, finite duration or one of `words`; bad input gets one message naming them all, not one per alternative. */
const durationOr = <const W extends string>(words: ReadonlyArray<W>) => {
  const isWord = (u: unknown): u is W => words.includes(u as W)
  const expected = `${words.map((word) => JSON.stringify(word)).join(", ")} or a positive, finite duration`
  return Schema.declare((u: unknown): u is W | Duration.Input => isWord(u) || isDurationInput(u), { expected }).check(
    Schema.makeFilter((input) => {
      if (isWord(input)) return undefined
      const duration = Duration.fromInputUnsafe(input)
      return Duration.isPositive(duration) && Duration.isFinite(duration) ? undefined : `must be ${expected}`
    })
  )
}

/**
 * A settle budget (`System.ShutdownBudget`): how long a child may take to
 * settle before it is interrupted: a positive duration, `"brutal"`
 * (interrupt at once, no settling) or `"infinity"` (wait for as long as it
 * takes; the default for subsystems, whose own children's budgets bound
 * them).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.ShutdownBudget)("brutal") // "brutal"
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ShutdownBudget = durationOr(["brutal", "infinity"])
/** @since 0.1.0 */
export type ShutdownBudget = typeof ShutdownBudget.Type

/**
 * Restart intensity: `maxRestarts` a whole number ≥ 0, `within` a positive duration.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.Intensity)({ maxRestarts: 3, within: "5 seconds" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Intensity = Schema.Struct({
  maxRestarts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  within: PositiveDuration
})

const ScheduleSchema = Schema.declare(
  (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
  { expected: "a Schedule" }
)

/**
 * A restart backoff: a `Schedule` (its delays are the waits before each
 * restart), or `{ schedule, resetAfter }` to say after how long without a
 * restart the schedule starts over from its first delay.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schedule, Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.Backoff)({ schedule: Schedule.exponential("100 millis"), resetAfter: "1 minute" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Backoff = Schema.Union([
  ScheduleSchema,
  Schema.Struct({ schedule: ScheduleSchema, resetAfter: Schema.optionalKey(PositiveDuration) })
])

/**
 * Restart intensity: at most `maxRestarts` restarts within `within`.
 *
 * @example
 * ```ts
 * import type { Options } from "@arbor/core"
 *
 * const intensity: Options.IntensityOptions = { maxRestarts: 10, within: "1 minute" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface IntensityOptions {
  readonly maxRestarts: number
  readonly within: Duration.Input
}

/**
 * A restart backoff with a reset: after `resetAfter` without a restart
 * (default: the intensity's `within`), the schedule starts over from its
 * first delay.
 *
 * @example
 * ```ts
 * import type { Options } from "@arbor/core"
 * import { Schedule } from "effect"
 *
 * const backoff: Options.BackoffOptions = {
 *   schedule: Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("10 seconds")]),
 *   resetAfter: "1 minute"
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface BackoffOptions {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly resetAfter?: Duration.Input
}

/**
 * When a system shuts itself down because its significant children finished.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.AutoShutdown)("allSignificant")
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const AutoShutdown = Schema.Literals(["never", "anySignificant", "allSignificant"])

/**
 * A child's liveness deadline: it must call `Lifecycle.feed` at least once per `deadline` while it runs.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.Liveness)({ deadline: "30 seconds" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const Liveness = Schema.Struct({ deadline: PositiveDuration })

const childFields = {
  restart: Schema.optionalKey(RestartPolicy),
  shutdown: Schema.optionalKey(ShutdownBudget),
  startTimeout: Schema.optionalKey(PositiveDuration),
  significant: Schema.optionalKey(Schema.Boolean),
  liveness: Schema.optionalKey(Liveness)
}

const restartFields = {
  intensity: Schema.optionalKey(Intensity),
  backoff: Schema.optionalKey(Backoff)
}

const systemFields = {
  ...restartFields,
  strategy: Schema.optionalKey(RestartStrategy),
  autoShutdown: Schema.optionalKey(AutoShutdown)
}

/**
 * The options of a child (`System.ChildOptions`).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const fromConfig = Options.decode(Options.ChildOptions, "app/db", { restart: "transient", shutdown: "10 seconds" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ChildOptions = Schema.Struct(childFields)

/**
 * The options of a system itself (`System.SystemOptions`, `Toplevel.Options`).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const fromConfig = Options.decode(Options.SystemOptions, "app", { intensity: { maxRestarts: 10, within: "1 minute" } })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const SystemOptions = Schema.Struct(systemFields)

/**
 * The options of a subsystem (`System.SubsystemOptions`).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 *
 * const fromConfig = Options.decode(Options.SubsystemOptions, "app/workers", { shutdown: "1 minute", strategy: "one_for_all" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const SubsystemOptions = Schema.Struct({ ...childFields, ...systemFields })

/**
 * Options of a toplevel: those of its root system, plus how it is observed —
 * `snapshotPoolLimit` (how many children of each pool a snapshot lists,
 * default 100) and `eventBuffer` (how many events each `events` subscriber
 * may fall behind before its oldest are dropped, default 1024).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.ToplevelOptions)({ strategy: "one_for_one", snapshotPoolLimit: 20 })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ToplevelOptions = Schema.Struct({
  ...systemFields,
  snapshotPoolLimit: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  eventBuffer: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(1)))
})

/**
* How long a caller of a full pool's `spawn` or `run` waits for a slot:
 * `"infinity"` or a positive duration.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.SlotWait)("30 seconds")
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const SlotWait = durationOr(["infinity"])

/**
 * Options of a pool: how many children it holds at most (a whole number
 * ≥ 0; 0 refuses every child, as Elixir's `max_children: 0`) and how long a
 * caller waits for a slot when it is full (default: not at all), its
 * children's restart policy (default `"temporary"`), shutdown budget (default
 * 5 seconds) and startup timeout, and its own restart intensity and backoff
 * (the delay before each child's restart).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.PoolOptions)({ maxChildren: 1000, restart: "transient", shutdown: "2 seconds" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const PoolOptions = Schema.Struct({
  ...restartFields,
  maxChildren: Schema.optionalKey(Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))),
  wait: Schema.optionalKey(SlotWait),
  restart: Schema.optionalKey(RestartPolicy),
  shutdown: Schema.optionalKey(ShutdownBudget),
  startTimeout: Schema.optionalKey(PositiveDuration),
  liveness: Schema.optionalKey(Liveness)
})

/**
 * Options of a `ChildRuntime`: what a failed fiber does, `"log"` (the
 * default) or `"crash"` (its child).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.decodeUnknownSync(Options.ChildRuntimeOptions)({ onFailure: "crash" })
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ChildRuntimeOptions = Schema.Struct({
  onFailure: Schema.optionalKey(Schema.Literals(["log", "crash"]))
})

/**
 * A child's name: not empty, without `/` (which separates the parts of a path).
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Schema } from "effect"
 *
 * Schema.is(Options.ChildName)("db/pool") // false: "/" separates the parts of a path
 * ```
 *
 * @category schemas
 * @since 0.1.0
 */
export const ChildName = Schema.NonEmptyString.check(
  Schema.makeFilter((name) => name.includes("/") ? "must not contain \"/\" (it separates the parts of a path)" : undefined)
)

/**
 * Validates `input` (an options object; `undefined` means none) with `schema`.
 * Unknown keys are rejected, so a misspelt option is not silently ignored.
 *
 * @example
 * ```ts
 * import { Options } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const checked = Options.decode(Options.ChildOptions, "app/db", { shutdown: "2 seconds" })
 * const rejected = Effect.flip(Options.decode(Options.ChildOptions, "app/db", { shutdwn: "2 seconds" }))
 * ```
 *
 * @category validation
 * @since 0.1.0
 */
export const decode = <S extends Schema.Decoder<unknown>>(
  schema: S,
  path: string,
  input: unknown
): Effect.Effect<S["Type"], InvalidOptions> => {
  const exit = Schema.decodeUnknownExit(schema)(input ?? {}, { onExcessProperty: "error" })
  if (Exit.isSuccess(exit)) return Effect.succeed(exit.value)
  const error = Cause.squash(exit.cause)
  return Effect.fail(new InvalidOptions({ path, issue: error instanceof Error ? error.message : String(error) }))
}
