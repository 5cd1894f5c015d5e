/**
 * The shutdown token: how the world outside the tree asks it to stop.
 *
 * `signal()` is a plain function, safe to call from any callback
 * (`process.on("SIGINT")`, an HTTP handler, a test) and any number of times.
 * The toplevel then settles its tree gracefully, in reverse start order.
 *
 * @since 0.1.0
 */
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"

/**
 * A one-way switch from "running" to "asked to shut down".
 *
 * @example
 * ```ts
 * import { ShutdownToken } from "@arbor/core"
 *
 * const token = ShutdownToken.make()
 * process.once("SIGINT", () => token.signal())
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ShutdownToken {
  /** Asks for shutdown. Idempotent; callable from plain (non-Effect) code. */
  signal(): void
  /** Whether `signal()` has been called. */
  readonly isSignalled: boolean
  /** Resumes once `signal()` has been called (at once if it already was). */
  readonly signalled: Effect.Effect<void>
}

/**
 * Makes a fresh, unsignalled token.
 *
 * @example
 * ```ts
 * import { ShutdownToken } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * const token = ShutdownToken.make()
 * const waitForIt = Effect.andThen(token.signalled, Effect.log("shutting down"))
 * setTimeout(() => token.signal(), 1000)
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (): ShutdownToken => {
  const deferred = Deferred.makeUnsafe<void>()
  return {
    signal: () => {
      Deferred.doneUnsafe(deferred, Exit.void)
    },
    get isSignalled() {
      return Deferred.isDoneUnsafe(deferred)
    },
    signalled: Deferred.await(deferred)
  }
}
