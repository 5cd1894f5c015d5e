/**
 * Pools: dynamic children, started while the tree runs (OTP's
 * `simple_one_for_one`, Elixir's `DynamicSupervisor` and `Task.Supervisor`).
 *
 * A system declares a pool with `scope.pool(name, options)` and hands the
 * `Pool` to whoever needs to start children in it. Each child is restarted on
 * its own (temporary children never are), counted against the pool's restart
 * intensity; a pool that gives up fails as a child of its system. Finding,
 * restarting or removing a child never scans its siblings, so a pool holds
 * 100,000 children comfortably.
 *
 * A full pool (`maxChildren`) refuses a child at once with `PoolFull`, unless
 * the caller is to wait for a slot (`wait`): then callers wait in arrival
 * order, each slot that comes free goes to the first of them, and a caller
 * interrupted or timed out leaves the queue as if it had never been in it.
 *
 * On shutdown the pool settles all its children in parallel, each under the
 * pool's `shutdown` budget, then interrupts the laggards; how many had to be
 * interrupted is reported in a {@link ShutdownReport}.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Schedule from "effect/Schedule"
import type { DuplicateChild, InvalidOptions, PoolClosed, PoolFull, SystemError } from "./Errors.ts"
import type { MainLoop, SpawnContext } from "./MainLoop.ts"
import type { RestartPolicy } from "./RestartPolicy.ts"
import type { BackoffOptions, IntensityOptions, ShutdownBudget } from "./Options.ts"

/**
 * A pool of dynamic children.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const app = System.make((scope) =>
 *   Effect.gen(function* () {
 *     const jobs = yield* scope.pool("jobs", { maxChildren: 100, restart: "transient" })
 *     yield* scope.child("intake", MainLoop.spawn(Effect.gen(function* () {
 *       const job = yield* jobs.spawn(MainLoop.spawn(Effect.log("working")), { name: "job-1" })
 *       yield* job.await
 *       yield* jobs.run(Effect.log("fire and forget"))
 *     })))
 *   })
 * )
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Pool {
  /** The pool's path; its children's paths are `path/name`. */
  readonly path: string
  /**
   * Starts a child and resumes once its startup function returned. Fails
   * with `PoolFull` beyond `maxChildren` (at once, or after waiting for a
   * slot as the `wait` option says), `PoolClosed` once the pool shuts down, `DuplicateChild` when a running child already has this name, or
   * `StartupFailed` when the startup fails (it is then not restarted).
   */
  spawn<A, E, R>(
    start: Effect.Effect<MainLoop<A>, E, R>,
    options?: SpawnOptions
  ): Effect.Effect<PoolChild<A>, SpawnError, Exclude<R, SpawnContext>>
  /** Runs `task` as a child whose main loop is the task itself: fire and forget. */
  run<E, R>(task: Effect.Effect<unknown, E, R>, options?: SpawnOptions): Effect.Effect<PoolChild<void>, SpawnError, Exclude<R, SpawnContext>>
  /** How many children the pool holds, those waiting to restart included. */
  readonly size: Effect.Effect<number>
  /** How many callers wait for a slot of the full pool. */
  readonly waiting: Effect.Effect<number>
  /** Resumes once the pool has shut down, with what its shutdown had to do. */
  readonly shutdownReport: Effect.Effect<ShutdownReport>
}

/**
 * A child of a pool.
 *
 * @example
 * ```ts
 * import type { Pool } from "@arbor/core"
 * import { Effect, Exit } from "effect"
 *
 * declare const child: Pool.PoolChild<string>
 * const finished = Effect.map(child.await, Exit.isSuccess)
 * const stopped = child.stop
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface PoolChild<A> {
  readonly name: string
  readonly path: string
  /** The value its first startup returned (a restart does not re-deliver its new value). */
  readonly value: A
  /** Resumes with the exit of its last main loop, once it finished for good or was stopped. */
  readonly await: Effect.Effect<Exit.Exit<unknown, unknown>>
  /** Stops it (settle, then interrupt after the pool's `shutdown` budget); it is not restarted. */
  readonly stop: Effect.Effect<void>
}

/**
 * Options of one `spawn` or `run`.
 *
 * @example
 * ```ts
 * import type { Pool } from "@arbor/core"
 *
 * const options: Pool.SpawnOptions = { name: "upload-42", wait: "10 seconds" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SpawnOptions {
  /** Unique among the pool's running children; default a number counting up. */
  readonly name?: string
  /**
   * When the pool is full: wait up to this long for a slot (`"infinity"`: no
   * bound), in arrival order, then fail with `PoolFull`. Default: the pool's
   * own `wait` option, which defaults to failing at once.
   */
  readonly wait?: Duration.Input | "infinity"
}

/**
 * What `spawn` can fail with.
 *
 * @example
 * ```ts
 * import type { Pool } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const spawned: Effect.Effect<Pool.PoolChild<void>, Pool.SpawnError>
 * const orNull = spawned.pipe(Effect.catchTag("PoolFull", () => Effect.succeed(null)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export type SpawnError = PoolFull | PoolClosed | DuplicateChild | InvalidOptions | SystemError

/**
 * What a pool's shutdown did: how many children it stopped, and how many of
 * them had to be interrupted (they did not settle within the budget, or the
 * budget is `"brutal"`). A shutdown with `forced > 0` was graceful but not
 * complete: operators should know.
 *
 * @example
 * ```ts
 * import type { Pool } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const pool: Pool.Pool
 * const check = Effect.flatMap(pool.shutdownReport, (report) =>
 *   report.forced > 0 ? Effect.logWarning(`${report.forced} of ${report.stopped} children were interrupted`) : Effect.void
 * )
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ShutdownReport {
  readonly stopped: number
  readonly forced: number
}

/**
 * Options of a pool.
 *
 * @example
 * ```ts
 * import type { Pool } from "@arbor/core"
 * import { Schedule } from "effect"
 *
 * const options: Pool.PoolOptions = {
 *   maxChildren: 10_000,
 *   wait: "30 seconds",
 *   restart: "transient",
 *   shutdown: "3 seconds",
 *   intensity: { maxRestarts: 100, within: "10 seconds" },
 *   backoff: Schedule.exponential("50 millis")
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface PoolOptions {
  /** At most this many children (those waiting to restart included), 0 or more; unbounded by default. */
  readonly maxChildren?: number
  /**
   * How long a caller of the full pool's `spawn` or `run` waits for a slot
   * (`"infinity"`: no bound), in arrival order, before it fails with
   * `PoolFull`. Default: it fails at once. Each call may say otherwise.
   */
  readonly wait?: Duration.Input | "infinity"
  /** The children's restart policy; default `"temporary"`. */
  readonly restart?: RestartPolicy
  /** Each child's settle budget; default 5 seconds. All children settle in parallel. */
  readonly shutdown?: ShutdownBudget
  /** How long each child's startup may take; unbounded by default. */
  readonly startTimeout?: Duration.Input
  /** Each running child must call `Lifecycle.feed` at least once per `deadline` (see `System.ChildOptions`). */
  readonly liveness?: { readonly deadline: Duration.Input }
  /** The pool's restart intensity, over all its children; default 3 within 5 seconds. */
  readonly intensity?: IntensityOptions
  /** The delay before each child's restart; each child follows the schedule on its own. */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | BackoffOptions
}
