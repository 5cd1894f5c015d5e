/**
 * Health gates: stop taking work while a dependency is bad, say why, and
 * take it again by themselves once the dependency has recovered.
 *
 * A gate watches signals about one dependency (a store, a downstream API):
 * errors the service met (`record`), successes (`recordSuccess`) and
 * counters reported by a probe (`observe`, such as the store's failed or
 * stalled writes). It is *healthy*, *suspect* (an unhealthy signal holds and
 * the latch window runs) or *latched*:
 *
 * - a **fatal** error (the classifier says so: disk full, I/O error,
 *   corruption) latches it at once;
 * - other unhealthy signals latch it once they have held, without a healthy
 *   observation in between, for `latchAfter` (default 15 seconds);
 * - latched, it clears itself after `unlatchAfter` (default 5 minutes)
 *   without new growth of any signal, unless `allowUnlatch` is false; then
 *   only `reset` (or a new process) clears it.
 *
 * While latched, `guard(effect)` fails at once with {@link Unhealthy}.
 * Made inside a tree, a gate shows in the tree's snapshot (and `/tree`),
 * each latch and unlatch is a lifecycle event and a log line, and
 * `/readyz` answers 503 with its reason. See docs/health.md.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { InvalidOptions } from "./Errors.ts"
import { makeGate } from "./internal/gate.ts"
import * as GateState from "./internal/gateState.ts"

/**
 * A health gate.
 *
 * @example
 * ```ts
 * import { HealthGate } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const gate: HealthGate.HealthGate
 * declare const write: Effect.Effect<void, Error>
 *
 * // Fails fast with `Unhealthy` while latched; tells the gate how the write went.
 * const guarded = gate.guard(write.pipe(Effect.tapError(gate.record), Effect.tap(() => gate.recordSuccess)))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface HealthGate {
  /** Its name: unique in its tree, the `gate` label of its metrics. */
  readonly name: string
  /** The path of the system or child that made it (its name, outside a tree). */
  readonly path: string
  /** Where it is now. */
  readonly status: Effect.Effect<Status>
  /** Whether it is latched now. */
  readonly isLatched: Effect.Effect<boolean>
  /** Its status now, then each change of it. */
  readonly changes: Stream.Stream<Status>
  /**
   * Records an error the service met with the dependency. The classifier
   * says whether it is fatal (latches at once), unhealthy (holds until
   * `recordSuccess`) or to be ignored. While latched, any recorded error
   * restarts the quiet period before the gate may clear.
   */
  record(error: unknown): Effect.Effect<void>
  /** Records a success with the dependency: the recorded errors no longer hold. Cheap: call it on every success. */
  readonly recordSuccess: Effect.Effect<void>
  /**
   * Reports the value of a counter of trouble (`"failedWrites"`, 12). The
   * first report is the baseline; growth over the last report is unhealthy,
   * no growth healthy; after an unlatch the counter's value then is its
   * baseline.
   */
  observe(probe: string, value: number): Effect.Effect<void>
  /** Runs `effect`, or fails at once with `Unhealthy` while the gate is latched. */
  guard<A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E | Unhealthy, R>
  /** Clears a latch (or an open window) now, whatever `allowUnlatch` says. */
  readonly reset: Effect.Effect<void>
}

/**
 * Where a gate is: `Healthy`; `Suspect` since an unhealthy signal began to
 * hold (`reason` lists what holds); `Latched` since `since`, with the reason.
 * Times are epoch milliseconds on Effect's `Clock`.
 *
 * @example
 * ```ts
 * import type { HealthGate } from "@arbor/core"
 *
 * const line = (status: HealthGate.Status) => status._tag === "Healthy" ? "ok" : `${status._tag}: ${status.reason}`
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Status = GateState.Status

/**
 * How much an error says about the dependency: `"fatal"` latches the gate at
 * once, `"unhealthy"` holds until a success, `"ignore"` is none of the
 * gate's business (a bad request, say).
 *
 * @example
 * ```ts
 * import type { HealthGate } from "@arbor/core"
 *
 * const severity: HealthGate.Severity = "fatal"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Severity = GateState.Severity

/**
 * Options of a gate.
 *
 * - `latchAfter`: how long unhealthy signals must hold before the gate latches; default 15 seconds.
 * - `unlatchAfter`: how long a latched gate must see no growth of any signal before it clears; default 5 minutes.
 * - `allowUnlatch`: whether it clears by itself at all; default true.
 * - `classify`: the severity of a recorded error; default {@link classifyDefault}.
 *
 * @example
 * ```ts
 * import type { HealthGate } from "@arbor/core"
 *
 * const options: HealthGate.Options = {
 *   latchAfter: "15 seconds",
 *   unlatchAfter: "5 minutes",
 *   classify: (error) => error instanceof Error && error.message.includes("corrupt") ? "fatal" : "unhealthy"
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly latchAfter?: Duration.Input
  readonly unlatchAfter?: Duration.Input
  readonly allowUnlatch?: boolean
  readonly classify?: (error: unknown) => Severity
}

/**
 * The error of `guard` while the gate is latched: which gate, why, and since
 * when (epoch milliseconds). A protocol layer answers it with "unavailable,
 * retry later" (HTTP 503 with `Retry-After`).
 *
 * @example
 * ```ts
 * import { HealthGate } from "@arbor/core"
 *
 * new HealthGate.Unhealthy({ gate: "store", reason: "fatal: disk full", since: 0 }).message
 * // "health gate store is latched: fatal: disk full"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const Unhealthy: typeof GateState.Unhealthy = GateState.Unhealthy
/** @since 0.1.0 */
export type Unhealthy = GateState.Unhealthy

/**
 * The default classifier: Node's system errors for a full disk or a failed
 * device (`ENOSPC`, `EDQUOT`, `EIO`, `EROFS`) are fatal; anything else is
 * unhealthy. A store's own errors usually need a classifier of their own.
 *
 * @example
 * ```ts
 * import { HealthGate } from "@arbor/core"
 *
 * HealthGate.classifyDefault(Object.assign(new Error("no space left"), { code: "ENOSPC" })) // "fatal"
 * HealthGate.classifyDefault(new Error("timeout")) // "unhealthy"
 * ```
 *
 * @category classifiers
 * @since 0.1.0
 */
export const classifyDefault: (error: unknown) => Severity = GateState.classifyDefault

/**
 * Makes a gate that lives as long as the current `Scope`. In a system's
 * `start`, that is the system: a restart of the system (a replay of
 * `start`) gets the same gate back, latch and all. Inside a tree, gate
 * names are unique; another gate of the same name fails with
 * `InvalidOptions`, as do bad options.
 *
 * @example
 * ```ts
 * import { HealthGate, MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const writer: (gate: HealthGate.HealthGate) => Effect.Effect<MainLoop.MainLoop<void>, never, MainLoop.SpawnContext>
 *
 * class Service extends System.System {
 *   start(scope: System.Scope) {
 *     return Effect.gen(function*() {
 *       const gate = yield* HealthGate.make("store", { latchAfter: "15 seconds", unlatchAfter: "5 minutes" })
 *       yield* scope.child("writer", writer(gate))
 *     })
 *   }
 * }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (name: string, options?: Options): Effect.Effect<HealthGate, InvalidOptions, Scope.Scope> =>
  makeGate(name, options)
