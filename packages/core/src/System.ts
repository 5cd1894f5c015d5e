/**
 * Systems: supervisors, declared as classes.
 *
 * A system's `start(scope)` declares its children in order through the
 * {@link Scope}. Each declaration waits until that child is running (its
 * startup function returned) and resumes with the child's value, so later
 * children can use what earlier ones hand back. The system then supervises
 * them: a child that exits is handled by its restart policy; a restart of the
 * system stops the children in reverse order and runs `start` again.
 *
 * Systems nest: `scope.system(name, sub)` declares a subsystem as a child.
 *
 * @since 0.1.0
 */
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Option from "effect/Option"
import type * as Schedule from "effect/Schedule"
import type { MainLoop, SpawnContext } from "./MainLoop.ts"
import type { BackoffOptions, IntensityOptions, ShutdownBudget } from "./Options.ts"
import type { Pool, PoolOptions } from "./Pool.ts"
import type { RestartPolicy } from "./RestartPolicy.ts"
import type { RestartStrategy } from "./RestartStrategy.ts"

/**
 * A supervisor. Extend it and declare the children in `start`. The services
 * the tree needs (`R`) are inferred from `start`, so a `Toplevel` of this
 * system requires them at the type level.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return Effect.gen(function* () {
 *       const port = yield* scope.child("config", MainLoop.spawn(Effect.never, 8080))
 *       yield* scope.child("server", MainLoop.spawn(Effect.log(`listening on ${port}`).pipe(Effect.andThen(Effect.never))))
 *     })
 *   }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export abstract class System<R = unknown> {
  /**
   * Declares the children, in start order. It runs again (a *replay*) each
   * time the system restarts; keep the declarations the same on every run.
   */
  abstract start(scope: Scope): Effect.Effect<void, unknown, R>
}

// The option types that pools take too live with their schemas in Options.ts.
export type { BackoffOptions, IntensityOptions, ShutdownBudget } from "./Options.ts"

/**
 * Options of a child.
 *
 * @example
 * ```ts
 * import type { System } from "@arbor/core"
 *
 * const options: System.ChildOptions = { restart: "transient", shutdown: "2 seconds", startTimeout: "10 seconds" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChildOptions<P extends RestartPolicy = RestartPolicy> {
  /** When the child is restarted; default `"permanent"`. */
  readonly restart?: P
  /** Its settle budget; default 5 seconds for a worker, `"infinity"` for a subsystem. */
  readonly shutdown?: ShutdownBudget
  /** How long its startup function may take; unbounded by default. */
  readonly startTimeout?: Duration.Input
  /**
   * Whether its end may end its system (see `autoShutdown`); default false.
   * Only for transient and temporary children.
   */
  readonly significant?: boolean
  /**
   * A running child must call `Lifecycle.feed` at least once per `deadline`;
   * one that misses it is taken for hung: interrupted and failed with `Hung`
   * (then restarted as its policy says, counted toward intensity).
   */
  readonly liveness?: { readonly deadline: Duration.Input }
}

/**
 * Options of a system itself: how it restarts its children.
 *
 * @example
 * ```ts
 * import type { System } from "@arbor/core"
 * import { Schedule } from "effect"
 *
 * const options: System.SystemOptions = {
 *   strategy: "rest_for_one",
 *   intensity: { maxRestarts: 5, within: "10 seconds" },
 *   backoff: Schedule.exponential("200 millis").pipe(Schedule.jittered)
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SystemOptions {
  /** Default `"one_for_all"`. */
  readonly strategy?: RestartStrategy
  /** Default 3 restarts within 5 seconds. */
  readonly intensity?: IntensityOptions
  /**
   * The delay before each restart: each output delay of the schedule, in
   * turn; a schedule that ends allows no more restarts (`BackoffEnded`).
   * While it waits, the system is `restarting`; a shutdown meanwhile
   * completes at once. Every restart counts toward intensity, waited or not.
   * Default: restart at once.
   */
  readonly backoff?: Schedule.Schedule<unknown, unknown> | BackoffOptions
  /**
   * Whether the system shuts itself down (normally, not as a failure) when
   * its significant children finish on their own: `"anySignificant"` when
   * one does, `"allSignificant"` when the last one does. Default `"never"`.
   */
  readonly autoShutdown?: "never" | "anySignificant" | "allSignificant"
}

/**
 * Options of a subsystem: those of a child and those of a system.
 *
 * @example
 * ```ts
 * import type { System } from "@arbor/core"
 *
 * const options: System.SubsystemOptions = { shutdown: "1 minute", intensity: { maxRestarts: 5, within: "30 seconds" } }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface SubsystemOptions<P extends RestartPolicy = RestartPolicy> extends ChildOptions<P>, SystemOptions {}

/**
 * What a declaration resumes with: the value itself for a permanent child
 * (it always runs); an `Option` for a transient or temporary one, `None` when
 * a replay skips it because it already finished for good.
 *
 * @example
 * ```ts
 * import type { System } from "@arbor/core"
 * import type { Option } from "effect"
 *
 * type Permanent = System.ChildValue<number, "permanent"> // number
 * type Transient = System.ChildValue<number, "transient"> // Option<number>
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ChildValue<A, P extends RestartPolicy> = [P] extends ["permanent"] ? A : Option.Option<A>

/**
 * What `start` declares children through. Declarations run one at a time, in
 * order: each resumes once its child runs.
 *
 * A child's options and the uniqueness of its name are checked when it is
 * declared; a bad declaration stops the children declared before it, in
 * reverse order, and fails the system with `InvalidOptions` or
 * `DuplicateChild`.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const tree = System.make((scope: System.Scope) =>
 *   Effect.gen(function* () {
 *     const port = yield* scope.child("config", MainLoop.spawn(Effect.never, 8080))
 *     yield* scope.child("server", MainLoop.spawn(Effect.log(`${scope.path} serves on ${port}`)))
 *   })
 * )
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Scope {
  /** The path of the system declaring children, e.g. `"app/db"`. */
  readonly path: string

  /**
   * Declares a worker child. `start` is its startup function: setup work,
   * then a `MainLoop` (see `MainLoop.spawn`). The framework provides the
   * child's `Lifecycle` and its own `Scope` to it.
   *
   * @example
   * ```ts
   * import { MainLoop, System } from "@arbor/core"
   * import { Effect, Queue } from "effect"
   *
   * class Pipeline extends System.System {
   *   start(scope: System.Scope) {
   *     return Effect.gen(function* () {
   *       const inbox = yield* scope.child("sink", Effect.gen(function* () {
   *         const queue = yield* Queue.unbounded<number>()
   *         return yield* MainLoop.spawn(Effect.forever(Queue.take(queue)), queue)
   *       }))
   *       yield* scope.child("source", MainLoop.spawn(Queue.offer(inbox, 1)), { restart: "transient" })
   *     })
   *   }
   * }
   * ```
   */
  child<A, E, R, const P extends RestartPolicy = "permanent">(
    name: string,
    start: Effect.Effect<MainLoop<A>, E, R>,
    options?: ChildOptions<P>
  ): Effect.Effect<ChildValue<A, P>, never, Exclude<R, SpawnContext>>

  /**
   * Declares a subsystem. It resumes once the subsystem's own `start` has
   * declared all its children and they run.
   *
   * @example
   * ```ts
   * import { MainLoop, System } from "@arbor/core"
   * import { Effect } from "effect"
   *
   * class Workers extends System.System {
   *   start(scope: System.Scope) {
   *     return scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
   *   }
   * }
   *
   * class App extends System.System {
   *   start(scope: System.Scope) {
   *     return scope.system("workers", new Workers(), { intensity: { maxRestarts: 10, within: "1 minute" } })
   *   }
   * }
   * ```
   */
  system<R, const P extends RestartPolicy = "permanent">(
    name: string,
    system: System<R>,
    options?: SubsystemOptions<P>
  ): Effect.Effect<void, never, Exclude<R, SpawnContext>>

  /**
   * Declares a pool of dynamic children and resumes with its handle. The
   * pool is a permanent child of this system; a restart of the pool (or of
   * its system) makes a new pool, with a new handle.
   *
   * @example
   * ```ts
   * import { MainLoop, System } from "@arbor/core"
   * import { Effect } from "effect"
   *
   * const server = System.make((scope) =>
   *   Effect.gen(function* () {
   *     const connections = yield* scope.pool("connections", { maxChildren: 10_000, shutdown: "2 seconds" })
   *     yield* scope.child("acceptor", MainLoop.spawn(connections.run(Effect.log("one connection"))))
   *   })
   * )
   * ```
   */
  pool(name: string, options?: PoolOptions): Effect.Effect<Pool>
}

/**
 * Makes a system from its `start` function, for small systems that need no
 * class of their own.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const workers = System.make((scope) =>
 *   Effect.gen(function* () {
 *     yield* scope.child("a", MainLoop.spawn(Effect.never))
 *     yield* scope.child("b", MainLoop.spawn(Effect.never))
 *   })
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R>(start: (scope: Scope) => Effect.Effect<void, unknown, R>): System<R> =>
  new (class extends System<R> {
    start(scope: Scope) {
      return start(scope)
    }
  })()
