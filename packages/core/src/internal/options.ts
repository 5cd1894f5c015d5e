import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import { InvalidOptions } from "../Errors.ts"
import * as Options from "../Options.ts"
import type { RestartIntensity } from "../RestartIntensity.ts"
import { defaultIntensity } from "../RestartIntensity.ts"
import type { RestartPolicy } from "../RestartPolicy.ts"
import type { RestartStrategy } from "../RestartStrategy.ts"

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

const defaultWorkerShutdown = Duration.seconds(5)

const toBudget = (input: typeof Options.ShutdownBudget.Type): Budget =>
  input === "brutal" || input === "infinity" ? input : Duration.fromInputUnsafe(input)

const toChildConfig = (options: typeof Options.ChildOptions.Type, defaultShutdown: Budget): ChildConfig => ({
  restart: options.restart ?? "permanent",
  shutdown: options.shutdown === undefined ? defaultShutdown : toBudget(options.shutdown),
  startTimeout: options.startTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.startTimeout)
})

const toSystemConfig = (options: typeof Options.SystemOptions.Type): SystemConfig => ({
  strategy: options.strategy ?? "one_for_all",
  intensity: options.intensity === undefined ? defaultIntensity : {
    maxRestarts: options.intensity.maxRestarts,
    within: Duration.fromInputUnsafe(options.intensity.within)
  }
})

/** Validates a child's name. */
export const validateName = (path: string, name: unknown): Effect.Effect<string, InvalidOptions> =>
  Effect.mapError(Options.decode(Options.ChildName, path, name), (e) => new InvalidOptions({ path, issue: `name ${e.issue}` }))

/** Validates a worker's options; its budget defaults to 5 seconds. */
export const decodeWorker = (path: string, input: unknown): Effect.Effect<ChildConfig, InvalidOptions> =>
  Effect.map(Options.decode(Options.ChildOptions, path, input), (options) => toChildConfig(options, defaultWorkerShutdown))

/** Validates a subsystem's options; its budget defaults to `"infinity"`. */
export const decodeSubsystem = (
  path: string,
  input: unknown
): Effect.Effect<{ readonly child: ChildConfig; readonly system: SystemConfig }, InvalidOptions> =>
  Effect.map(Options.decode(Options.SubsystemOptions, path, input), (options) => ({
    child: toChildConfig(options, "infinity"),
    system: toSystemConfig(options)
  }))

/** Validates a toplevel's options. */
export const decodeSystem = (path: string, input: unknown): Effect.Effect<SystemConfig, InvalidOptions> =>
  Effect.map(Options.decode(Options.SystemOptions, path, input), toSystemConfig)
