/**
 * The toplevel: runs a tree from `main`.
 *
 * `start()` starts the root system and supervises it until the shutdown token
 * is signalled (then it settles the whole tree in reverse start order and
 * succeeds) or the root gives up (then it fails with the root's error). A
 * shutdown requested while the tree is still starting or restarting is a
 * normal end too: the children being started are interrupted, those running
 * are settled, and `start()` succeeds.
 *
 * @since 0.1.0
 */
import * as Cause from "effect/Cause"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { ToplevelError } from "./Errors.ts"
import { AlreadyStarted } from "./Errors.ts"
import { LifecycleHandle } from "./internal/lifecycle.ts"
import { logAt } from "./internal/log.ts"
import { decodeSystem, validateName } from "./internal/options.ts"
import { Supervisor } from "./internal/supervisor.ts"
import { Lifecycle } from "./Lifecycle.ts"
import type { SpawnContext } from "./MainLoop.ts"
import * as ShutdownToken from "./ShutdownToken.ts"
import type * as System from "./System.ts"

/**
 * A tree ready to run.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * const toplevel = Toplevel.make("app", new App())
 * setTimeout(() => toplevel.shutdownToken.signal(), 1000)
 * await toplevel.run()
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Toplevel<R = never> {
  /** The root's name: the first segment of every path in the tree. */
  readonly name: string
  /** Signal it to shut the tree down gracefully. */
  readonly shutdownToken: ShutdownToken.ShutdownToken
  /**
   * Runs the tree. Succeeds after a graceful shutdown; fails when the root
   * system fails to start or gives up (`TooManyRestarts`). Interrupting it
   * interrupts every child at once, in reverse start order. A toplevel runs
   * once: a second `start()` fails with `AlreadyStarted`.
   */
  start(): Effect.Effect<void, ToplevelError, R>
  /** `start()` as a Promise, for a `main` that is not an Effect. Rejects with the `ToplevelError`. */
  run(this: Toplevel<never>): Promise<void>
}

/**
 * Options of the toplevel: those of its root system.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const options: Toplevel.Options = { intensity: { maxRestarts: 3, within: "5 seconds" } }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Options = System.SystemOptions

/**
 * Makes a toplevel for `system`. Nothing runs until `start()`; options are
 * checked then, before anything starts.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * const toplevel = Toplevel.make("app", new App(), { intensity: { maxRestarts: 3, within: "5 seconds" } })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <R>(
  name: string,
  system: System.System<R>,
  options?: Options
): Toplevel<Exclude<R, SpawnContext>> => new ToplevelImpl(name, system as System.System<unknown>, options)

class ToplevelImpl implements Toplevel<never> {
  readonly shutdownToken = ShutdownToken.make()
  private started = false

  readonly name: string
  private readonly system: System.System<unknown>
  private readonly options: Options | undefined

  constructor(name: string, system: System.System<unknown>, options: Options | undefined) {
    this.name = name
    this.system = system
    this.options = options
  }

  start(): Effect.Effect<void, ToplevelError> {
    return Effect.suspend((): Effect.Effect<void, ToplevelError> => {
      if (this.started) return Effect.fail(new AlreadyStarted({ path: this.name }))
      this.started = true
      return Effect.scoped(Effect.gen({ self: this }, function*() {
        yield* validateName(this.name, this.name)
        const config = yield* decodeSystem(this.name, this.options)
        if (this.shutdownToken.isSignalled) {
          return yield* logAt("Info", this.name, "shutdown requested before the tree started; not starting it")
        }
        const lifecycle = new LifecycleHandle(this.name, this.name)
        yield* Effect.forkChild(this.shutdownToken.signalled.pipe(
          Effect.andThen(logAt("Info", this.name, "shutdown requested")),
          Effect.andThen(Effect.sync(() => lifecycle.requestSettle()))
        ))
        yield* Supervisor.make(this.system, config).pipe(
          Effect.flatMap((supervisor) => supervisor.run),
          Effect.provideService(Lifecycle, lifecycle)
        )
        yield* logAt("Info", this.name, "shutdown complete")
      }))
    })
  }

  run(): Promise<void> {
    return Effect.runPromiseExit(this.start()).then((exit) => {
      if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
    })
  }
}
