import * as Cause from "effect/Cause"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import type { SystemError } from "../Errors.ts"
import { DuplicateChild, NotFound, PoolClosed, PoolFull, Running } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import * as MainLoop from "../MainLoop.ts"
import type { Pool, PoolChild, ShutdownReport, SpawnError, SpawnOptions } from "../Pool.ts"
import type { Backoff } from "./backoff.ts"
import type { ChildSpec, StopMode, SupervisorDetail, Supervising } from "./child.ts"
import { ChildRecord, ended, launchOn, relaunch, startupError, stop } from "./child.ts"
import type { Outcome } from "./mailbox.ts"
import { Mailbox, supervise } from "./mailbox.ts"
import type { PoolConfig } from "./options.ts"
import { decodeSlotWait, notAnEffect, validateName } from "./options.ts"
import type { SlotWait } from "./slotQueue.ts"
import { SlotQueue } from "./slotQueue.ts"
import { countNote, delayNote, givingUp, RestartBudget } from "./restartBudget.ts"
import type { Telemetry } from "./telemetry.ts"
import * as Metrics from "../Metrics.ts"
import { count } from "./telemetry.ts"

type Event =
  | { readonly _tag: "Exited"; readonly child: PoolChildRecord; readonly incarnation: number; readonly exit: Exit.Exit<unknown, unknown> }
  | { readonly _tag: "Settle" }
  | { readonly _tag: "Resume"; readonly child: PoolChildRecord; readonly token: number }
  | { readonly _tag: "Relaunched"; readonly child: PoolChildRecord; readonly incarnation: number; readonly exit: Exit.Exit<unknown, unknown> }

const settleEvent: Event = { _tag: "Settle" }

/** A pool's child: a record that also knows its final exit and follows its own backoff. */
class PoolChildRecord extends ChildRecord {
  private final: Deferred.Deferred<Exit.Exit<unknown, unknown>> | undefined
  private finalExit: Exit.Exit<unknown, unknown> | undefined
  /** Made at its first restart: most pool children never restart. */
  backoff: Backoff | undefined = undefined

  /** Resumes with its last exit once it is gone; the Deferred is made only for a child someone waits for. */
  get awaitFinal(): Effect.Effect<Exit.Exit<unknown, unknown>> {
    if (this.finalExit !== undefined) return Effect.succeed(this.finalExit)
    this.final ??= Deferred.makeUnsafe()
    return Deferred.await(this.final)
  }

  finish(exit: Exit.Exit<unknown, unknown>): void {
    if (this.finalExit !== undefined) return
    this.finalExit = exit
    if (this.final !== undefined) Deferred.doneUnsafe(this.final, Exit.succeed(exit))
  }
}

type Startup = Effect.Effect<MainLoop.MainLoop<unknown>, unknown, MainLoop.SpawnContext>
type Task = Effect.Effect<unknown, unknown, MainLoop.SpawnContext>

/** What a pool child runs: a startup function (`spawn`) or a task that is its own main loop (`run`). */
type Body = { readonly startup: Startup; readonly task?: undefined } | { readonly startup?: undefined; readonly task: Task }

const noStartup = () => Effect.die(new Error("a task has no startup function"))

/** A child's handle, with its effects made when asked for: most handles of a busy pool are never used. */
class Handle implements PoolChild<unknown> {
  private readonly pool: PoolRuntime
  private readonly child: PoolChildRecord
  readonly value: unknown

  constructor(pool: PoolRuntime, child: PoolChildRecord, value: unknown) {
    this.pool = pool
    this.child = child
    this.value = value
  }

  get name(): string {
    return this.child.spec.name
  }

  get path(): string {
    return this.child.path
  }

  get await(): Effect.Effect<Exit.Exit<unknown, unknown>> {
    return this.child.awaitFinal
  }

  get stop(): Effect.Effect<void> {
    return this.pool.stopChild(this.child)
  }
}

/**
 * The supervisor of one pool: children by name in a `Map` (insertion order
 * is start order), so that finding, restarting or removing one never scans
 * its siblings. Exits, backoff ends and the settle request are handled on the
 * pool's fiber, one at a time; `spawn` and a child's `stop` run on the
 * caller's fiber, so that a slow startup or settle never holds the pool up.
 */
class PoolRuntime implements Supervising {
  private readonly records = new Map<string, PoolChildRecord>()
  private nextId = 0
  private closed = false
  alive = true
  readonly restarting = false
  readonly strategy = undefined
  private readonly report = Deferred.makeUnsafe<ShutdownReport>()
  /** Callers waiting for a slot of the full pool. */
  private readonly slots = new SlotQueue(() => this.slotFreed())
  private readonly budget: RestartBudget
  readonly handle: Pool
  private readonly onExit = (child: ChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>) => {
    this.mailbox.post({ _tag: "Exited", child: child as PoolChildRecord, incarnation, exit })
  }

  private readonly config: PoolConfig
  private readonly telemetry: Telemetry
  private readonly lifecycle: Lifecycle["Service"]
  private readonly mailbox: Mailbox<Event>

  constructor(
    config: PoolConfig,
    telemetry: Telemetry,
    lifecycle: Lifecycle["Service"],
    mailbox: Mailbox<Event>
  ) {
    this.config = config
    this.telemetry = telemetry
    this.lifecycle = lifecycle
    this.mailbox = mailbox
    this.budget = new RestartBudget(lifecycle.path, config)
    this.handle = {
      path: lifecycle.path,
      spawn: ((startup: Startup, options?: SpawnOptions) => this.spawn({ startup }, options)) as Pool["spawn"],
      run: ((task: Task, options?: SpawnOptions) => this.spawn({ task }, options)) as Pool["run"],
      size: Effect.sync(() => this.records.size),
      waiting: Effect.sync(() => this.slots.size),
      shutdownReport: Deferred.await(this.report)
    }
  }

  get path(): string {
    return this.lifecycle.path
  }

  get waiting(): number {
    return this.slots.size
  }

  readonly list = (): ReadonlyArray<ChildRecord> => Array.from(this.records.values())

  readonly find = (name: string): ChildRecord | undefined => this.records.get(name)

  readonly describe = (now: number): SupervisorDetail => {
    const { maxChildren, wait } = this.config
    return {
      intensity: this.budget.use(now),
      maxChildren: Number.isFinite(maxChildren) ? maxChildren : null,
      wait: wait === undefined ? null : wait === "infinity" ? wait : Duration.format(wait)
    }
  }

  readonly terminateChild = (name: string): Effect.Effect<void, NotFound> =>
    Effect.suspend(() => {
      const child = this.records.get(name)
      return child === undefined ? Effect.fail(new NotFound({ path: `${this.path}/${name}` })) : this.stopChild(child)
    })

  /** A pool forgets a child once it stopped, so there is never a stopped child to restart. */
  readonly restartChild = (name: string): Effect.Effect<void, NotFound | Running> =>
    Effect.suspend(() => {
      const child = this.records.get(name)
      return Effect.fail(child === undefined ? new NotFound({ path: `${this.path}/${name}` }) : new Running({ path: child.path }))
    })

  private spawn(body: Body, options?: SpawnOptions): Effect.Effect<PoolChild<unknown>, SpawnError> {
    return Effect.suspend(() => {
      const given = options?.name
      const wait = options?.wait
      // Only typed code is kept from passing something else: it is refused before anything starts.
      const declared = body.task ?? body.startup
      if (!Effect.isEffect(declared)) return Effect.fail(notAnEffect(`${this.path}/${given ?? this.freshName()}`, declared))
      // The usual call has no options to check.
      if (given === undefined && wait === undefined) return this.admit(undefined, body, this.config.wait)
      const name = given === undefined ? Effect.undefined : validateName(`${this.path}/${given}`, given)
      const slotWait = wait === undefined ? Effect.succeed(this.config.wait) : decodeSlotWait(this.path, wait)
      return Effect.flatMap(Effect.all([name, slotWait]), ([name, slotWait]) => this.admit(name, body, slotWait))
    })
  }

  /** Whether a child may start now: below `maxChildren`, counting the slots granted to waiters, and nobody waiting. */
  private get hasRoom(): boolean {
    return this.records.size + this.slots.granted < this.config.maxChildren && this.slots.size === 0
  }

  /** Starts the child now if there is room; else waits for a slot as `wait` says, or fails with `PoolFull`. */
  private admit(name: string | undefined, body: Body, wait: SlotWait | undefined): Effect.Effect<PoolChild<unknown>, SpawnError> {
    if (this.closed) return Effect.fail(new PoolClosed({ path: this.path }))
    if (this.hasRoom) return this.place(name, body)
    // A pool of no slots never frees one: nobody waits for it.
    if (wait === undefined || this.config.maxChildren === 0) return Effect.fail(this.full(undefined))
    return this.slots.await(wait, () => this.full(wait), () => this.place(name, body))
  }

  private full(waited: SlotWait | undefined): PoolFull {
    const { maxChildren } = this.config
    return waited === undefined || waited === "infinity"
      ? new PoolFull({ path: this.path, maxChildren })
      : new PoolFull({ path: this.path, maxChildren, waited: Duration.format(waited) })
  }

  /** Starts the child in a slot it has: under `name`, or a fresh one. */
  private place(name: string | undefined, body: Body): Effect.Effect<PoolChild<unknown>, SpawnError> {
    if (this.closed) return Effect.fail(new PoolClosed({ path: this.path }))
    if (name === undefined) return this.start(this.freshName(), body)
    return this.records.has(name) ? Effect.fail(new DuplicateChild({ path: `${this.path}/${name}` })) : this.start(name, body)
  }

  /** A slot came free (or a granted one was not used): the first waiter gets it, if the pool still has room. */
  private readonly slotFreed = (): void => {
    if (this.slots.size > 0 && this.records.size + this.slots.granted < this.config.maxChildren) this.slots.grant()
  }

  private freshName(): string {
    let name = String(++this.nextId)
    while (this.records.has(name)) name = String(++this.nextId)
    return name
  }

  private start(name: string, body: Body): Effect.Effect<PoolChild<unknown>, SpawnError> {
    const spec: ChildSpec = body.task === undefined
      ? { name, kind: "worker", startup: body.startup, config: this.config.child }
      : { name, kind: "worker", startup: noStartup, task: body.task, config: this.config.child }
    const child = new PoolChildRecord(spec, this.path, this.telemetry, true)
    this.records.set(name, child)
    return Effect.withFiber((fiber) => {
      const started = launchOn(fiber, child, this.onExit)
      // The usual case: the startup has returned already (a task has none).
      const exit = child.startExit
      if (exit !== undefined && Exit.isSuccess(exit)) return Effect.succeed(new Handle(this, child, exit.value))
      return started.pipe(
        Effect.map((value) => new Handle(this, child, value)),
        // A child that fails to start is not restarted: the caller hears about it instead.
        Effect.catchCause((cause) =>
          Effect.andThen(stop(child, "force"), () => {
            this.remove(child, Exit.failCause(cause))
            return Effect.fail(this.closed ? new PoolClosed({ path: this.path }) : startupError(child.path, "worker", cause))
          })
        )
      )
    })
  }

  /** @internal the effect of a child handle's `stop` */
  stopChild(child: PoolChildRecord): Effect.Effect<void> {
    return Effect.suspend(() => {
      if (this.records.get(child.spec.name) !== child) return Effect.asVoid(child.awaitFinal)
      return Effect.map(stop(child, "graceful"), () => this.remove(child))
    })
  }

  /** Forgets a child for good, resolves its `await` and hands its slot on. */
  private remove(child: PoolChildRecord, exit: Exit.Exit<unknown, unknown> = child.host?.pollUnsafe() ?? Exit.void): void {
    if (this.records.get(child.spec.name) === child) {
      this.records.delete(child.spec.name)
      this.slotFreed()
    }
    child.finish(exit)
  }

  /** Supervises the pool until it settles (success) or gives up (failure). */
  get run(): Effect.Effect<void, SystemError> {
    return supervise({
      node: this,
      settling: this.lifecycle.settling,
      mailbox: this.mailbox,
      settle: settleEvent,
      first: Effect.void,
      handle: (event) => this.handleEvent(event)
    }).pipe(
      Effect.onExit(() =>
        Effect.andThen(this.shutdown("force"), Effect.sync(() => {
          this.alive = false
        }))
      ),
      Effect.scoped
    )
  }

  private handleEvent(event: Event): Effect.Effect<Outcome> {
    switch (event._tag) {
      case "Settle":
        return Effect.as(this.shutdown("graceful"), Exit.void)
      case "Exited":
        return this.exited(event.child, event.incarnation, event.exit)
      case "Resume":
        return this.resume(event.child, event.token)
      case "Relaunched":
        return this.relaunched(event.child, event.incarnation, event.exit)
    }
  }

  private exited(child: PoolChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<Outcome> {
    return Effect.flatMap(ended(child, incarnation, exit), (restart) => {
      if (restart === undefined) return Effect.undefined
      if (!restart) {
        this.remove(child, exit)
        return Effect.undefined
      }
      return this.restart(child, exit, Exit.isFailure(exit) ? exit.cause : Cause.empty)
    })
  }

  /** Restarts one child after its own backoff delay, unless the pool has restarted too often: then it gives up. */
  private restart(child: PoolChildRecord, exit: Exit.Exit<unknown, unknown>, cause: Cause.Cause<unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      const verdict = yield* this.budget.next(child.path, cause, child.backoff ??= this.budget.makeBackoff())
      if (verdict._tag === "GiveUp") {
        const { error } = verdict
        this.remove(child, exit)
        const escalated = { _tag: "Escalated", path: this.path, error: error._tag, message: error.message } as const
        yield* this.telemetry.emit(escalated, "Error", givingUp(error), cause)
        yield* count(Metrics.escalations, this.path)
        yield* this.shutdown("graceful")
        return Exit.fail(error)
      }
      const { delay } = verdict
      const restarting = {
        _tag: "SystemRestarting",
        path: this.path,
        child: child.path,
        strategy: "pool",
        restart: verdict.restart,
        maxRestarts: verdict.maxRestarts,
        delayMillis: Duration.toMillis(delay)
      } as const
      yield* this.telemetry.emit(restarting, "Info", () => `restarting ${child.path}${delayNote(delay)}${countNote(verdict)}`)
      if (Duration.isZero(delay)) return yield* this.relaunch(child)
      child.state = "restarting"
      const token = ++child.restartToken
      yield* Effect.forkChild(Effect.andThen(Effect.sleep(delay), this.mailbox.offer({ _tag: "Resume", child, token })))
    })
  }

  private resume(child: PoolChildRecord, token: number): Effect.Effect<Outcome> {
    if (child.state !== "restarting" || child.restartToken !== token) return Effect.undefined
    child.state = "stopped"
    return this.relaunch(child)
  }

  /** Starts the child again (see `relaunch`); the end of its startup comes back as `Relaunched`. */
  private relaunch(child: PoolChildRecord): Effect.Effect<undefined> {
    return relaunch(child, this.onExit, (incarnation, exit) =>
      this.mailbox.offer({ _tag: "Relaunched", child, incarnation, exit }))
  }

  private relaunched(child: PoolChildRecord, incarnation: number, exit: Exit.Exit<unknown, unknown>): Effect.Effect<Outcome> {
    return Effect.gen({ self: this }, function*() {
      if (incarnation !== child.incarnation || child.stopping || Exit.isSuccess(exit)) return
      yield* stop(child, "force")
      return yield* this.restart(child, exit, Cause.fail(startupError(child.path, "worker", exit.cause)))
    })
  }

  /**
   * Closes the pool to new children, then stops all of them in parallel,
   * each settling under its budget, and reports how many had to be
   * interrupted.
   */
  private shutdown(mode: StopMode): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      this.closed = true
      this.slots.close(new PoolClosed({ path: this.path }))
      const children = Array.from(this.records.values())
      if (children.length === 0 && Deferred.isDoneUnsafe(this.report)) return
      let forced = 0
      yield* Effect.forEach(children, (child) =>
        Effect.map(stop(child, mode), (wasForced) => {
          if (wasForced) forced++
          this.remove(child)
        }), { concurrency: "unbounded", discard: true })
      const report: ShutdownReport = { stopped: children.length, forced }
      const completed = { _tag: "ShutdownCompleted", path: this.path, ...report } as const
      if (forced > 0) {
        yield* this.telemetry.emit(completed, "Warn", `shut down ${children.length} children; ${forced} did not settle in time and were interrupted`)
      } else {
        yield* this.telemetry.emit(completed, "Debug", `shut down ${children.length} children`)
      }
      Deferred.doneUnsafe(this.report, Exit.succeed(report))
    })
  }
}

/** The startup function of a pool: run its supervisor as the main loop; the pool's handle is its value. */
export const poolStartup = (config: PoolConfig): ChildSpec["startup"] => (child) =>
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle
    const runtime = new PoolRuntime(config, child.telemetry, lifecycle, new Mailbox<Event>({ batched: true }))
    child.inner = runtime
    const fiber = yield* Effect.forkChild(runtime.run, { startImmediately: true })
    return MainLoop.make(fiber, runtime.handle)
  })
