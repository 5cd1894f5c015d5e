/**
 * Running a toplevel as a Node.js process.
 *
 * `runMain` wires the process's signals to the tree: the first SIGINT or
 * SIGTERM signals the shutdown token (a graceful stop, in reverse start
 * order); a second one interrupts the tree at once; a third exits on the
 * spot. An optional hard deadline bounds the whole graceful stop.
 *
 * Exit codes:
 *
 * | code  | when                                                                 |
 * |-------|----------------------------------------------------------------------|
 * | `0`   | the tree stopped gracefully                                          |
 * | `1`   | the tree failed: a startup failure, or escalation at the top         |
 * | `130` | the stop was forced: a second signal, or the hard deadline ran out   |
 *
 * @since 0.1.0
 */
import type { Toplevel } from "@arbor/core"
import { Options } from "@arbor/core"
import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import type * as LogLevel from "effect/LogLevel"
import * as Option from "effect/Option"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import { constants } from "node:os"

/**
 * Options of {@link runMain}.
 *
 * @example
 * ```ts
 * import type { NodeToplevel } from "@arbor/node"
 *
 * const options: NodeToplevel.RunMainOptions = { hardDeadline: "25 seconds", signals: ["SIGTERM"] }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface RunMainOptions {
  /**
   * How long the graceful stop may take in all, from the first signal; then
   * the tree is interrupted (exit code 130). Unbounded by default: the
   * children's own budgets bound it.
   */
  readonly hardDeadline?: Duration.Input
  /** The signals that ask for shutdown; default SIGINT and SIGTERM. */
  readonly signals?: ReadonlyArray<NodeJS.Signals>
}

/**
 * The exit codes `runMain` ends the process with.
 *
 * @example
 * ```ts
 * import { NodeToplevel } from "@arbor/node"
 *
 * NodeToplevel.ExitCode.forced // 130
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const ExitCode = {
  graceful: 0,
  failed: 1,
  forced: 130
} as const

const RunMainOptionsSchema = Schema.Struct({
  hardDeadline: Schema.optionalKey(Options.PositiveDuration),
  signals: Schema.optionalKey(Schema.Array(Schema.String.check(
    Schema.makeFilter((s) => s in constants.signals ? undefined : "must be a signal name such as \"SIGTERM\"")
  )))
})

/**
 * Runs `toplevel` as the process's main program. A tree that needs services
 * takes a `layer` providing them.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { NodeToplevel } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid)
 *   }
 * }
 *
 * NodeToplevel.runMain(Toplevel.make("app", new App()), { hardDeadline: "30 seconds" })
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const runMain: {
  (toplevel: Toplevel.Toplevel<never>, options?: RunMainOptions): void
  <R, E>(toplevel: Toplevel.Toplevel<R>, options: RunMainOptions & { readonly layer: Layer.Layer<R, E> }): void
} = (
  toplevel: Toplevel.Toplevel<unknown>,
  options: RunMainOptions & { readonly layer?: Layer.Layer<unknown, unknown> } = {}
): void => {
  const { layer, ...rest } = options
  // Bad options fail the program (exit code 1) before anything starts; meanwhile the defaults apply.
  const checked = Effect.runSync(Effect.exit(Options.decode(RunMainOptionsSchema, toplevel.name, rest)))
  const config: typeof RunMainOptionsSchema.Type = Exit.isSuccess(checked) ? checked.value : {}
  const deadline = config.hardDeadline === undefined ? undefined : Duration.fromInputUnsafe(config.hardDeadline)
  const signals = config.signals ?? ["SIGINT", "SIGTERM"]
  // Every line goes through the program's own logger (`Logger.consoleJson`, say) once its layer has provided it,
  // also from signal handlers and timers.
  let services = Context.empty()
  const log = (level: LogLevel.Severity, message: string, cause?: Cause.Cause<unknown>) => {
    const line = `${toplevel.name}: ${message}`
    const logged = cause === undefined ? Effect.logWithLevel(level)(line) : Effect.logWithLevel(level)(line, cause)
    Effect.runForkWith(services)(Effect.annotateLogs(logged, "path", toplevel.name))
  }
  // Reported once the program has ended: an interrupted fiber runs no more effects of its own.
  const report = (cause: Cause.Cause<unknown>) => {
    if (Cause.hasInterruptsOnly(cause)) return log("Warn", "stop forced; children were interrupted")
    // The tree reports its own failures: it logged the cause where it arose, and why it stopped.
    if (!Runtime.getErrorReported(Cause.squash(cause))) return
    const error = Cause.findErrorOption(cause)
    if (Option.isSome(error)) log("Error", `terminated abnormally: ${String(error.value)}`)
    else log("Error", "terminated abnormally", cause)
  }
  const program = Effect.andThen(checked, Effect.contextWith((context: Context.Context<never>) => {
    services = context
    return toplevel.start()
  })).pipe(Effect.provide(layer ?? (Layer.empty as Layer.Layer<unknown>)))
  Runtime.makeRunMain(({ fiber, teardown }) => {
    let received = 0
    let deadlineTimer: ReturnType<typeof setTimeout> | undefined
    const onSignal = (signal: NodeJS.Signals) => {
      received++
      if (received === 1) {
        log("Info", `${signal} received, stopping gracefully (send it again to stop at once)`)
        toplevel.shutdownToken.signal()
        if (deadline !== undefined) {
          deadlineTimer = setTimeout(() => {
            log("Warn", `hard deadline of ${Duration.format(deadline)} passed, interrupting`)
            fiber.interruptUnsafe()
          }, Duration.toMillis(deadline))
        }
      } else if (received === 2) {
        log("Warn", `${signal} received again, interrupting`)
        fiber.interruptUnsafe()
      } else {
        log("Warn", `${signal} received a third time, exiting now`)
        process.exit(ExitCode.forced)
      }
    }
    for (const signal of signals) process.on(signal, onSignal)
    fiber.addObserver((exit) => {
      for (const signal of signals) process.removeListener(signal, onSignal)
      clearTimeout(deadlineTimer)
      if (Exit.isFailure(exit)) report(exit.cause)
      teardown(exit, (code) => {
        process.exitCode = code
        // Let the process end by itself so output is flushed; something left running must not keep it alive.
        setTimeout(() => {
          log("Warn", "the process is still busy 5 seconds after the tree stopped; exiting")
          process.exit(code)
        }, 5_000).unref()
      })
    })
  })(program, { disableErrorReporting: true })
}

/**
 * The exit code for a toplevel's exit.
 *
 * @example
 * ```ts
 * import { NodeToplevel } from "@arbor/node"
 * import { Exit } from "effect"
 *
 * NodeToplevel.exitCodeOf(Exit.void) // 0
 * NodeToplevel.exitCodeOf(Exit.interrupt()) // 130
 * ```
 *
 * @category running
 * @since 0.1.0
 */
export const exitCodeOf = (exit: Exit.Exit<unknown, unknown>): number => {
  let code: number = ExitCode.failed
  Runtime.defaultTeardown(exit, (exitCode) => {
    code = exitCode
  })
  return code
}
