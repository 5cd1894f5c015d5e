import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import * as Queue from "effect/Queue"
import * as Scope from "effect/Scope"
import { kindOf } from "../ChildExit.ts"
import type { SystemError } from "../Errors.ts"
import { DuplicateChild, isSystemError, StartupFailed, TooManyRestarts } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import * as MainLoop from "../MainLoop.ts"
import * as RestartIntensity from "../RestartIntensity.ts"
import { restartsAfter } from "../RestartPolicy.ts"
import type * as System from "../System.ts"
import type { ChildSpec, StopMode } from "./child.ts"
import { ChildRecord, launch, stop } from "./child.ts"
import { logAt } from "./log.ts"
import type { SystemConfig } from "./options.ts"
import { decodeWorker, decodeSubsystem, validateName } from "./options.ts"

type Event =
  | { readonly _tag: "Exited"; readonly child: ChildRecord; readonly incarnation: number; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Declared"; readonly generation: number; readonly exit: Exit.Exit<void, unknown> }
  | { readonly _tag: "Settle" }

const settleEvent: Event = { _tag: "Settle" }

/** What handling one event decided: keep supervising, or end the system with this exit. */
type Outcome = Exit.Exit<void, SystemError> | undefined

/**
 * The supervisor of one system. All decisions are taken on one fiber, one
 * event at a time, from a mailbox fed by the children's exits, the end of
 * each run of `start` (a *declaration*) and the request to settle.
 *
 * Each run of `start` is a *generation*. A restart under `one_for_all` stops
 * every child in reverse declaration order and begins a new generation;
 * records are kept by name across generations, so a child that finished for
 * good stays finished and its restart count carries on.
 */
export class Supervisor {
  /** The current generation's children, in declaration order. */
  private children: Array<ChildRecord> = []
  private readonly byName = new Map<string, ChildRecord>()
  private declared = new Set<string>()
  private generation = 0
  /** Until the first restart: a failure now is a failure to start, not a reason to restart. */
  private firstStart = true
  private declaration: Fiber.Fiber<void, unknown> | undefined
  /** Why the current declaration was abandoned, if it was. */
  private abandoned: SystemError | undefined
  /** Whether the current generation's `start` is still running: declarations are accepted only then. */
  private declaring = false
  private window: RestartIntensity.Window = []
  /** Resolved once the first declaration completes: the system is running. */
  readonly stable = Deferred.makeUnsafe<void>()
  private readonly onExit = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>) => {
    Queue.offerUnsafe(this.mailbox, { _tag: "Exited", child, incarnation, exit })
  }

  private readonly system: System.System<unknown>
  private readonly config: SystemConfig
  private readonly lifecycle: Lifecycle["Service"]
  private readonly scope: Scope.Scope
  private readonly mailbox: Queue.Queue<Event>

  constructor(
    system: System.System<unknown>,
    config: SystemConfig,
    lifecycle: Lifecycle["Service"],
    scope: Scope.Scope,
    mailbox: Queue.Queue<Event>
  ) {
    this.system = system
    this.config = config
    this.lifecycle = lifecycle
    this.scope = scope
    this.mailbox = mailbox
  }

  /** Makes the supervisor of `system`, running as the child whose `Lifecycle` and `Scope` are in context. */
  static readonly make = (system: System.System<unknown>, config: SystemConfig) =>
    Effect.gen(function*() {
      const lifecycle = yield* Lifecycle
      const scope = yield* Scope.Scope
      const mailbox = yield* Queue.unbounded<Event>()
      return new Supervisor(system, config, lifecycle, scope, mailbox)
    })

  /** The system's path: that of the child it runs as. */
  get path(): string {
    return this.lifecycle.path
  }

  /**
   * Starts the system and supervises it until it settles (success) or gives
   * up (failure). If the fiber running it is interrupted, every child is
   * interrupted, in reverse order.
   */
  get run(): Effect.Effect<void, SystemError> {
    return Effect.gen({ self: this }, function*() {
      yield* Effect.forkChild(Effect.andThen(this.lifecycle.settling, Queue.offer(this.mailbox, settleEvent)))
      yield* this.declare
      while (true) {
        const outcome = yield* this.handle(yield* Queue.take(this.mailbox))
        if (outcome !== undefined) return yield* outcome
      }
    }).pipe(Effect.onExit(() => this.stopAll("force")))
  }

  private handle(event: Event): Effect.Effect<Outcome> {
    switch (event._tag) {
      case "Settle":
        return this.settle
      case "Declared":
        return this.declarationEnded(event.generation, event.exit)
      case "Exited":
        return this.exited(event.child, event.incarnation, event.exit)
    }
  }

  private get settle(): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      yield* logAt("Debug", this.path, "settling")
      yield* this.stopAll("graceful")
      return Exit.void
    })
  }

  private declarationEnded(generation: number, exit: Exit.Exit<void, unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      if (generation !== this.generation) return
      this.declaration = undefined
      const error = this.abandoned ?? (Exit.isFailure(exit) ? this.startupError(this.path, "system", exit.cause) : undefined)
      if (error === undefined) {
        Deferred.doneUnsafe(this.stable, Exit.void)
        yield* logAt("Debug", this.path, "running")
        return
      }
      if (this.firstStart) {
        yield* logAt("Error", this.path, `first start failed at ${error.path}; stopping the children already started`)
        yield* this.stopAll("graceful")
        return Exit.fail(error)
      }
      return yield* this.restart(error.path, Cause.fail(error))
    })
  }

  private exited(child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      // Stale incarnations, children being stopped and failed startups are handled elsewhere.
      if (incarnation !== child.incarnation || child.stopping || child.state !== "running") return
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
      if (!restart) {
        child.finished = true
        return
      }
      return yield* this.restart(child.path, Exit.isFailure(exit) ? exit.cause : Cause.empty)
    })
  }

  /**
   * Restarts the system after the exit of `childPath` (or a failed replay),
   * unless that is one restart too many: then every child stops and the
   * system fails with `TooManyRestarts`.
   */
  private restart(childPath: string, cause: Cause.Cause<unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      this.firstStart = false
      const { intensity } = this.config
      const recorded = RestartIntensity.record(intensity, this.window, yield* Clock.currentTimeMillis)
      this.window = recorded.window
      const within = Duration.format(intensity.within)
      if (recorded.exceeded) {
        const error = new TooManyRestarts({
          path: this.path,
          child: childPath,
          maxRestarts: intensity.maxRestarts,
          within,
          cause
        })
        yield* logAt(
          "Error",
          this.path,
          `more than ${intensity.maxRestarts} restarts within ${within} (last: ${childPath}); stopping all children and escalating`,
          cause
        )
        yield* this.stopAll("graceful")
        return Exit.fail(error)
      }
      yield* logAt(
        "Info",
        this.path,
        `restarting all children (${this.config.strategy}), restart ${recorded.window.length} of at most ${intensity.maxRestarts} within ${within}`
      )
      yield* this.stopAll("graceful")
      // A settle request that came in meanwhile is next in the mailbox: starting again would only delay it.
      if (!(yield* this.lifecycle.isSettling)) yield* this.declare
      return undefined
    })
  }

  /** Runs `start` as a new generation, on a fiber of its own so that exits and settling are handled meanwhile. */
  private get declare(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const generation = ++this.generation
      this.children = []
      this.declared = new Set()
      this.abandoned = undefined
      this.declaring = true
      const scope = this.declarationScope(generation)
      // The services `start` needs are in the context of the fiber running the supervisor; a `start`
      // that throws instead of returning an Effect fails the declaration like any other defect.
      const start = Effect.suspend(() => this.system.start(scope) as Effect.Effect<void, unknown>)
      return Effect.map(Effect.forkChild(start, { startImmediately: true }), (fiber) => {
        this.declaration = fiber
        fiber.addObserver((exit) => {
          if (generation === this.generation) this.declaring = false
          Queue.offerUnsafe(this.mailbox, { _tag: "Declared", generation, exit })
        })
      })
    })
  }

  /** Interrupts the running declaration, if any; its end then reads as stale, whatever comes next. */
  private get abandonDeclaration(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const fiber = this.declaration
      if (fiber === undefined) return Effect.void
      this.declaration = undefined
      this.generation++
      this.declaring = false
      return Fiber.interrupt(fiber)
    })
  }

  /**
   * Abandons the running declaration, if any, then stops every child of the
   * current generation, in reverse declaration order.
   */
  private stopAll(mode: StopMode): Effect.Effect<void> {
    return Effect.andThen(
      this.abandonDeclaration,
      Effect.suspend(() =>
        Effect.forEach(this.children.slice().reverse(), (child) =>
          Effect.map(stop(child, mode), () => {
            // A temporary child is never started again, also not as a bystander of a restart.
            if (child.spec.config.restart === "temporary") child.finished = true
          }), { discard: true })
      )
    )
  }

  private declarationScope(generation: number): System.Scope {
    const declare = this.declareChild.bind(this, generation)
    return {
      path: this.path,
      child: (name, startup, options) =>
        declare(name, (path) =>
          Effect.map(decodeWorker(path, options), (config) => ({
            name,
            kind: "worker" as const,
            startup: startup as ChildSpec["startup"],
            config
          }))) as never,
      system: (name, system, options) =>
        declare(name, (path) =>
          Effect.map(decodeSubsystem(path, options), ({ child, system: systemConfig }) => ({
            name,
            kind: "system" as const,
            startup: subsystemStartup(system, systemConfig),
            config: child
          }))).pipe(Effect.asVoid) as never
    }
  }

  /**
   * Declares one child for `generation`: validates it, then starts it and
   * resumes with its value. A bad declaration or a failed startup abandons
   * the declaration: it is recorded, and the declaring fiber is interrupted
   * (so that user code cannot carry on past it by catching an error).
   */
  private declareChild(
    generation: number,
    name: string,
    makeSpec: (path: string) => Effect.Effect<ChildSpec, SystemError>
  ): Effect.Effect<unknown> {
    return Effect.suspend(() => {
      if (generation !== this.generation || this.abandoned !== undefined) return Effect.interrupt
      const path = `${this.path}/${name}`
      if (!this.declaring) {
        return Effect.die(new Error(`${path}: declared after ${this.path}'s start returned; declare children within start`))
      }
      return validateName(path, name).pipe(
        Effect.andThen(makeSpec(path)),
        Effect.flatMap((spec) => {
          if (this.declared.has(name)) return Effect.fail(new DuplicateChild({ path }))
          this.declared.add(name)
          let child = this.byName.get(name)
          if (child === undefined) {
            child = new ChildRecord(spec, path)
            this.byName.set(name, child)
          } else {
            child.spec = spec
          }
          this.children.push(child)
          return this.startChild(child)
        }),
        Effect.catch((error: SystemError) => this.abandon(error))
      )
    })
  }

  private startChild(child: ChildRecord): Effect.Effect<unknown, SystemError> {
    const permanent = child.spec.config.restart === "permanent"
    if (child.finished) return Effect.succeed(Option.none())
    return launch(child, this.scope, this.onExit).pipe(
      Effect.tap(() => logAt("Debug", child.path, "started")),
      Effect.map((value) => permanent ? value : Option.some(value)),
      Effect.catchCause((cause) =>
        child.stopping
          ? Effect.failCause(cause as Cause.Cause<never>)
          : Effect.fail(this.startupError(child.path, child.spec.kind, cause))
      )
    )
  }

  private abandon(error: SystemError): Effect.Effect<never> {
    this.abandoned ??= error
    return Effect.interrupt
  }

  /** A subsystem's own error passes through unwrapped; anything else becomes a `StartupFailed` of `path`. */
  private startupError(path: string, kind: ChildSpec["kind"], cause: Cause.Cause<unknown>): SystemError {
    const error = Option.getOrUndefined(Cause.findErrorOption(cause))
    if (kind === "system" && isSystemError(error)) return error
    return new StartupFailed({ path, cause })
  }
}

/**
 * The startup function of a subsystem: run its supervisor as the main loop,
 * and return once the subsystem is running (or fail as it fails to start).
 */
const subsystemStartup = (system: System.System<unknown>, config: SystemConfig): ChildSpec["startup"] =>
  Effect.gen(function*() {
    const supervisor = yield* Supervisor.make(system, config)
    const fiber = yield* Effect.forkChild(supervisor.run, { startImmediately: true })
    yield* Effect.raceFirst(Deferred.await(supervisor.stable), Fiber.join(fiber))
    return MainLoop.make(fiber)
  })
