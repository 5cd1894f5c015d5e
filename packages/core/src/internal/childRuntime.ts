import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type * as Fiber from "effect/Fiber"
import * as FiberSet from "effect/FiberSet"
import * as Scope from "effect/Scope"
import { Lifecycle } from "../Lifecycle.ts"
import * as ArborOptions from "../Options.ts"
import type { ChildRecord } from "./child.ts"
import { injectExit } from "./child.ts"
import type { LifecycleHandle } from "./lifecycle.ts"
import { logAt } from "./log.ts"

const interrupted = <A, E>(): Fiber.Fiber<A, E> => Effect.runFork(Effect.interrupt)

/**
 * A `ChildRuntime` for the child whose `Lifecycle` and `Scope` are in
 * context. Its fibers are kept in a `FiberSet` of the child's scope, so they
 * are interrupted when that scope closes (the child stopped, or ended before
 * a restart), and run with the services of the fiber that made it, less the
 * child's `Scope`: a fiber that acquires something scopes it itself, instead
 * of piling it up in the child's scope until the child stops.
 */
export const make = <R>(
  options?: unknown
) =>
  Effect.gen(function*() {
    // The framework provides every child's Lifecycle, so it is always its own handle.
    const lifecycle = (yield* Lifecycle) as LifecycleHandle<ChildRecord>
    const { onFailure = "log" } = yield* ArborOptions.decode(ArborOptions.ChildRuntimeOptions, lifecycle.path, options)
    const set = yield* FiberSet.make<unknown, unknown>()
    const services = Context.omit(Scope.Scope)(yield* Effect.context<R | Lifecycle | Scope.Scope>()) as Context.Context<R | Lifecycle>
    const fork = Effect.runForkWith(services)
    const failed = onFailure === "crash" ? crash(lifecycle) : logFailure(lifecycle.path)
    lifecycle.callbackFibers ??= 0

    const runFork = <A, E>(effect: Effect.Effect<A, E, R | Lifecycle>, handled: boolean): Fiber.Fiber<A, E> => {
      if (set.state._tag === "Closed") return interrupted()
      const watched = handled ? effect : Effect.onError(effect, (cause) => Cause.hasInterruptsOnly(cause) ? Effect.void : failed(cause))
      lifecycle.callbackFibers!++
      const fiber = fork(watched)
      fiber.addObserver(() => {
        lifecycle.callbackFibers!--
      })
      FiberSet.addUnsafe(set, fiber)
      return fiber
    }

    return {
      runFork: <A, E>(effect: Effect.Effect<A, E, R | Lifecycle>) => runFork(effect, false),
      runPromise: <A, E>(effect: Effect.Effect<A, E, R | Lifecycle>) =>
        new Promise<A>((resolve, reject) =>
          runFork(effect, true).addObserver((exit) =>
            Exit.isSuccess(exit) ? resolve(exit.value) : reject(Cause.squash(exit.cause))
          )
        ),
      size: FiberSet.size(set),
      awaitEmpty: FiberSet.awaitEmpty(set)
    }
  })

const logFailure = (path: string) => (cause: Cause.Cause<unknown>): Effect.Effect<void> =>
  logAt("Warn", path, "a fiber run from a callback failed", cause)

/**
 * Ends the child's main loop with the fiber's failure, as if the main loop
 * had failed. A child that is not running (still starting, or being stopped)
 * is not crashed: the failure is logged instead.
 */
const crash = (lifecycle: LifecycleHandle<ChildRecord>) => (cause: Cause.Cause<unknown>): Effect.Effect<void> => {
  const child = lifecycle.child
  if (child === undefined || child.lifecycle !== lifecycle) return logFailure(lifecycle.path)(cause)
  return Effect.flatMap(injectExit(child, Exit.failCause(cause)), (crashed) =>
    crashed ? Effect.void : logAt("Warn", lifecycle.path, "a fiber run from a callback failed while the child was not running", cause))
}
