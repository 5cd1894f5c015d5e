import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Schedule from "effect/Schedule"
import { InvalidOptions } from "../Errors.ts"
import { System } from "../System.ts"
import * as Options from "../Options.ts"
import type { RestartIntensity } from "../RestartIntensity.ts"
import { defaultIntensity } from "../RestartIntensity.ts"
import type { RestartPolicy } from "../RestartPolicy.ts"
import type { RestartStrategy } from "../RestartStrategy.ts"
import type { SlotWait } from "./slotQueue.ts"

/** A shutdown budget once validated. */
export type Budget = Duration.Duration | "brutal" | "infinity"

/** A child's options once validated, with defaults filled in. */
export interface ChildConfig {
  readonly restart: RestartPolicy
  readonly shutdown: Budget
  readonly startTimeout: Duration.Duration | undefined
  readonly significant: boolean
  /** The liveness deadline: the longest a running child may go without a heartbeat. */
  readonly deadline: Duration.Duration | undefined
}

/** A restart backoff once validated: the schedule starts over after `resetAfter` without a restart. */
export interface BackoffConfig {
  readonly schedule: Schedule.Schedule<unknown, unknown>
  readonly resetAfter: Duration.Duration
}

/** How a supervisor (a system or a pool) limits its restarts. */
export interface RestartLimits {
  readonly intensity: RestartIntensity
  readonly backoff: BackoffConfig | undefined
}

/** A system's own options once validated, with defaults filled in. */
export interface SystemConfig extends RestartLimits {
  readonly strategy: RestartStrategy
  readonly autoShutdown: AutoShutdown
}

/** A pool's options once validated: its children's config and its own limits. */
export interface PoolConfig extends RestartLimits {
  readonly maxChildren: number
  /** How long a caller waits for a slot of the full pool; `undefined`: it fails at once. */
  readonly wait: SlotWait | undefined
  readonly child: ChildConfig
}

export type AutoShutdown = typeof Options.AutoShutdown.Type

const defaultWorkerShutdown = Duration.seconds(5)

const toBudget = (input: typeof Options.ShutdownBudget.Type): Budget =>
  input === "brutal" || input === "infinity" ? input : Duration.fromInputUnsafe(input)

const toChildConfig = (
  options: typeof Options.ChildOptions.Type,
  defaults: { readonly restart: RestartPolicy; readonly shutdown: Budget }
): ChildConfig => ({
  restart: options.restart ?? defaults.restart,
  shutdown: options.shutdown === undefined ? defaults.shutdown : toBudget(options.shutdown),
  startTimeout: options.startTimeout === undefined ? undefined : Duration.fromInputUnsafe(options.startTimeout),
  significant: options.significant ?? false,
  deadline: options.liveness === undefined ? undefined : Duration.fromInputUnsafe(options.liveness.deadline)
})

const toLimits = (options: typeof Options.SystemOptions.Type): RestartLimits => {
  const intensity = options.intensity === undefined ? defaultIntensity : {
    maxRestarts: options.intensity.maxRestarts,
    within: Duration.fromInputUnsafe(options.intensity.within)
  }
  const backoff = options.backoff
  if (backoff === undefined) return { intensity, backoff: undefined }
  const { resetAfter, schedule } = "schedule" in backoff ? backoff : { schedule: backoff, resetAfter: undefined }
  // By default a schedule starts over once the intensity window holds no restart.
  return {
    intensity,
    backoff: { schedule, resetAfter: resetAfter === undefined ? intensity.within : Duration.fromInputUnsafe(resetAfter) }
  }
}

const toSystemConfig = (options: typeof Options.SystemOptions.Type): SystemConfig => ({
  ...toLimits(options),
  strategy: options.strategy ?? "one_for_all",
  autoShutdown: options.autoShutdown ?? "never"
})

/** Significant children only make sense where they can end: not permanent, and under a system that shuts down for them. */
const checkSignificant = (path: string, config: ChildConfig, autoShutdown: AutoShutdown) => {
  if (!config.significant) return Effect.succeed(config)
  if (config.restart === "permanent") {
    return Effect.fail(new InvalidOptions({ path, issue: "a significant child must be transient or temporary" }))
  }
  if (autoShutdown === "never") {
    return Effect.fail(
      new InvalidOptions({ path, issue: "a significant child needs its system's autoShutdown to be \"anySignificant\" or \"allSignificant\"" })
    )
  }
  return Effect.succeed(config)
}

/** Validates a child's name; a plain good name (the usual case) skips the schema. */
export const validateName = (path: string, name: unknown): Effect.Effect<string, InvalidOptions> =>
  isPlainName(name)
    ? Effect.succeed(name)
    : Effect.mapError(Options.decode(Options.ChildName, path, name), (e) => new InvalidOptions({ path, issue: `name ${e.issue}` }))

/** A valid child name, checked without decoding: a non-empty string without `/`. */
export const isPlainName = (name: unknown): name is string => typeof name === "string" && name.length > 0 && !name.includes("/")

/** A worker declared without options. */
export const defaultWorker = toChildConfig({}, { restart: "permanent", shutdown: defaultWorkerShutdown })

/** Validates a worker's options; its budget defaults to 5 seconds. Declared without options, it needs no decoding. */
export const decodeWorker = (path: string, input: unknown, autoShutdown: AutoShutdown): Effect.Effect<ChildConfig, InvalidOptions> =>
  input === undefined ? Effect.succeed(defaultWorker) : Options.decode(Options.ChildOptions, path, input).pipe(
    Effect.flatMap((options) =>
      checkSignificant(path, toChildConfig(options, { restart: "permanent", shutdown: defaultWorkerShutdown }), autoShutdown)
    )
  )

/** Validates a subsystem's options; its budget defaults to `"infinity"`. */
export const decodeSubsystem = (
  path: string,
  input: unknown,
  autoShutdown: AutoShutdown
): Effect.Effect<{ readonly child: ChildConfig; readonly system: SystemConfig }, InvalidOptions> =>
  Options.decode(Options.SubsystemOptions, path, input).pipe(
    Effect.flatMap((options) =>
      Effect.map(
        checkSignificant(path, toChildConfig(options, { restart: "permanent", shutdown: "infinity" }), autoShutdown),
        (child) => ({ child, system: toSystemConfig(options) })
      )
    )
  )

/**
 * Validates a pool's options. The pool itself is a permanent child whose
 * budget is `"infinity"` (its children's budgets bound it); its children are
 * temporary with a 5-second budget by default.
 */
export const decodePool = (path: string, input: unknown): Effect.Effect<PoolConfig, InvalidOptions> =>
  Effect.map(Options.decode(Options.PoolOptions, path, input), (options) => ({
    ...toLimits(options),
    maxChildren: options.maxChildren ?? Number.POSITIVE_INFINITY,
    wait: options.wait === undefined ? undefined : toSlotWait(options.wait),
    child: toChildConfig(options, { restart: "temporary", shutdown: defaultWorkerShutdown })
  }))

const toSlotWait = (input: typeof Options.SlotWait.Type): SlotWait =>
  input === "infinity" ? input : Duration.fromInputUnsafe(input)

/** Validates the `wait` of one `spawn` or `run`. */
export const decodeSlotWait = (path: string, input: unknown): Effect.Effect<SlotWait, InvalidOptions> =>
  Effect.map(Options.decode(Options.SlotWait, path, input), toSlotWait)

/** The config of a pool as a child of its system. */
export const poolChildConfig: ChildConfig = {
  restart: "permanent",
  shutdown: "infinity",
  startTimeout: undefined,
  significant: false,
  deadline: undefined
}

/** A toplevel's options once validated: its root system's, and how it is observed. */
export interface ToplevelConfig {
  readonly system: SystemConfig
  readonly snapshotPoolLimit: number
  readonly eventBuffer: number
}

/** Validates a toplevel's options. */
export const decodeToplevel = (path: string, input: unknown): Effect.Effect<ToplevelConfig, InvalidOptions> =>
  Effect.map(Options.decode(Options.ToplevelOptions, path, input), (options) => ({
    system: toSystemConfig(options),
    snapshotPoolLimit: options.snapshotPoolLimit ?? 100,
    eventBuffer: options.eventBuffer ?? 1024
  }))

/** How an error message names a value that is not what was expected: `42`, `"work"`, `a function`, `an object`. */
export const describeValue = (u: unknown): string => {
  if (u === null || u === undefined || typeof u === "number" || typeof u === "boolean" || typeof u === "bigint") return String(u)
  if (typeof u === "string") return JSON.stringify(u)
  if (typeof u === "function") return "a function"
  if (typeof u === "symbol") return "a symbol"
  if (typeof (u as { then?: unknown }).then === "function") return "a Promise"
  return Array.isArray(u) ? "an array" : "an object"
}

/** A startup (or a pool's task) that is not an Effect: refused when declared, before anything runs. */
export const notAnEffect = (path: string, u: unknown): InvalidOptions =>
  new InvalidOptions({ path, issue: `expected an Effect that returns a MainLoop, got ${describeValue(u)}` })

/** Whether `u` can be run as a system: a `System`, or an object with a `start` method. */
export const isSystem = (u: unknown): u is System<unknown> =>
  u instanceof System || (typeof u === "object" && u !== null && typeof (u as { start?: unknown }).start === "function")

/** A subsystem (or a toplevel's root) that is not a `System`. */
export const notASystem = (path: string, u: unknown): InvalidOptions =>
  new InvalidOptions({ path, issue: `expected a System (a class extending System.System, or System.make(...)), got ${describeValue(u)}` })

/** A startup returned `u` where a `MainLoop` belongs. */
export const notAMainLoop = (path: string, u: unknown): InvalidOptions =>
  new InvalidOptions({
    path,
    issue: `the startup returned ${describeValue(u)}, not a MainLoop: end it with MainLoop.spawn, MainLoop.run or MainLoop.make`
  })
