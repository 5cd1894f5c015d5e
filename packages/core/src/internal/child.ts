import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Scope from "effect/Scope"
import * as Clock from "effect/Clock"
import * as Context from "effect/Context"
import type * as LogLevel from "effect/LogLevel"
import * as Tracer from "effect/Tracer"
import { kindOf } from "../ChildExit.ts"
import type { ChildExited } from "../LifecycleEvent.ts"
import { restartsAfter } from "../RestartPolicy.ts"
import type { NotFound, Running, SystemError } from "../Errors.ts"
import type { ChildKind, ChildState, Detail, IntensityUse, LastExit } from "../TreeSnapshot.ts"
import { Hung, isSystemError, StartupFailed, StartupTimeout } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import type { MainLoop, SpawnContext } from "../MainLoop.ts"
import { isMainLoop } from "../MainLoop.ts"
import { LifecycleHandle } from "./lifecycle.ts"
import { logAt } from "./log.ts"
import { summary } from "./summary.ts"
import type { Telemetry } from "./telemetry.ts"
import * as Metrics from "../Metrics.ts"
import { count, countUnsafe, traced, tracedUnsafe } from "./telemetry.ts"
import type { ChildConfig } from "./options.ts"
import { notAMainLoop } from "./options.ts"

type Startup = Effect.Effect<MainLoop<unknown>, unknown, SpawnContext>

/**
 * What a declaration says about a child. The services its startup needs come
 * from the fiber that declares it, so they are erased here. A worker's startup
 * is the declared effect itself (a function wrapping it would cost each child
 * a closure and its context); a system's or pool's is a function of the
 * record, so that it can register what it runs (`inner`).
 */
export interface ChildSpec {
  readonly name: string
  readonly kind: ChildKind
  readonly startup: Startup | ((child: ChildRecord) => Startup)
  /** A pool's fire-and-forget task: the child's main loop, with no startup function (`startup` is then unused). */
  readonly task?: Effect.Effect<unknown, unknown, SpawnContext>
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
  /** A system's restart strategy; a pool has none. */
  readonly strategy: string | undefined
  /** A pool's callers waiting for a slot. */
  readonly waiting?: number
  /** Its current children, in start order. */
  readonly list: () => ReadonlyArray<ChildRecord>
  readonly find: (name: string) => ChildRecord | undefined
  readonly terminateChild: (name: string) => Effect.Effect<void, NotFound>
  readonly restartChild: (name: string) => Effect.Effect<void, NotFound | Running | SystemError>
  /** Its intensity window at `now` and its own options, for inspection. */
  readonly describe: (now: number) => SupervisorDetail
}

/** What a system or pool tells about itself when inspected. */
export type SupervisorDetail = Pick<Detail, "autoShutdown" | "maxChildren" | "wait"> & { readonly intensity: IntensityUse }

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
  /** The generation of its system that declared it last: declared twice in one is a `DuplicateChild`. */
  declaredIn = 0
  /** Whether its system lists it (a system's record of a child it no longer declares is kept, unlisted). */
  listed = false
  /** The supervisor it runs, for a subsystem or a pool. */
  inner: Supervising | undefined = undefined
  /** An exit injected by `exitChild` into the current incarnation. */
  injected: Exit.Exit<unknown, unknown> | undefined = undefined
  /**
   * How its current incarnation's startup ended, when it ended before anyone waited for it (the usual case:
   * a startup that does not suspend); otherwise `launch` waits on `startWaiter`, made only then.
   */
  startExit: Exit.Exit<unknown, unknown> | undefined = undefined
  startWaiter: Deferred.Deferred<unknown, unknown> | undefined = undefined
  /** When its current incarnation started running (epoch milliseconds). */
  startedAt: number | undefined = undefined
  lastExit: LastExit | undefined = undefined
  host: Fiber.Fiber<unknown, unknown> | undefined = undefined
  /** The fiber of its current main loop, once its startup returned. */
  main: Fiber.Fiber<unknown, unknown> | undefined = undefined
  /** Its current incarnation's `Lifecycle`, which is also that incarnation's `Scope`. */
  lifecycle: LifecycleHandle<ChildRecord> | undefined = undefined

  spec: ChildSpec
  readonly path: string
  /** The path of its system or pool. */
  readonly parent: string
  readonly telemetry: Telemetry
  /** A pool's child: its metrics are labelled with the pool's path, and it has no spans of its own (they come and go). */
  readonly pooled: boolean

  constructor(spec: ChildSpec, parent: string, telemetry: Telemetry, pooled = false) {
    this.spec = spec
    this.parent = parent
    this.path = `${parent}/${spec.name}`
    this.telemetry = telemetry
    this.pooled = pooled
  }

  /** The path its metrics are labelled with: its own, or its pool's. */
  get metricPath(): string {
    return this.pooled ? this.parent : this.path
  }

  /** Its state as administration and snapshots show it: a system or pool restarting its children is `restarting`. */
  get shownState(): ChildState {
    return this.state === "running" && this.inner?.restarting === true ? "restarting" : this.state
  }

  /** Remembers how it ended and tells the world; `decision` is what its supervisor does about it. */
  exited(
    exit: Exit.Exit<unknown, unknown>,
    decision: ChildExited["decision"],
    level: LogLevel.Severity,
    message: string | (() => string)
  ): Effect.Effect<void> {
    return Effect.withFiber((fiber) => this.exitedUnsafe(fiber, exit, decision, level, message) ?? Effect.void)
  }

  /** `exited` on the supervisor's own `fiber`: resumes with the log line to run, if the level logs it. */
  exitedUnsafe(
    fiber: Fiber.Fiber<unknown, unknown>,
    exit: Exit.Exit<unknown, unknown>,
    decision: ChildExited["decision"],
    level: LogLevel.Severity,
    message: string | (() => string)
  ): Effect.Effect<void> | undefined {
    const kind = kindOf(exit)
    const summarised = Exit.isSuccess(exit) ? "normal exit" : summary(exit.cause)
    this.lastExit = { kind, message: summarised, at: fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() }
    const event = { _tag: "ChildExited", path: this.path, exit: kind, message: summarised, decision } as const
    return this.telemetry.emitUnsafe(fiber, event, level, message, Exit.isFailure(exit) && kind !== "interrupted" ? exit.cause : undefined)
  }
}

// ---- Starting an incarnation: the host fiber ----

/**
 * Starts a new incarnation of `child` and resumes with its main loop's value
 * once the startup function returns, or fails with the startup's cause.
 *
 * The child runs in a *host* fiber: the host runs the startup function, then
 * the main loop (or waits for a forked one) and ends with the main loop's
 * exit. Fibers the startup function forks as children of its own fiber
 * therefore live exactly as long as the child.
 *
 * The child's scope is its own, not forked from its supervisor's: its
 * supervisor closes it when the child ends or is stopped, and stops every
 * child before it ends itself, so a finalizer in the supervisor's scope (a
 * closure and a map entry per child, added and taken out again for every
 * pool task) would guard nothing.
 *
 * The host is written as few steps as possible (`begin`, `startupReturned`,
 * `startupExited`; a pool's task only `beginTask`): every combinator here is
 * paid for by every child, and an idle child keeps none of them: the main
 * loop runs with nothing on the host's stack.
 */
export const launch = (child: ChildRecord, onExit: OnExit): Effect.Effect<unknown, unknown> =>
  Effect.withFiber((parent) => launchOn(parent, child, onExit))

/**
 * `launch` on the calling fiber, `parent`: the host is started, and has run
 * until it first suspends, by the time this returns. Resumes with the
 * startup's exit (then also in `child.startExit`) or with an effect waiting
 * for it, when the startup suspended.
 */
export const launchOn = (parent: Fiber.Fiber<unknown, unknown>, child: ChildRecord, onExit: OnExit): Effect.Effect<unknown, unknown> => {
  if (child.incarnation > 0) {
    child.restarts++
    // On the launching fiber: a supervisor's context is flat, the host's two services deeper, for the same registry.
    countUnsafe(parent, Metrics.childRestarts, child.metricPath)
  }
  const incarnation = ++child.incarnation
  const lifecycle = new LifecycleHandle(child.spec.name, child.path, child)
  child.state = "starting"
  child.stopping = false
  child.injected = undefined
  child.main = undefined
  child.lifecycle = lifecycle
  child.startExit = undefined
  child.startWaiter = undefined
  // The startup phase resumes with the main loop, which the host then runs with nothing left on its stack:
  // an exit handler around the whole life of the child would be kept by every idle child. A task has no
  // startup phase: its host runs it at once.
  const run = child.spec.task !== undefined
    ? Effect.withFiber((fiber) => beginTask(child, incarnation, fiber))
    : Effect.flatten(Effect.onExit(
      Effect.withFiber((fiber) => begin(child, incarnation, fiber)) as Effect.Effect<Effect.Effect<unknown, unknown>, unknown>,
      (exit) => startupExited(child, incarnation, exit)
    ))
  // A detached fiber with the declaring fiber's services plus the child's own two (`SpawnContext`), run at
  // once: `Effect.forkDetach` would need a step more to hand it back.
  const context = Context.add(Context.add(parent.context, Lifecycle, lifecycle), Scope.Scope, lifecycle)
  const host = Effect.runForkWith(context)(run)
  child.host = host
  // An exit injected by `exitChild` replaces the interruption it caused.
  host.addObserver((exit) => onExit(child, incarnation, child.injected ?? exit))
  // Most startups end without suspending, before the host is even handed back: no Deferred then.
  return child.startExit ?? awaitStartup(child)
}

const awaitStartup = (child: ChildRecord): Effect.Effect<unknown, unknown> => {
  child.startWaiter = Deferred.makeUnsafe()
  return Deferred.await(child.startWaiter)
}

/** Records how incarnation `incarnation`'s startup ended; false if it had ended already (or the incarnation is stale). */
const startupEnded = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): boolean => {
  if (incarnation !== child.incarnation || child.startExit !== undefined) return false
  child.startExit = exit
  if (child.startWaiter !== undefined) Deferred.doneUnsafe(child.startWaiter, exit)
  return true
}

/**
 * Announces the start of a child's incarnation on its host `fiber`, already
 * its host before `launch` has the fiber back (its startup may be stopped
 * meanwhile); resumes with the line to log, if that is logged.
 */
const announce = (child: ChildRecord, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<void> | undefined => {
  child.host = fiber
  const event = { _tag: "ChildStarting", path: child.path, kind: child.spec.kind, restarts: child.restarts } as const
  return child.telemetry.emitUnsafe(fiber, event, "Debug", "starting")
}

/** The host's first step: announce the start, then run the startup function; resumes with the main loop. */
const begin = (
  child: ChildRecord,
  incarnation: number,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<Effect.Effect<unknown, unknown, SpawnContext>, unknown, SpawnContext> => {
  const startTime = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  const log = announce(child, fiber)
  const run = Effect.flatMap(startupOf(child, fiber), (loop) => startupReturned(child, incarnation, fiber, startTime, loop))
  return log === undefined ? run : Effect.andThen(log, run)
}

/**
 * The host of a task (a pool's `run`): it has no startup function, so it
 * runs from the moment it begins and its start has ended then; the host goes
 * on with the task itself, after the lines announcing it if they are logged.
 */
const beginTask = (
  child: ChildRecord,
  incarnation: number,
  fiber: Fiber.Fiber<unknown, unknown>
): Effect.Effect<unknown, unknown, SpawnContext> => {
  const starting = announce(child, fiber)
  const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  child.state = "running"
  child.value = undefined
  child.main = fiber
  child.startedAt = now
  child.lifecycle!.lastHeartbeat = now
  startupEnded(child, incarnation, Exit.void)
  const event = { _tag: "ChildStarted", path: child.path, kind: child.spec.kind, startupMillis: 0 } as const
  const started = child.telemetry.emitUnsafe(fiber, event, "Debug", "started")
  const main = watched(child, child.spec.task!)
  const announced = started === undefined ? main : Effect.andThen(started, main)
  return starting === undefined ? announced : Effect.andThen(starting, announced)
}

/** The startup function returned `loop`: the child runs; resumes with its main loop to run. */
const startupReturned = (
  child: ChildRecord,
  incarnation: number,
  fiber: Fiber.Fiber<unknown, unknown>,
  startTime: number,
  loop: MainLoop<unknown>
): Effect.Effect<Effect.Effect<unknown, unknown, SpawnContext>, unknown, SpawnContext> => {
  // Only typed code is kept from returning something else: a startup that did is refused, not taken as started.
  if (!isMainLoop(loop)) return Effect.fail(notAMainLoop(child.path, loop))
  const body = loop.body
  if (body !== undefined && loop.fiber !== fiber) {
    return Effect.die(new Error(`${child.path}: MainLoop.run works only when returned by the child's startup function`))
  }
  const now = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
  child.startedAt = now
  child.lifecycle!.lastHeartbeat = now
  // By system or pool: a histogram per child would cost each child more memory than the child itself.
  countUnsafe(fiber, Metrics.childStartup, child.parent, (now - startTime) / 1000)
  const event = { _tag: "ChildStarted", path: child.path, kind: child.spec.kind, startupMillis: now - startTime } as const
  const log = child.telemetry.emitUnsafe(fiber, event, "Debug", "started")
  const running = () => {
    if (child.state === "starting") child.state = "running"
    child.value = loop.value
    // Most main loops have no value: the shared `Exit.void` then, nothing kept per child.
    startupEnded(child, incarnation, child.value === undefined ? Exit.void : Exit.succeed(child.value))
    // A main loop made with `MainLoop.run` is run by this fiber; a forked one is waited for.
    child.main = body === undefined ? loop.fiber : fiber
    return Effect.succeed(watched(child, body ?? joinForked(loop.fiber)))
  }
  return log === undefined ? running() : Effect.andThen(log, Effect.suspend(running))
}

/** A child's main loop under its liveness deadline, if it has one: a hung child fails with `Hung` first, then its main loop is interrupted. */
const watched = <A, E, R>(child: ChildRecord, main: Effect.Effect<A, E, R>): Effect.Effect<A, E | Hung, R> => {
  const { deadline } = child.spec.config
  return deadline === undefined ? main : Effect.raceFirst(main, hungAfter(child.path, child.lifecycle!, deadline))
}

/** Fails with `Hung` once the child has gone `deadline` without a heartbeat. */
const hungAfter = (path: string, lifecycle: LifecycleHandle, deadline: Duration.Duration): Effect.Effect<never, Hung> =>
  Effect.gen(function*() {
    const millis = Duration.toMillis(deadline)
    while (true) {
      const late = (yield* Clock.currentTimeMillis) - lifecycle.lastHeartbeat
      if (late >= millis) {
        return yield* Effect.fail(new Hung({ path, deadline: Duration.format(deadline), lastHeartbeat: lifecycle.lastHeartbeat }))
      }
      yield* Effect.sleep(millis - late)
    }
  })

/** Waits for a main loop forked by the startup; a host that fails or is interrupted meanwhile takes it along. */
const joinForked = (main: Fiber.Fiber<unknown, unknown>): Effect.Effect<unknown, unknown> =>
  Effect.onExit(Fiber.join(main), (exit) => Exit.isFailure(exit) && main.pollUnsafe() === undefined ? Fiber.interrupt(main) : Effect.void)

/** The end of the host's startup phase, on its own fiber: reports a startup that did not return. */
const startupExited = (
  child: ChildRecord,
  incarnation: number,
  exit: Exit.Exit<unknown, unknown>
): Effect.Effect<void> => {
  // A startup that returned has handed over its main loop (`startupReturned`): its exit is the supervisor's.
  if (Exit.isSuccess(exit) || !startupEnded(child, incarnation, exit)) return Effect.void
  // A failed startup is reported here, whoever waits for it; a subsystem has logged its own.
  if (child.stopping && Cause.hasInterruptsOnly(exit.cause)) return Effect.void
  return Effect.flatMap(Clock.currentTimeMillis, (at) => {
    const message = summary(exit.cause)
    child.lastExit = { kind: kindOf(exit), message, at }
    const event = { _tag: "ChildStartFailed", path: child.path, message } as const
    return child.spec.kind === "system"
      ? child.telemetry.emit(event, "Debug", "startup failed")
      : child.telemetry.emit(event, "Error", "startup failed", exit.cause)
  })
}

/** A child's startup function on its host `fiber`, bounded by its `startTimeout`, in a span unless the child is a pool's. */
const startupOf = (child: ChildRecord, fiber: Fiber.Fiber<unknown, unknown>): Effect.Effect<MainLoop<unknown>, unknown, SpawnContext> => {
  const { startTimeout } = child.spec.config
  const declared = child.spec.startup
  const run = Effect.isEffect(declared) ? declared : declared(child)
  const startup = startTimeout === undefined ? run : Effect.timeoutOrElse(run, {
    duration: startTimeout,
    orElse: () => Effect.fail(new StartupTimeout({ path: child.path, timeout: Duration.format(startTimeout) }))
  })
  // A pool's children come and go too fast to be worth a span each: the pool's own startup has one.
  if (child.pooled) return startup
  return tracedUnsafe(fiber, startup, "arbor.child.startup", { attributes: { "arbor.path": child.path, "arbor.kind": child.spec.kind } })
}

// ---- The end of a running child's main loop: the first step of a crash (see `Supervisor.exited`) ----

/**
 * Handles the end of a running child's main loop, on its supervisor's fiber:
 * marks it stopped, closes its scope and logs the exit with its policy's
 * decision. Resumes with whether the policy restarts it, or `undefined` when
 * the exit is not this handler's (a stale incarnation, a child being stopped,
 * a failed startup: those are handled where they happen).
 */
export const ended = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<boolean | undefined> =>
  Effect.withFiber((fiber) => {
    if (incarnation !== child.incarnation || child.stopping || child.state !== "running") return Effect.undefined
    child.state = "stopped"
    // Most children leave nothing to finalize: their exit is then handled without a step in between.
    const closing = closeScopeUnsafe(child, exit)
    return closing === undefined ? reportEnd(child, fiber, exit) : Effect.flatMap(closing, () => reportEnd(child, fiber, exit))
  })

const restarting = Effect.succeed(true)
const stayingDown = Effect.succeed(false)

/** `ended`'s report, on the supervisor's `fiber`: the exit with its policy's decision; resumes with that decision. */
const reportEnd = (child: ChildRecord, fiber: Fiber.Fiber<unknown, unknown>, exit: Exit.Exit<unknown, unknown>): Effect.Effect<boolean> => {
  const kind = kindOf(exit)
  const restart = restartsAfter(child.spec.config.restart, kind)
  const decision = () => `${restart ? "restarting" : "not restarted"} (${child.spec.config.restart})`
  const log = Exit.isSuccess(exit)
    ? child.exitedUnsafe(fiber, exit, restart ? "restart" : "stay down", restart ? "Info" : "Debug", () => `exited normally; ${decision()}`)
    : child.exitedUnsafe(fiber, exit, restart ? "restart" : "stay down", "Warn", () => `exited abnormally (${kind}); ${decision()}`)
  const decided = restart ? restarting : stayingDown
  return log === undefined ? decided : Effect.andThen(log, decided)
}

/**
 * Closes the scope of a child's incarnation once its main loop has ended. A
 * finalizer that fails is the child's fault, not its supervisor's: it is
 * logged with the child's path and cause, and the supervisor carries on with
 * the exit of the main loop (which alone decides about a restart).
 */
const closeScope = (child: ChildRecord, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> =>
  closeScopeUnsafe(child, exit) ?? Effect.void

/** `closeScope`, resuming with `undefined` when the scope had no finalizers: it is closed then already. */
const closeScopeUnsafe = (child: ChildRecord, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void> | undefined => {
  const scope = child.lifecycle
  if (scope === undefined) return undefined
  const finalizing = Scope.closeUnsafe(scope, exit)
  if (finalizing === undefined) return undefined
  return Effect.catchCause(Effect.uninterruptible(finalizing), (cause) =>
    logAt("Error", child.path, "a finalizer failed while its scope closed", cause))
}

// ---- Starting again: the last step of a restart ----

/**
 * Starts a new incarnation of `child` from the calling supervisor's fiber
 * and hands the end of its startup to `report`: at once when the startup did
 * not suspend (the usual case), else from a fiber of its own (a child of the
 * supervisor's), so that a slow startup never holds its supervisor up.
 */
export const relaunch = (
  child: ChildRecord,
  onExit: OnExit,
  report: (incarnation: number, exit: Exit.Exit<unknown, unknown>) => Effect.Effect<void>
): Effect.Effect<undefined> =>
  Effect.withFiber((fiber) => {
    const started = launchOn(fiber, child, onExit)
    const incarnation = child.incarnation
    const exit = child.startExit
    if (exit !== undefined) return Effect.as(report(incarnation, exit), undefined)
    const reported = Effect.flatMap(Effect.exit(started), (exit) => report(incarnation, exit))
    return Effect.as(Effect.forkChild(reported, { startImmediately: true }), undefined)
  })

/** The error of a child's failed startup: a subsystem's own error passes through unwrapped; anything else becomes a `StartupFailed` of `path`. */
export const startupError = (path: string, kind: ChildKind, cause: Cause.Cause<unknown>): SystemError => {
  const error = Option.getOrUndefined(Cause.findErrorOption(cause))
  if (kind === "system" && isSystemError(error)) return error
  return new StartupFailed({ path, cause })
}

// ---- Stopping: settle, then interrupt ----

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
  Effect.suspend(() =>
    child.state === "stopped" || child.host === undefined ? Effect.succeed(false) : stopRunning(child, child.host, mode)
  )

const stopRunning = (child: ChildRecord, host: Fiber.Fiber<unknown, unknown>, mode: StopMode): Effect.Effect<boolean> =>
  Effect.gen(function*() {
    if (child.state === "settling") {
      // Stopped already: wait for that stop (or cut it short), then close the scope, as that stop may itself
      // have been interrupted before it could (its supervisor's supervisor ran out of patience).
      if (mode === "force") yield* Fiber.interrupt(host)
      yield* closeScope(child, yield* Fiber.await(host))
      return false
    }
    const budget = child.spec.config.shutdown
    const wasRunning = child.state === "running"
    const alive = host.pollUnsafe() === undefined
    const interruptAtOnce = mode === "force" || budget === "brutal" ||
      (child.state === "starting" && child.spec.kind === "worker")
    child.stopping = true
    child.state = "settling"
    let exit = host.pollUnsafe()
    if (exit === undefined && !interruptAtOnce) {
      const shown = budget === "infinity" ? budget : Duration.format(budget as Duration.Duration)
      yield* child.telemetry.emit({ _tag: "ChildSettling", path: child.path, budget: shown }, "Debug", "asked to settle")
      // A subsystem's own shutdown span then nests under this stop's. (Read from the context: `Effect.currentSpan`
      // fails without a span, and its error's stack trace doubled the stop of a pool's children without a tracer.)
      child.lifecycle!.settleSpan = Option.getOrUndefined(yield* Effect.serviceOption(Tracer.ParentSpan))
      child.lifecycle!.requestSettle()
      exit = budget === "infinity"
        ? yield* Fiber.await(host)
        : Option.getOrUndefined(yield* Effect.timeoutOption(Fiber.await(host), budget))
      if (exit === undefined) {
        yield* count(Metrics.shutdownForced, child.parent)
        yield* child.telemetry.emit(
          { _tag: "ChildInterrupted", path: child.path, budget: shown },
          "Warn",
          `did not settle within ${shown}; interrupting`
        )
      }
    }
    const forced = exit === undefined
    if (exit === undefined) {
      yield* Fiber.interrupt(host)
      exit = yield* Fiber.await(host)
    }
    yield* closeScope(child, exit)
    child.state = "stopped"

    // A failed startup was reported by `launch`; a main loop that failed is reported here, even one that
    // crashed just before the stop began (its exit event is then ignored as the child is stopping).
    // A child whose exit was already reported (a failed startup, a child waiting to restart) is not reported again.
    if (!alive && !wasRunning) return forced
    const kind = kindOf(exit)
    if (wasRunning && Exit.isFailure(exit) && (kind === "failure" || kind === "defect")) {
      yield* child.exited(exit, "stopped", "Warn", `exited abnormally (${kind}) while stopping`)
    } else {
      yield* child.exited(exit, "stopped", "Debug", "stopped")
    }
    return forced
  }).pipe((stopping) =>
    child.pooled ? stopping : traced(stopping, "arbor.child.stop", { attributes: { "arbor.path": child.path } })
  )

// ---- Administration: an exit injected by `exitChild` (or a `ChildRuntime` that crashes its child) ----

/**
 * Ends a running child's main loop as if it had exited with `exit`: its main
 * loop is interrupted and the exit its supervisor sees is `exit`. For tests
 * and chaos drills. Resumes with false, doing nothing, unless the child's
 * main loop runs: a child stays `running` from the end of its main loop until
 * its supervisor has handled that exit, and an exit injected in between would
 * replace the pending one and be lost.
 */
export const injectExit = (child: ChildRecord, exit: Exit.Exit<unknown, unknown>): Effect.Effect<boolean> =>
  Effect.suspend(() => {
    const main = child.main
    if (child.state !== "running" || child.injected !== undefined || main === undefined || main.pollUnsafe() !== undefined) {
      return Effect.succeed(false)
    }
    child.injected = exit
    return Effect.as(Fiber.interrupt(main), true)
  })
