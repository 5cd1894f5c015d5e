/**
 * A child's main loop: the fiber that is the running child, plus the value its
 * startup function hands back to the system that declared it.
 *
 * A startup function does its setup work (open a connection, make a queue)
 * and returns a `MainLoop`. From then on the child is *running*; it stops when
 * the main loop's fiber ends. The value flows to later siblings: the return
 * of `scope.child(...)` is the main loop's value.
 *
 * @since 0.1.0
 */
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as Scope from "effect/Scope"
import { Lifecycle, settling } from "./Lifecycle.ts"

const TypeId = "~@arbor/core/MainLoop"

/**
 * The main loop of a child and the value handed to its system.
 *
 * @example
 * ```ts
 * import { MainLoop } from "@arbor/core"
 * import { Effect, Queue } from "effect"
 *
 * const receiver: Effect.Effect<MainLoop.MainLoop<Queue.Queue<string>>, never, MainLoop.SpawnContext> =
 *   Effect.gen(function* () {
 *     const inbox = yield* Queue.unbounded<string>()
 *     return yield* MainLoop.spawn(Effect.forever(Queue.take(inbox)), inbox)
 *   })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface MainLoop<out A> {
  readonly [TypeId]: typeof TypeId
  /** The fiber whose end is the end of the child. */
  readonly fiber: Fiber.Fiber<unknown, unknown>
  /** The value returned to the system that declared the child. */
  readonly value: A
  /** For {@link run}: the body the child's own fiber runs once the startup function has returned. */
  readonly body?: Effect.Effect<unknown, unknown, Lifecycle | Scope.Scope> | undefined
}

/**
 * The services the framework provides to every startup function: the child's
 * `Lifecycle` and its own `Scope`, which is closed when the child stops.
 *
 * @example
 * ```ts
 * import { Lifecycle, MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const startup: Effect.Effect<MainLoop.MainLoop<void>, never, MainLoop.SpawnContext> = Effect.gen(function* () {
 *   const lifecycle = yield* Lifecycle.Lifecycle
 *   return yield* MainLoop.spawn(Effect.log(`running as ${lifecycle.path}`))
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type SpawnContext = Lifecycle | Scope.Scope

/**
 * Whether `u` is a `MainLoop`: what a startup function must return. The
 * framework checks it: a startup that returns anything else fails (its
 * cause an `InvalidOptions` saying so) instead of being taken as started.
 *
 * @example
 * ```ts
 * import { MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * MainLoop.isMainLoop(MainLoop.make(Effect.runFork(Effect.never))) // true
 * MainLoop.isMainLoop(42) // false
 * ```
 *
 * @category guards
 * @since 0.1.0
 */
export const isMainLoop = (u: unknown): u is MainLoop<unknown> => typeof u === "object" && u !== null && TypeId in u

/**
 * Wraps a fiber the startup function forked itself. A fiber forked with
 * `Effect.forkChild` inside the startup function lives as long as the child
 * does; one forked with `Effect.forkScoped` lives in the child's scope.
 *
 * @example
 * ```ts
 * import { MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const poller = Effect.gen(function* () {
 *   const fiber = yield* Effect.forkChild(Effect.forever(Effect.sleep("1 second")))
 *   return MainLoop.make(fiber, "poller")
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make: {
  (fiber: Fiber.Fiber<unknown, unknown>): MainLoop<void>
  <A>(fiber: Fiber.Fiber<unknown, unknown>, value: A): MainLoop<A>
} = <A>(fiber: Fiber.Fiber<unknown, unknown>, value?: A): MainLoop<A> => ({
  [TypeId]: TypeId,
  fiber,
  value: value as A
})

/**
 * Forks `body` as the main loop, in the child's own scope, started at once,
 * and returns the `MainLoop`. Use it when the main loop must already run
 * while the startup function goes on; otherwise {@link run} saves a fiber.
 *
 * @example
 * ```ts
 * import { MainLoop } from "@arbor/core"
 * import { Effect, Queue } from "effect"
 *
 * const receiver = Effect.gen(function* () {
 *   const inbox = yield* Queue.unbounded<string>()
 *   return yield* MainLoop.spawn(
 *     Effect.forever(Effect.flatMap(Queue.take(inbox), (m) => Effect.log(`Received: ${m}`))),
 *     inbox
 *   )
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const spawn: {
  <E, R>(body: Effect.Effect<unknown, E, R>): Effect.Effect<MainLoop<void>, never, R | Scope.Scope>
  <E, R, A>(body: Effect.Effect<unknown, E, R>, value: A): Effect.Effect<MainLoop<A>, never, R | Scope.Scope>
} = <E, R, A>(body: Effect.Effect<unknown, E, R>, value?: A): Effect.Effect<MainLoop<A>, never, R | Scope.Scope> =>
  Effect.map(
    Effect.forkScoped(body, { startImmediately: true }),
    (fiber) => make(fiber, value as A)
  )

/**
 * Makes `body` the child's main loop, run by the child's own fiber once the
 * startup function has returned: one fiber per child, where `spawn` forks a
 * second. Prefer it for children that need nothing running before their
 * startup returns (most do not); return it from the startup function, as it
 * only runs there.
 *
 * @example
 * ```ts
 * import { Lifecycle, MainLoop, System } from "@arbor/core"
 * import { Effect, Queue } from "effect"
 *
 * const workers = System.make((scope) =>
 *   Effect.gen(function* () {
 *     const jobs = yield* scope.child("jobs", Effect.flatMap(Queue.unbounded<string>(), (queue) =>
 *       MainLoop.run(Lifecycle.settling, queue)))
 *     yield* scope.child("worker", MainLoop.run(Effect.forever(Effect.flatMap(Queue.take(jobs), Effect.log))))
 *   })
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const run: {
  <E, R>(body: Effect.Effect<unknown, E, R>): Effect.Effect<MainLoop<void>, never, R>
  <E, R, A>(body: Effect.Effect<unknown, E, R>, value: A): Effect.Effect<MainLoop<A>, never, R>
} = <E, R, A>(body: Effect.Effect<unknown, E, R>, value?: A): Effect.Effect<MainLoop<A>, never, R> =>
  Effect.withFiber((fiber) =>
    Effect.succeed({ [TypeId]: TypeId, fiber, value: value as A, body: body as MainLoop<A>["body"] })
  )

/**
 * Makes `body` a main loop that is interrupted when the child is asked to
 * settle: for work that is safe to stop at any point, whose clean-up is in
 * finalizers (`Effect.acquireRelease`, `Effect.ensuring`, the child's scope).
 * A settle then ends the child at once and normally, instead of costing it
 * its whole `shutdown` budget and a warning because the body never looks at
 * `Lifecycle.settling`. A body that must finish what it is doing first (drain
 * a queue, answer the requests in flight) watches `Lifecycle.settling` itself
 * and is returned with {@link run} or {@link spawn}: it is interrupted only
 * once its budget runs out.
 *
 * Like {@link run}, the body runs once the startup function has returned.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * declare const pollOnce: Effect.Effect<void>
 *
 * const app = System.make((scope) =>
 *   scope.child("poller", MainLoop.interruptOnSettle(Effect.forever(Effect.andThen(pollOnce, Effect.sleep("5 seconds")))))
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const interruptOnSettle: {
  <E, R>(body: Effect.Effect<unknown, E, R>): Effect.Effect<MainLoop<void>, never, R | Lifecycle>
  <E, R, A>(body: Effect.Effect<unknown, E, R>, value: A): Effect.Effect<MainLoop<A>, never, R | Lifecycle>
} = <E, R, A>(body: Effect.Effect<unknown, E, R>, value?: A): Effect.Effect<MainLoop<A>, never, R | Lifecycle> =>
  run(Effect.raceFirst(body, settling), value as A)

/**
 * Runs plain async code as the main loop. The promise resolving is a normal
 * exit; rejecting is a failure. `signal` aborts when the child is asked to
 * settle (and when its fiber is interrupted), so `fetch`, timers and streams
 * that take a signal stop on their own. A rejection with an `AbortError`
 * once the child was asked to settle is a normal exit: it stopped because it
 * was asked to. Any other rejection, even after the abort, is a failure.
 *
 * @example
 * ```ts
 * import { MainLoop } from "@arbor/core"
 * import { setTimeout } from "node:timers/promises"
 *
 * const heartbeat = MainLoop.fromPromise(async (signal) => {
 *   while (!signal.aborted) {
 *     console.log("still here")
 *     await setTimeout(1000, undefined, { signal }).catch(() => undefined)
 *   }
 * })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const fromPromise: {
  (run: (signal: AbortSignal) => PromiseLike<unknown>): Effect.Effect<MainLoop<void>, never, SpawnContext>
  <A>(run: (signal: AbortSignal) => PromiseLike<unknown>, value: A): Effect.Effect<MainLoop<A>, never, SpawnContext>
} = <A>(run: (signal: AbortSignal) => PromiseLike<unknown>, value?: A): Effect.Effect<MainLoop<A>, never, SpawnContext> =>
  Lifecycle.use((lifecycle) =>
    spawn(
      Effect.tryPromise({
        try: (interrupted) => run(AbortSignal.any([lifecycle.signal, interrupted])),
        catch: (error) => error
      }).pipe(Effect.catch((error) => settledByAbort(lifecycle.signal, error) ? Effect.void : Effect.fail(error))),
      value as A
    ))

const settledByAbort = (signal: AbortSignal, error: unknown): boolean =>
  signal.aborted && (error === signal.reason || (error instanceof Error && error.name === "AbortError"))
