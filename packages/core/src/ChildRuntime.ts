/**
 * Running effects from callbacks as fibers a child owns.
 *
 * Callback APIs — `node:http`'s request handler, sockets, event emitters,
 * timers of other libraries — call plain functions. Running an effect there
 * with `Effect.runFork` or `Effect.runPromiseWith(context)` makes a fiber that
 * belongs to nobody: it outlives the child, and its failure goes unseen.
 *
 * A `ChildRuntime`, made in a child's startup function (or main loop), runs
 * them as the child's own fibers instead, like Effect's
 * `FiberSet.makeRuntime`, bound to the child's scope:
 *
 * - they see the services of the fiber that made the runtime, the child's
 *   `Lifecycle` among them;
 * - they are interrupted when the child stops or ends before a restart; one
 *   asked for afterwards (a late callback) is interrupted at once;
 * - a failure is logged with the child's path, or, with `onFailure: "crash"`,
 *   ends the child as if its main loop had failed (then restarted as its
 *   policy says);
 * - how many run is in the tree's snapshot (`callbackFibers`), and
 *   `awaitEmpty` lets a main loop asked to settle finish those in flight.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import type { InvalidOptions } from "./Errors.ts"
import * as internal from "./internal/childRuntime.ts"
import type { Lifecycle } from "./Lifecycle.ts"

/**
 * Runs effects needing `R` as fibers of the child that made it.
 *
 * @example
 * ```ts
 * import { ChildRuntime, Lifecycle, MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 * import { EventEmitter } from "node:events"
 *
 * declare const orders: EventEmitter
 * declare const record: (order: string) => Effect.Effect<void, Error>
 *
 * const listener = Effect.gen(function* () {
 *   const runtime = yield* ChildRuntime.make()
 *   const onOrder = (order: string) => void runtime.runFork(record(order))
 *   orders.on("order", onOrder)
 *   yield* Effect.addFinalizer(() => Effect.sync(() => orders.off("order", onOrder)))
 *   return yield* MainLoop.run(Effect.andThen(Lifecycle.settling, runtime.awaitEmpty))
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChildRuntime<R> {
  /**
   * Runs `effect` as a fiber of the child, from any plain callback, and
   * returns the fiber. Its failure (not its interruption) is logged or
   * crashes the child, as `onFailure` says. After the child stopped, the
   * fiber is interrupted before it runs.
   */
  readonly runFork: <A, E>(effect: Effect.Effect<A, E, R>) => Fiber.Fiber<A, E>
  /**
   * Runs `effect` as a fiber of the child and returns its result as a
   * Promise, which rejects with the failure (squashed to one error): the
   * caller handles it, so it is neither logged nor crashes the child.
   */
  readonly runPromise: <A, E>(effect: Effect.Effect<A, E, R>) => Promise<A>
  /** How many of its fibers run now. */
  readonly size: Effect.Effect<number>
  /** Resumes once none of its fibers runs (at once if none does). */
  readonly awaitEmpty: Effect.Effect<void>
}

/**
 * Options of {@link make}: `onFailure` says what a fiber's failure does —
 * `"log"` (the default: a warning with the child's path and the cause) or
 * `"crash"` (the child ends with that failure, as if its main loop had
 * failed; a child still starting or being stopped is not crashed, and the
 * failure is logged instead).
 *
 * @example
 * ```ts
 * import type { ChildRuntime } from "@arbor/core"
 *
 * const options: ChildRuntime.Options = { onFailure: "crash" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly onFailure?: "log" | "crash"
}

/**
 * Makes a runtime for the current child: call it in the child's startup
 * function or main loop. `R` are the services its fibers may use besides the
 * child's `Lifecycle` (the child's `Scope` is not among them: a fiber scopes
 * what it acquires itself). Bad options fail it with `InvalidOptions`.
 *
 * @example
 * ```ts
 * import { ChildRuntime, Lifecycle, MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 * import { createServer } from "node:http"
 *
 * const api = Effect.gen(function* () {
 *   // A handler that fails crashes the child, which its system then restarts (and the server with it).
 *   const runtime = yield* ChildRuntime.make({ onFailure: "crash" })
 *   const server = createServer((request, response) => {
 *     runtime.runFork(Effect.sync(() => response.end(`hello from ${request.url}`)))
 *   })
 *   yield* Effect.acquireRelease(
 *     Effect.callback<void>((resume) => void server.listen(8080, "127.0.0.1", () => resume(Effect.void))),
 *     () => Effect.sync(() => server.close().closeAllConnections())
 *   )
 *   return yield* MainLoop.run(Effect.gen(function* () {
 *     yield* Lifecycle.settling
 *     server.close() // stop accepting; the requests in flight finish within the child's shutdown budget
 *     yield* runtime.awaitEmpty
 *   }))
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: <R = never>(options?: Options) => Effect.Effect<ChildRuntime<R | Lifecycle>, InvalidOptions, R | Lifecycle | Scope.Scope> =
  internal.make
