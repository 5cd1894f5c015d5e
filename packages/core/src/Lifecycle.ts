/**
 * The `Lifecycle` service: what a running child knows about its own place in
 * the tree, and how it learns that it is asked to stop.
 *
 * Every startup function and main loop can read it. Stopping is cooperative
 * first: when the supervisor asks a child to *settle*, `isSettling` turns
 * true, `settling` resumes and `signal` aborts; the child finishes its
 * current work and returns. Only after the child's `shutdown` budget is its
 * fiber interrupted.
 *
 * @since 0.1.0
 */
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"

/**
 * The service. Each start of a child gets a fresh one: a restarted child
 * starts un-settled.
 *
 * @example
 * ```ts
 * import { Lifecycle, MainLoop } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const ticker = Effect.gen(function* () {
 *   const lifecycle = yield* Lifecycle.Lifecycle
 *   return yield* MainLoop.spawn(Effect.gen(function* () {
 *     while (!(yield* lifecycle.isSettling)) {
 *       yield* Effect.log(`tick from ${lifecycle.path}`)
 *       yield* Effect.sleep("1 second")
 *     }
 *   }))
 * })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Lifecycle extends Context.Service<Lifecycle, {
  /** The child's name, unique within its system. */
  readonly name: string
  /** The child's full path from the toplevel, e.g. `"app/db/pool"`. */
  readonly path: string
  /** Whether the child has been asked to settle. */
  readonly isSettling: Effect.Effect<boolean>
  /** Resumes once the child is asked to settle (at once if it already was). */
  readonly settling: Effect.Effect<void>
  /** Aborts when the child is asked to settle, for APIs that take an `AbortSignal`. */
  readonly signal: AbortSignal
  /**
   * Tells the supervisor the child makes progress. A child declared with
   * `liveness: { deadline }` must do so at least once per deadline, or it is
   * taken for hung: interrupted and failed with `Hung`.
   */
  readonly heartbeat: Effect.Effect<void>
}>()("@arbor/core/Lifecycle") {}

/**
 * Whether the current child has been asked to settle.
 *
 * @example
 * ```ts
 * import { Lifecycle } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const work = Effect.gen(function* () {
 *   while (!(yield* Lifecycle.isSettling)) {
 *     yield* Effect.sleep("100 millis")
 *   }
 * })
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const isSettling: Effect.Effect<boolean, never, Lifecycle> = Lifecycle.use((lifecycle) => lifecycle.isSettling)

/**
 * Resumes once the current child is asked to settle.
 *
 * @example
 * ```ts
 * import { Lifecycle } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const serveUntilSettling = (serve: Effect.Effect<never>) => Effect.raceFirst(serve, Lifecycle.settling)
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const settling: Effect.Effect<void, never, Lifecycle> = Lifecycle.use((lifecycle) => lifecycle.settling)

/**
 * Records a heartbeat of the current child (see `liveness` in the child
 * options): call it from the main loop each time it makes progress.
 *
 * @example
 * ```ts
 * import { Lifecycle, MainLoop } from "@arbor/core"
 * import { Effect, Queue } from "effect"
 *
 * declare const jobs: Queue.Queue<string>
 * declare const handle: (job: string) => Effect.Effect<void>
 *
 * // Declared with { liveness: { deadline: "30 seconds" } }: each job must finish within 30 s of the last one.
 * const worker = MainLoop.spawn(Effect.forever(
 *   Queue.take(jobs).pipe(Effect.flatMap(handle), Effect.andThen(Lifecycle.feed))
 * ))
 * ```
 *
 * @category accessors
 * @since 0.1.0
 */
export const feed: Effect.Effect<void, never, Lifecycle> = Lifecycle.use((lifecycle) => lifecycle.heartbeat)
