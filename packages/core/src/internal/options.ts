import * as Cause from "effect/Cause"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Option from "effect/Option"
import * as Schema from "effect/Schema"
import { InvalidOptions } from "../Errors.ts"
import type { RestartIntensity } from "../RestartIntensity.ts"
import { defaultIntensity } from "../RestartIntensity.ts"
import { RestartPolicy } from "../RestartPolicy.ts"
import type { RestartStrategy } from "../RestartStrategy.ts"
import { RestartStrategy as RestartStrategySchema } from "../RestartStrategy.ts"

const isDurationInput = (u: unknown): u is Duration.Input => Option.isSome(Duration.fromInput(u as Duration.Input))

const DurationInput = Schema.declare(isDurationInput, {
  expected: "a duration such as \"5 seconds\" or a number of milliseconds"
})

const PositiveDuration = DurationInput.check(Schema.makeFilter((input) => {
  const duration = Duration.fromInputUnsafe(input)
  return Duration.isPositive(duration) && Duration.isFinite(duration) ? undefined : "must be a positive, finite duration"
}))

const ShutdownBudget = Schema.Union([Schema.Literals(["brutal", "infinity"]), PositiveDuration])

const Intensity = Schema.Struct({
  maxRestarts: Schema.Int.check(Schema.isGreaterThanOrEqualTo(0)),
  within: PositiveDuration
})

const childFields = {
  restart: Schema.optionalKey(RestartPolicy),
  shutdown: Schema.optionalKey(ShutdownBudget),
  startTimeout: Schema.optionalKey(PositiveDuration)
}

const systemFields = {
  strategy: Schema.optionalKey(RestartStrategySchema),
  intensity: Schema.optionalKey(Intensity)
}

const ChildOptions = Schema.Struct(childFields)
const SubsystemOptions = Schema.Struct({ ...childFields, ...systemFields })
const SystemOptions = Schema.Struct(systemFields)

const ChildName = Schema.NonEmptyString.check(
  Schema.makeFilter((name) => name.includes("/") ? "must not contain \"/\" (it separates the parts of a path)" : undefined)
)

/** A shutdown budget once validated. */
export type Budget = Duration.Duration | "brutal" | "infinity"

/** A child's options once validated, with defaults filled in. */
export interface ChildConfig {
  readonly restart: RestartPolicy
  readonly shutdown: Budget
  readonly startTimeout: Duration.Duration | undefined
}

/** A system's own options once validated, with defaults filled in. */
export interface SystemConfig {
  readonly strategy: RestartStrategy
  readonly intensity: RestartIntensity
}

const defaultChildShutdown = Duration.seconds(5)

const decode = <S extends Schema.Decoder<unknown>>(schema: S, path: string, input: unknown) => {
  const exit = Schema.decodeUnknownExit(schema)(input ?? {}, { onExcessProperty: "error" })
  return Exit.isSuccess(exit)
    ? Effect.succeed(exit.value)
    : Effect.fail(new InvalidOptions({ path, issue: issueOf(exit.cause) }))
}

const issueOf = (cause: Cause.Cause<unknown>): string => {
  const error = Cause.squash(cause)
  return error instanceof Error ? error.message : String(error)
}

const toBudget = (input: Duration.Input | "brutal" | "infinity"): Budget =>
  input === "brutal" || input === "infinity" ? input : Duration.fromInputUnsafe(input)

const toSystemConfig = (options: typeof SystemOptions.Type): SystemConfig => ({
  strategy: options.strategy ?? "one_for_all",
  intensity: options.intensity === undefined ? defaultIntensity : {
    maxRestarts: options.intensity.maxRestarts,
    within: Duration.fromInputUnsafe(options.intensity.within)
  }
})

/** Validates a child's name: non-empty, no `/`. */
export const validateName = (path: string, name: unknown): Effect.Effect<string, InvalidOptions> =>
  Effect.mapError(decode(ChildName, path, name), (e) => new InvalidOptions({ path: e.path, issue: `name ${e.issue}` }))

/** Validates a worker child's options. */
export const decodeChild = (path: string, input: unknown): Effect.Effect<ChildConfig, InvalidOptions> =>
  Effect.map(decode(ChildOptions, path, input), (options) => ({
    restart: options.restart ?? "permanent",
    shutdown: options.shutdown === undefined ? defaultChildShutdown : toBudget(options.shutdown),
    startTimeout: options.startTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.startTimeout)
  }))

/** Validates a subsystem's options: those of a child (shutdown defaults to `"infinity"`) and of a system. */
export const decodeSubsystem = (
  path: string,
  input: unknown
): Effect.Effect<{ readonly child: ChildConfig; readonly system: SystemConfig }, InvalidOptions> =>
  Effect.map(decode(SubsystemOptions, path, input), (options) => ({
    child: {
      restart: options.restart ?? "permanent",
      shutdown: options.shutdown === undefined ? "infinity" : toBudget(options.shutdown),
      startTimeout: options.startTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.startTimeout)
    },
    system: toSystemConfig(options)
  }))

/** Validates a toplevel's options. */
export const decodeSystem = (path: string, input: unknown): Effect.Effect<SystemConfig, InvalidOptions> =>
  Effect.map(decode(SystemOptions, path, input), toSystemConfig)
