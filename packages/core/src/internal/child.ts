import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import { kindOf } from "../ChildExit.ts"
import { restartsAfter } from "../RestartPolicy.ts"
import type { NotFound, Running, SystemError } from "../Errors.ts"
import type { ChildKind, ChildState } from "../Toplevel.ts"
import { StartupTimeout } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import type { MainLoop, SpawnContext } from "../MainLoop.ts"
import { LifecycleHandle } from "./lifecycle.ts"
import { logAt } from "./log.ts"
import type { ChildConfig } from "./options.ts"

export type { ChildKind, ChildState } from "../Toplevel.ts"

/**
 * What a declaration says about a child. The services its startup needs come
 * from the fiber that declares it, so they are erased here. The startup gets
 * the record, so that a system or pool can register what it runs (`inner`).
 */
export interface ChildSpec {
  readonly name: string
  readonly kind: ChildKind
  readonly startup: (child: ChildRecord) => Effect.Effect<MainLoop<unknown>, unknown, SpawnContext>
  readonly config: ChildConfig
}

/**
 * What a system or a pool offers to child administration: its children by
 * name, and terminating or restarting one of them on its own fiber.
 */
export interface Supervising {
  readonly path: string
  /** Still supervising: false once it has stopped. */
  readonly alive: boolean
  /** Waiting to restart, or restarting its children. */
  readonly restarting: boolean
  /** Its current children, in start order. */
  readonly list: () => ReadonlyArray<ChildRecord>
  readonly find: (name: string) => ChildRecord | undefined
  readonly terminateChild: (name: string) => Effect.Effect<void, NotFound>
  readonly restartChild: (name: string) => Effect.Effect<void, NotFound | Running | SystemError>
}

/** Called when a child's host fiber ends, whoever ended it. */
export type OnExit = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>) => void

/**
 * A child as its supervisor tracks it, across restarts. Each start is a new
 * *incarnation* with its own scope, lifecycle and host fiber; an exit of an
 * older incarnation is stale and ignored.
 */
export class ChildRecord {
  state: ChildState = "stopped"
  incarnation = 0
  /** Finished for good: not started again when its system replays `start`. */
  finished = false
  /** Stopped by `terminateChild`: not restarted until `restartChild` (or a replay of its declaration). */
  terminated = false
  /** Set while its supervisor stops it, so its exit is not taken for a crash. */
  stopping = false
  /** How many times it was started again. */
  restarts = 0
  /** The value its latest startup returned. */
  value: unknown = undefined
  /** Identifies the pending restart (after a backoff delay), so that a stale one is ignored. */
  restartToken = 0
  /** The generation of its system that lists it. */
  listed = 0
  /** The supervisor it runs, for a subsystem or a pool. */
  inner: Supervising | undefined = undefined
  host: Fiber.Fiber<unknown, unknown> | undefined = undefined
  scope: Scope.Closeable | undefined = undefined
  lifecycle: LifecycleHandle | undefined = undefined

  spec: ChildSpec
  readonly path: string

  constructor(spec: ChildSpec, path: string) {
    this.spec = spec
    this.path = path
  }
}

/**
 * Starts a new incarnation of `child` and resumes with its main loop's value
 * once the startup function returns, or fails with the startup's cause.
 *
 * The child runs in a *host* fiber forked into the child's own scope: it runs
 * the startup function, then waits for the main loop and ends with the main
 * loop's exit. Fibers the startup function forks as children of its own fiber
 * therefore live exactly as long as the child.
 */
export const launch = (child: ChildRecord, parentScope: Scope.Scope, onExit: OnExit): Effect.Effect<unknown, unknown> =>
  Effect.suspend(() => {
    if (child.incarnation > 0) child.restarts++
    const incarnation = ++child.incarnation
    const scope = Scope.forkUnsafe(parentScope)
    const lifecycle = new LifecycleHandle(child.spec.name, child.path)
    const started = Deferred.makeUnsafe<unknown, unknown>()
    child.state = "starting"
    child.stopping = false
    child.scope = scope
    child.lifecycle = lifecycle

    const { startTimeout } = child.spec.config
    const run = child.spec.startup(child)
    const startup = startTimeout === undefined ? run : Effect.timeoutOrElse(run, {
      duration: startTimeout,
      orElse: () => Effect.fail(new StartupTimeout({ path: child.path, timeout: Duration.format(startTimeout) }))
    })

    let main: Fiber.Fiber<unknown, unknown> | undefined
    const host = startup.pipe(
      Effect.provideService(Lifecycle, lifecycle),
      Effect.provideService(Scope.Scope, scope),
      Effect.flatMap((loop) => {
        main = loop.fiber
        if (child.state === "starting") child.state = "running"
        child.value = loop.value
        Deferred.doneUnsafe(started, Exit.succeed(loop.value))
        return Fiber.join(loop.fiber)
      }),
      Effect.onInterrupt(() => main === undefined ? Effect.void : Fiber.interrupt(main)),
      Effect.onExit((exit) => {
        // Past startup, the exit is the main loop's: the supervisor handles it.
        if (!Deferred.doneUnsafe(started, exit)) return Effect.void
        // A failed startup is reported here, whoever waits for it; a subsystem has reported its own.
        const report = Exit.isFailure(exit) && child.spec.kind !== "system" &&
          !(child.stopping && Cause.hasInterruptsOnly(exit.cause))
        return report ? logAt("Error", child.path, "startup failed", exit.cause) : Effect.void
      })
    )

    return Effect.flatMap(Effect.forkIn(host, scope, { startImmediately: true }), (fiber) => {
      child.host = fiber
      fiber.addObserver((exit) => onExit(child, incarnation, exit))
      return Deferred.await(started)
    })
  })

/**
 * Handles the end of a running child's main loop, on its supervisor's fiber:
 * marks it stopped, closes its scope and logs the exit with its policy's
 * decision. Resumes with whether the policy restarts it, or `undefined` when
 * the exit is not this handler's (a stale incarnation, a child being stopped,
 * a failed startup: those are handled where they happen).
 */
export const ended = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<boolean | undefined> =>
  Effect.gen(function*() {
    if (incarnation !== child.incarnation || child.stopping || child.state !== "running") return undefined
    child.state = "stopped"
    if (child.scope !== undefined) yield* Scope.close(child.scope, exit)
    const kind = kindOf(exit)
    const restart = restartsAfter(child.spec.config.restart, kind)
    const decision = `${restart ? "restarting" : "not restarted"} (${child.spec.config.restart})`
    if (Exit.isSuccess(exit)) {
      yield* logAt(restart ? "Info" : "Debug", child.path, `exited normally; ${decision}`)
    } else {
      yield* logAt("Warn", child.path, `exited abnormally (${kind}); ${decision}`, exit.cause)
    }
    return restart
  })

/**
 * Starts a new incarnation of `child` on a fiber of its own (a child of the
 * calling supervisor's fiber) and hands the end of its startup to `report`.
 */
export const relaunch = (
  child: ChildRecord,
  parentScope: Scope.Scope,
  onExit: OnExit,
  report: (incarnation: number, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
): Effect.Effect<undefined> =>
  Effect.suspend(() => {
    const incarnation = child.incarnation + 1
    const started = Effect.flatMap(Effect.exit(launch(child, parentScope, onExit)), (exit) => report(incarnation, exit))
    return Effect.as(Effect.forkChild(started, { startImmediately: true }), undefined)
  })

/** How a stop treats the child: settle first, or interrupt at once. */
export type StopMode = "graceful" | "force"

/**
 * Stops a child with settle-then-interrupt: ask it to settle, wait up to its
 * `shutdown` budget for its main loop to end, then interrupt it; finally close
 * its scope. `"brutal"` children, workers still in their startup function
 * (there is nothing to settle yet) and every child in `"force"` mode are
 * interrupted at once. A subsystem that is still starting settles like a
 * running one, so that its started children get their budgets.
 *
 * Resumes with whether the child had to be interrupted (`forced`) rather than
 * ending by itself. A child already being stopped is only waited for.
 */
export const stop = (child: ChildRecord, mode: StopMode): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    const host = child.host
    if (child.state === "stopped" || host === undefined) return false
    if (child.state === "settling") {
      yield* mode === "force" ? Fiber.interrupt(host) : Fiber.await(host)
      return false
    }
    const budget = child.spec.config.shutdown
    const wasRunning = child.state === "running"
    const interruptAtOnce = mode === "force" || budget === "brutal" ||
      (child.state === "starting" && child.spec.kind === "worker")
    child.stopping = true
    child.state = "settling"
    let exit = host.pollUnsafe()
    if (exit === undefined && !interruptAtOnce) {
      child.lifecycle?.requestSettle()
      exit = budget === "infinity"
        ? yield* Fiber.await(host)
        : Option.getOrUndefined(yield* Effect.timeoutOption(Fiber.await(host), budget))
      if (exit === undefined) {
        yield* logAt("Warn", child.path, `did not settle within ${Duration.format(budget as Duration.Duration)}; interrupting`)
      }
    }
    const forced = exit === undefined
    if (exit === undefined) {
      yield* Fiber.interrupt(host)
      exit = yield* Fiber.await(host)
    }
    if (child.scope !== undefined) yield* Scope.close(child.scope, exit)
    child.state = "stopped"

    // A failed startup was reported by `launch`; a main loop that failed is reported here, even one that
    // crashed just before the stop began (its exit event is then ignored as the child is stopping).
    const kind = kindOf(exit)
    if (wasRunning && Exit.isFailure(exit) && (kind === "failure" || kind === "defect")) {
      yield* logAt("Warn", child.path, `exited abnormally (${kind}) while stopping`, exit.cause)
    } else {
      yield* logAt("Debug", child.path, "stopped")
    }
    return forced
  })
