import * as Cause from "effect/Cause"
import * as Context from "effect/Context"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Option from "effect/Option"
import type { SystemError } from "../Errors.ts"
import { DuplicateChild, InvalidOptions, NotFound, Running } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import * as MainLoop from "../MainLoop.ts"
import type * as System from "../System.ts"
import type { ChildSpec, StopMode, SupervisorDetail, Supervising } from "./child.ts"
import { ChildRecord, ended, launchOn, relaunch, startupError, stop } from "./child.ts"
import { logAt } from "./log.ts"
import type { ChildConfig, SystemConfig } from "./options.ts"
import {
  decodePool,
  defaultWorker,
  decodeSubsystem,
  decodeWorker,
  describeValue,
  isPlainName,
  isSystem,
  notAnEffect,
  notASystem,
  poolChildConfig,
  validateName
} from "./options.ts"
import { poolStartup } from "./pool.ts"
import type { Outcome } from "./mailbox.ts"
import { Mailbox, supervise } from "./mailbox.ts"
import type { LifecycleHandle } from "./lifecycle.ts"
import { autoShutdownAfter, decideRestart } from "./decision.ts"
import { countNote, delayNote, givingUp, RestartBudget } from "./restartBudget.ts"
import type { EventInput, Telemetry } from "./telemetry.ts"
import * as Metrics from "../Metrics.ts"
import { count, traced, tracedUnsafe } from "./telemetry.ts"

type Event =
  | { readonly _tag: "Exited"; readonly child: ChildRecord; readonly incarnation: number; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Declared"; readonly generation: number; readonly exit: Exit.Exit<void, unknown> }
  | { readonly _tag: "Settle" }
  | { readonly _tag: "Resume"; readonly token: number }
  | { readonly _tag: "ResumeChild"; readonly child: ChildRecord; readonly token: number }
  | {
    readonly _tag: "Relaunched"
    readonly child: ChildRecord
    readonly incarnation: number
    readonly exit: Exit.Exit<unknown, unknown>
    readonly reply: Reply | undefined
  }
  | { readonly _tag: "Call"; readonly run: Effect.Effect<Outcome> }

type Reply = Deferred.Deferred<void, NotFound | Running | SystemError>

const settleEvent: Event = { _tag: "Settle" }

/**
 * The supervisor of one system. All decisions are taken on one fiber, one
 * event at a time, from a mailbox fed by the children's exits, the end of
 * each run of `start` (a *declaration*), the end of backoff waits, requests
 * from child administration and the request to settle.
 *
 * Each run of `start` is a *generation*. A group restart (`one_for_all`,
 * `rest_for_one`) stops the affected children in reverse declaration order
 * and begins a new generation; records are kept by name across generations,
 * so a child that finished for good stays finished, its restart count carries
 * on, and under `rest_for_one` a child still running is reused. A
 * `one_for_one` restart starts one record again, outside any declaration.
 *
 * The list of children is the previous generation's until the new one has
 * declared them all: a replay moves each child it declares to the end of
 * those it has declared so far, so that every child stays listed, in order,
 * through the whole restart (failed replays and backoff waits included), and
 * one it no longer declares leaves the list when its declaration has ended.
 */
export class Supervisor implements Supervising {
  /** Those declared by the current generation so far, in order, then the previous generation's others. */
  private children: Array<ChildRecord> = []
  private readonly byName = new Map<string, ChildRecord>()
  /** How many children the current generation has declared: the first ones of `children` (see `ChildRecord.declaredIn`). */
  private declaredCount = 0
  private generation = 0
  /** Until the first group restart: a failure now is a failure to start, not a reason to restart. */
  private firstStart = true
  private declaration: Fiber.Fiber<void, unknown> | undefined
  /** Why the current declaration was abandoned, if it was. */
  private abandoned: SystemError | undefined
  /** Whether the current generation's `start` is still running: declarations are accepted only then. */
  private declaring = false
  /** The first child of the group being restarted: a failed replay restarts the group from there again. */
  private groupFrom = 0
  /** A group restart waiting for its backoff delay. */
  private pending: { readonly token: number; readonly from: number; readonly child: string } | undefined
  /** Stopping the group of a restart, before its replay: the system shows as `restarting` meanwhile. */
  private stoppingGroup = false
  private tokens = 0
  private readonly budget: RestartBudget
  private readonly replies = new Set<Reply>()
  alive = true
  /** Resolved once the first declaration completes: the system is running. */
  readonly stable = Deferred.makeUnsafe<void>()
  private readonly onExit = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>) => {
    this.mailbox.post({ _tag: "Exited", child, incarnation, exit })
  }

  private readonly system: System.System<unknown>
  readonly config: SystemConfig
  private readonly lifecycle: LifecycleHandle
  private readonly mailbox: Mailbox<Event>
  readonly telemetry: Telemetry

  constructor(
    system: System.System<unknown>,
    config: SystemConfig,
    telemetry: Telemetry,
    lifecycle: LifecycleHandle,
    mailbox: Mailbox<Event>
  ) {
    this.system = system
    this.config = config
    this.telemetry = telemetry
    this.lifecycle = lifecycle
    this.mailbox = mailbox
    this.budget = new RestartBudget(lifecycle.path, config)
  }

  /** Makes the supervisor of `system`, running as the child whose `Lifecycle` is in context. */
  static readonly make = (system: System.System<unknown>, config: SystemConfig, telemetry: Telemetry) =>
    Effect.gen(function*() {
      // The framework provides every child's Lifecycle, so it is always its own handle.
      const lifecycle = (yield* Lifecycle) as LifecycleHandle
      return new Supervisor(system, config, telemetry, lifecycle, new Mailbox<Event>({ batched: false }))
    })

  /** The system's path: that of the child it runs as. */
  get path(): string {
    return this.lifecycle.path
  }

  get strategy(): string {
    return this.config.strategy
  }

  /** Restarting its children: from the restart decision (stopping the group) until the replay has declared them all. */
  get restarting(): boolean {
    return this.pending !== undefined || this.stoppingGroup || (!this.firstStart && this.declaration !== undefined)
  }

  readonly list = (): ReadonlyArray<ChildRecord> => this.children.filter(isKnown)

  readonly describe = (now: number): SupervisorDetail => ({ intensity: this.budget.use(now), autoShutdown: this.config.autoShutdown })

  readonly find = (name: string): ChildRecord | undefined => {
    const child = this.byName.get(name)
    return child !== undefined && child.listed && isKnown(child) ? child : undefined
  }

  /**
   * Starts the system and supervises it until it settles (success) or gives
   * up (failure). If the fiber running it is interrupted, every child is
   * interrupted, in reverse order.
   */
  get run(): Effect.Effect<void, SystemError> {
    return flat(supervise({
      node: this,
      settling: this.lifecycle.settling,
      mailbox: this.mailbox,
      settle: settleEvent,
      first: this.startGeneration,
      handle: (event) => this.handle(event)
    })).pipe(
      Effect.onExit(() =>
        Effect.andThen(this.stopAll("force"), Effect.sync(() => {
          this.alive = false
          for (const reply of this.replies) Deferred.doneUnsafe(reply, Exit.fail(new NotFound({ path: this.path })))
        }))
      ),
      Effect.scoped
    )
  }

  private handle(event: Event): Effect.Effect<Outcome> {
    switch (event._tag) {
      case "Settle":
        return this.settle
      case "Declared":
        return this.declarationEnded(event.generation, event.exit)
      case "Exited":
        return this.exited(event.child, event.incarnation, event.exit)
      case "Resume":
        return this.resumeGroup(event.token)
      case "ResumeChild":
        return this.resumeChild(event.child, event.token)
      case "Relaunched":
        return this.relaunched(event.child, event.incarnation, event.exit, event.reply)
      case "Call":
        return event.run
    }
  }

  // ---- The path of a crash, in the order it runs ----
  // The child's host fiber ends; its observer (`onExit`) posts `Exited`; `exited` has `ended` (child.ts) close the
  // child's scope and report the exit with its policy's answer; `restart` asks the budget (`RestartBudget.next`:
  // intensity window, backoff) and decides (`decideRestart` in decision.ts); `restartAfter` relaunches one child,
  // `restartGroup` stops the group and `replay`s `start`; a relaunch's startup comes back as `Relaunched`.
  // The steps are plain effects, not generators: they run for every crash.
  private exited(child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<Outcome> {
    return Effect.flatMap(ended(child, incarnation, exit), (restart): Effect.Effect<Outcome> => {
      if (restart === undefined) return Effect.undefined
      if (!restart) {
        child.finished = true
        return child.spec.config.significant ? this.significantFinished(child) : Effect.undefined
      }
      return this.restart(child, child.path, Exit.isFailure(exit) ? exit.cause : Cause.empty)
    })
  }

  /** A significant child finished on its own: with `autoShutdown`, the system may be done. */
  private significantFinished(child: ChildRecord): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      const mode = this.config.autoShutdown
      const othersRunning = this.children.some((c) => c !== child && c.spec.config.significant && c.state !== "stopped")
      if (!autoShutdownAfter(mode, othersRunning)) return
      yield* this.telemetry.emit(
        { _tag: "ShutdownRequested", path: this.path, reason: "autoShutdown" },
        "Info",
        `significant child ${child.path} finished; shutting down (autoShutdown: ${mode})`
      )
      yield* this.stopAll("graceful")
      return Exit.void
    })
  }

  /**
   * Restarts after the exit of `child` (or a failed replay, `child`
   * undefined), as the strategy says, unless that is one restart too many or
   * the backoff schedule has ended: then every child stops and the system
   * fails. The backoff delay is waited for on a timer, so that a settle
   * request meanwhile is handled at once.
   */
  private restart(child: ChildRecord | undefined, childPath: string, cause: Cause.Cause<unknown>): Effect.Effect<Outcome> {
    // One step on the supervisor's fiber: the span, the verdict and the event need no step of their own.
    return Effect.withFiber((fiber) => this.traced(childPath, Effect.flatMap(this.budget.next(childPath, cause), (verdict) => {
      const decided = decideRestart(verdict, this.config.strategy, this.children, child, this.groupFrom, this.pending?.from)
      if (decided._tag === "GiveUp") return this.giveUp(decided.error, givingUp(decided.error), cause)
      const approved = decided.verdict
      const { delay } = approved
      const restarting = {
        _tag: "SystemRestarting",
        path: this.path,
        child: childPath,
        strategy: this.config.strategy,
        restart: approved.restart,
        maxRestarts: approved.maxRestarts,
        delayMillis: Duration.toMillis(delay)
      } as const
      if (decided._tag === "RestartOne") {
        const message = () => `restarting ${childPath} (one_for_one)${delayNote(delay)}${countNote(approved)}`
        const log = this.telemetry.emitUnsafe(fiber, restarting, "Info", message)
        const relaunched = this.restartAfter(decided.child, delay)
        return log === undefined ? relaunched : Effect.andThen(log, relaunched)
      }
      return this.restartGroup(decided.from, childPath, restarting, delay, countNote(approved))
    }), fiber))
  }

  /** One child restarts on its own (`one_for_one`), after its backoff delay. */
  private restartAfter(child: ChildRecord, delay: Duration.Duration): Effect.Effect<Outcome> {
    if (Duration.isZero(delay)) return this.relaunch(child, undefined)
    child.state = "restarting"
    return this.after(delay, { _tag: "ResumeChild", child, token: ++child.restartToken })
  }

  private resumeChild(child: ChildRecord, token: number): Effect.Effect<Outcome> {
    if (child.state !== "restarting" || child.restartToken !== token) return Effect.undefined
    child.state = "stopped"
    return this.relaunch(child, undefined)
  }

  /** A restart of `one_for_all` or `rest_for_one`: the group from `from` on is stopped, then `start` replayed after `delay`. */
  private restartGroup(
    from: number,
    childPath: string,
    restarting: EventInput,
    delay: Duration.Duration,
    count: string
  ): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      const { strategy } = this.config
      this.firstStart = false
      const which = from === 0 ? "all children" : `${this.children[from]?.path ?? childPath} and the children after it`
      yield* this.telemetry.emit(restarting, "Info", `restarting ${which} (${strategy})${delayNote(delay)}${count}`)
      this.stoppingGroup = true
      yield* Effect.ensuring(this.stopFrom(from, "graceful"), Effect.sync(() => {
        this.stoppingGroup = false
      }))
      // A settle request that came in meanwhile is next in the mailbox: starting again would only delay it.
      if (yield* this.lifecycle.isSettling) return
      if (Duration.isZero(delay)) {
        this.pending = undefined
        return yield* this.replay(from)
      }
      const token = ++this.tokens
      this.pending = { token, from, child: childPath }
      yield* this.after(delay, { _tag: "Resume", token })
    })
  }

  private resumeGroup(token: number): Effect.Effect<Outcome> {
    const pending = this.pending
    if (pending === undefined || pending.token !== token) return Effect.undefined
    this.pending = undefined
    return this.traced(pending.child, this.replay(pending.from))
  }

  /**
   * Replays `start`, reusing the children before `from` that still run. One
   * of them still starting (a `restartChild` in flight) is stopped first, so
   * that the replay starts it afresh instead of running two incarnations of
   * it at once.
   */
  private replay(from: number): Effect.Effect<Outcome> {
    return Effect.suspend(() => {
      this.groupFrom = from
      const kept = this.children.slice(0, from)
      const starting = kept.filter((child) => child.state === "starting").reverse()
      const stopped = starting.length === 0 ? Effect.void : Effect.suspend(() => {
        this.stoppingGroup = true
        return Effect.forEach(starting, (child) => stop(child, "graceful"), { discard: true }).pipe(
          Effect.ensuring(Effect.sync(() => {
            this.stoppingGroup = false
          }))
        )
      })
      return Effect.andThen(stopped, Effect.as(this.startGeneration, undefined))
    })
  }

  /** A restart's span: a group restart's new startups nest under it. Decided on `fiber`, the supervisor's, if given. */
  private traced<A>(child: string, effect: Effect.Effect<A>, fiber?: Fiber.Fiber<unknown, unknown>): Effect.Effect<A> {
    const options = { attributes: { "arbor.path": this.path, "arbor.child": child } }
    return fiber === undefined ? traced(effect, "arbor.system.restart", options) : tracedUnsafe(fiber, effect, "arbor.system.restart", options)
  }

  /** Posts `event` after `delay`; the timer dies with the supervisor. */
  private after(delay: Duration.Duration, event: Event): Effect.Effect<undefined> {
    return Effect.as(Effect.forkChild(Effect.andThen(Effect.sleep(delay), this.mailbox.offer(event))), undefined)
  }

  /**
   * Starts one record again, outside any declaration (see `relaunch`);
   * the end of its startup comes back as a `Relaunched` event. `reply` is
   * the caller of `restartChild`, if any.
   */
  private relaunch(child: ChildRecord, reply: Reply | undefined): Effect.Effect<undefined> {
    return relaunch(child, this.onExit, (incarnation, exit) =>
      this.mailbox.offer({ _tag: "Relaunched", child, incarnation, exit, reply }))
  }

  private relaunched(
    child: ChildRecord,
    incarnation: number,
    exit: Exit.Exit<unknown, unknown>,
    reply: Reply | undefined
  ): Effect.Effect<Outcome> {
    if (incarnation !== child.incarnation || child.stopping) {
      if (reply !== undefined) this.answer(reply, Exit.fail(new NotFound({ path: child.path })))
      return Effect.undefined
    }
    // A startup that returned was announced by the child's own `ChildStarted`.
    if (Exit.isSuccess(exit)) return Effect.succeed(reply === undefined ? undefined : this.answer(reply, Exit.void))
    return Effect.gen({ self: this }, function*() {
      yield* stop(child, "force")
      const error = startupError(child.path, child.spec.kind, exit.cause)
      if (reply !== undefined) return this.answer(reply, Exit.fail(error))
      return yield* this.restart(child, child.path, Cause.fail(error))
    })
  }

  /** Stops every child, announces that the system gives up with `error`, and fails with it. */
  private giveUp(error: SystemError, message: string, cause?: Cause.Cause<unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      yield* this.telemetry.emit({ _tag: "Escalated", path: this.path, error: error._tag, message: error.message }, "Error", message, cause)
      yield* count(Metrics.escalations, this.path)
      yield* this.stopAll("graceful")
      return Exit.fail(error)
    })
  }

  // ---- Declarations: each run of `start` ----

  /**
   * Runs `start` as a new generation, on a fiber of its own so that exits and
   * settling are handled meanwhile. Every child stays listed meanwhile; a
   * declaration of one still running (kept by `rest_for_one`) resumes with
   * its value.
   */
  private get startGeneration(): Effect.Effect<void> {
    return Effect.suspend(() => {
      const generation = ++this.generation
      this.declaredCount = 0
      this.abandoned = undefined
      this.declaring = true
      const scope = this.declarationScope(generation)
      // The services `start` needs are in the context of the fiber running the supervisor; a `start`
      // that throws instead of returning an Effect fails the declaration like any other defect.
      const start = Effect.suspend(() => {
        const declaring: unknown = this.system.start(scope)
        return Effect.isEffect(declaring)
          ? declaring as Effect.Effect<void, unknown>
          : Effect.fail(new InvalidOptions({ path: this.path, issue: `start returned ${describeValue(declaring)}, not an Effect` }))
      })
      return Effect.map(Effect.forkChild(start, { startImmediately: true }), (fiber) => {
        this.declaration = fiber
        fiber.addObserver((exit) => {
          if (generation === this.generation) this.declaring = false
          this.mailbox.post({ _tag: "Declared", generation, exit })
        })
      })
    })
  }

  private declarationScope(generation: number): System.Scope {
    const declare = this.declareChild.bind(this, generation)
    const { autoShutdown } = this.config
    return {
      path: this.path,
      child: (name, startup, options) =>
        declare(name, (path) => {
          // Only typed code is kept from passing something else: it is refused here, before it runs.
          if (!Effect.isEffect(startup)) return Effect.fail(notAnEffect(path, startup))
          const worker = (config: ChildConfig): ChildSpec => ({
            name,
            kind: "worker",
            startup: startup as Effect.Effect<MainLoop.MainLoop<unknown>, unknown, MainLoop.SpawnContext>,
            config
          })
          // The usual declaration has no options: its spec is ready, with no effect to run.
          return options === undefined ? worker(defaultWorker) : Effect.map(decodeWorker(path, options, autoShutdown), worker)
        }) as never,
      system: (name, system, options) =>
        declare(name, (path) =>
          Effect.map(isSystem(system) ? decodeSubsystem(path, options, autoShutdown) : Effect.fail(notASystem(path, system)), ({ child, system: systemConfig }) => ({
            name,
            kind: "system" as const,
            startup: subsystemStartup(system, systemConfig),
            config: child
          }))).pipe(Effect.asVoid) as never,
      pool: (name, options) =>
        declare(name, (path) =>
          Effect.map(decodePool(path, options), (config) => ({
            name,
            kind: "pool" as const,
            startup: poolStartup(config),
            config: poolChildConfig
          }))) as never
    }
  }

  /**
   * Declares one child for `generation`: validates it, then starts it (or
   * reuses it, still running from before a `rest_for_one` restart) and
   * resumes with its value. A bad declaration or a failed startup abandons
   * the declaration: it is recorded, and the declaring fiber is interrupted
   * (so that user code cannot carry on past it by catching an error).
   *
   * `makeSpec` makes the spec, or an effect that checks the options and
   * makes it: a plain name and a spec made at once cost no step in between.
   */
  private declareChild(
    generation: number,
    name: string,
    makeSpec: (path: string) => ChildSpec | Effect.Effect<ChildSpec, SystemError>
  ): Effect.Effect<unknown> {
    return Effect.suspend(() => {
      if (generation !== this.generation || this.abandoned !== undefined) return Effect.interrupt
      const path = `${this.path}/${name}`
      if (!this.declaring) {
        return Effect.die(new Error(`${path}: declared after ${this.path}'s start returned; declare children within start`))
      }
      const made = isPlainName(name) ? makeSpec(path) : Effect.flatMap(validateName(path, name), () => {
        const spec = makeSpec(path)
        return Effect.isEffect(spec) ? spec : Effect.succeed(spec)
      })
      const declared = Effect.isEffect(made) ? Effect.flatMap(made, (spec) => this.declareSpec(generation, path, spec)) : this.declareSpec(generation, path, made)
      return Effect.catch(declared, (error: SystemError) => this.abandon(error))
    })
  }

  /** Lists the child `spec` declares, as the next of `generation`, and starts it unless it runs already. */
  private declareSpec(generation: number, path: string, spec: ChildSpec): Effect.Effect<unknown, SystemError> {
    const { name } = spec
    let child = this.byName.get(name)
    if (child?.declaredIn === generation) return Effect.fail(new DuplicateChild({ path }))
    if (child === undefined) {
      child = new ChildRecord(spec, this.path, this.telemetry)
      this.byName.set(name, child)
    } else {
      child.spec = spec
    }
    child.declaredIn = generation
    this.place(child, this.declaredCount++)
    if (child.state === "running" && !child.stopping) return Effect.succeed(this.valueFor(child, child.value))
    return this.startChild(child)
  }

  private startChild(child: ChildRecord): Effect.Effect<unknown, SystemError> {
    if (child.finished) return Effect.succeed(Option.none())
    child.terminated = false
    return Effect.withFiber((fiber) => {
      const started = launchOn(fiber, child, this.onExit)
      // The usual case: the startup has returned already.
      const exit = child.startExit
      if (exit !== undefined && Exit.isSuccess(exit)) return Effect.succeed(this.valueFor(child, exit.value))
      return started.pipe(
        Effect.map((value) => this.valueFor(child, value)),
        // Stopped by its supervisor, the declaration is being abandoned anyway; stopped by `terminateChild`, it
        // cannot go on without the child's value: that counts as the child's failed startup.
        Effect.catchCause((cause) =>
          child.stopping && !child.terminated
            ? Effect.failCause(cause as Cause.Cause<never>)
            : Effect.fail(startupError(child.path, child.spec.kind, cause))
        )
      )
    })
  }

  /** What a declaration resumes with: the value for a permanent child, an `Option` otherwise. */
  private valueFor(child: ChildRecord, value: unknown): unknown {
    return child.spec.config.restart === "permanent" ? value : Option.some(value)
  }

  private abandon(error: SystemError): Effect.Effect<never> {
    this.abandoned ??= error
    return Effect.interrupt
  }

  /** Lists `child` as the `position`th declared by the current generation, moving it there if it was listed later. */
  private place(child: ChildRecord, position: number): void {
    // The usual case: a replay declares each child where it was, a first start at the end.
    if (this.children[position] === child) return
    if (child.listed) this.children.splice(this.children.indexOf(child), 1)
    child.listed = true
    if (position === this.children.length) this.children.push(child)
    else this.children.splice(position, 0, child)
  }

  private declarationEnded(generation: number, exit: Exit.Exit<void, unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      if (generation !== this.generation) return
      this.declaration = undefined
      const error = this.abandoned ?? (Exit.isFailure(exit) ? startupError(this.path, "system", exit.cause) : undefined)
      if (error === undefined) {
        yield* this.stopUndeclared
        Deferred.doneUnsafe(this.stable, Exit.void)
        // A first start is announced as the system's `ChildStarted`; the end of a replay has no event of its own.
        if (!this.firstStart) yield* logAt("Debug", this.path, "restart complete: its children run again")
        return
      }
      if (this.firstStart) {
        return yield* this.giveUp(error, `first start failed at ${error.path}; stopping the children already started`)
      }
      return yield* this.restart(undefined, error.path, Cause.fail(error))
    })
  }

  /**
   * The children of the previous generation that this one did not declare
   * again leave the list, once its declaration has ended; one still running
   * (kept by `rest_for_one`) is stopped: nothing runs unlisted.
   */
  private get stopUndeclared(): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.children.length === this.declaredCount) return Effect.void
      const undeclared = this.children.splice(this.declaredCount)
      for (const child of undeclared) child.listed = false
      return Effect.forEach(undeclared.reverse(), (child) => stop(child, "graceful"), { discard: true })
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

  // ---- Stopping ----

  private get settle(): Effect.Effect<Outcome> {
    // No line of its own: its parent's stop (or the toplevel's shutdown request) has announced it.
    return Effect.as(this.stopAll("graceful"), Exit.void as Outcome).pipe(
      (settling) => traced(settling, "arbor.system.shutdown", { attributes: { "arbor.path": this.path }, parent: this.lifecycle.settleSpan })
    )
  }

  /** Abandons the running declaration and any pending restart, then stops every child in reverse order. */
  private stopAll(mode: StopMode): Effect.Effect<void> {
    this.pending = undefined
    return this.stopFrom(0, mode)
  }

  /**
   * Abandons the running declaration, if any, then stops the children from
   * position `from` on, in reverse declaration order. A temporary child is
   * never started again, also not as a bystander of a restart.
   */
  private stopFrom(from: number, mode: StopMode): Effect.Effect<void> {
    return Effect.andThen(
      this.abandonDeclaration,
      Effect.suspend(() =>
        Effect.forEach(this.children.slice(from).reverse(), (child) =>
          Effect.map(stop(child, mode), () => {
            if (child.spec.config.restart === "temporary") child.finished = true
          }), { discard: true })
      )
    )
  }

  // ---- Administration: run on the supervisor's fiber through its mailbox ----

  readonly terminateChild = (name: string): Effect.Effect<void, NotFound> =>
    this.call((reply) =>
      Effect.gen({ self: this }, function*() {
        const child = this.find(name)
        if (child === undefined) return this.answer(reply, Exit.fail(new NotFound({ path: `${this.path}/${name}` })))
        child.terminated = true
        yield* stop(child, "graceful")
        if (child.spec.config.restart === "temporary") child.finished = true
        yield* logAt("Info", child.path, "terminated on request")
        this.answer(reply, Exit.void)
      })
    ) as Effect.Effect<void, NotFound>

  readonly restartChild = (name: string): Effect.Effect<void, NotFound | Running | SystemError> =>
    this.call((reply) =>
      Effect.suspend(() => {
        const child = this.find(name)
        if (child === undefined) return Effect.sync(() => this.answer(reply, Exit.fail(new NotFound({ path: `${this.path}/${name}` }))))
        if (child.state !== "stopped" || this.waitsForGroup(child)) {
          return Effect.sync(() => this.answer(reply, Exit.fail(new Running({ path: child.path }))))
        }
        child.terminated = false
        child.finished = false
        return Effect.andThen(logAt("Info", child.path, "restarting on request"), this.relaunch(child, reply))
      })
    )

  /**
   * Whether `child` waits for a replay: its group restart waits for its backoff delay, or the replay in
   * progress has not declared it yet. The replay will start it (or, if it finished for good, leave it
   * down); starting it meanwhile would leave it running outside the replayed generation, where a failed
   * replay could not stop it in order.
   */
  private waitsForGroup(child: ChildRecord): boolean {
    if (this.pending !== undefined) return this.children.indexOf(child) >= this.pending.from
    return this.declaration !== undefined && child.declaredIn !== this.generation
  }

  /** Runs `body` on the supervisor's fiber and resumes with what it answers. */
  private call(body: (reply: Reply) => Effect.Effect<Outcome>): Effect.Effect<void, NotFound | Running | SystemError> {
    return Effect.suspend(() => {
      if (!this.alive) return Effect.fail(new NotFound({ path: this.path }))
      const reply: Reply = Deferred.makeUnsafe()
      this.replies.add(reply)
      this.mailbox.request({ _tag: "Call", run: body(reply) })
      return Deferred.await(reply)
    })
  }

  private answer(reply: Reply, exit: Exit.Exit<void, NotFound | Running | SystemError>): undefined {
    this.replies.delete(reply)
    Deferred.doneUnsafe(reply, exit)
    return undefined
  }
}

/**
 * Runs `effect` with its services copied into one flat context. Each service
 * added on top of a context is a layer its lookups walk through, and past
 * eight Effect copies the whole context into a new one: a supervisor deep in
 * layers would otherwise have that copy made for every child it starts (its
 * startup span is one layer more), and every lookup of a child's services walk
 * them all.
 */
const flat = <A, E, R>(effect: Effect.Effect<A, E, R>): Effect.Effect<A, E, R> =>
  Effect.updateContext(effect, (context: Context.Context<R>) => Context.makeUnsafe(context.mapUnsafe))

/** A temporary child that finished is forgotten, as in OTP: administration no longer sees it. */
const isKnown = (child: ChildRecord): boolean => !(child.finished && child.spec.config.restart === "temporary")


/**
 * The startup function of a subsystem: run its supervisor as the main loop,
 * and return once the subsystem is running (or fail as it fails to start).
 */
const subsystemStartup = (system: System.System<unknown>, config: SystemConfig): ChildSpec["startup"] => (child) =>
  Effect.gen(function*() {
    const supervisor = yield* Supervisor.make(system, config, child.telemetry)
    child.inner = supervisor
    const fiber = yield* Effect.forkChild(supervisor.run, { startImmediately: true })
    yield* Effect.raceFirst(Deferred.await(supervisor.stable), Fiber.join(fiber))
    return MainLoop.make(fiber)
  })
