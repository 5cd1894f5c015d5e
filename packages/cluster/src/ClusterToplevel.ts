/**
 * A supervision tree that runs once in a whole cluster: a scheduler, a leader
 * loop, a spool's delivery.
 *
 * `ClusterToplevel.singleton(name, system, options)` is a toplevel for every
 * runner of the cluster. Each runner starts it; the whole tree runs on the
 * runner that owns the singleton (the one holding the lease of its shard in
 * effect/cluster) and waits on the others. When ownership moves (the owner
 * dies, stops, freezes past its lease or loses its store; a runner joins and
 * the shards are rebalanced) the old owner settles its tree, child by child
 * in reverse order, then interrupts what did not settle, and lets go; the new
 * owner then starts a fresh tree.
 *
 * Every incarnation of the tree gets a **fencing token** from the cluster's
 * store (`Ownership`), greater than all before it: a frozen owner that
 * resumes after losing its lease may run for a moment beside the new one, and
 * a store that refuses writes carrying an older token than it has seen keeps
 * that moment harmless.
 *
 * The tree's own supervision heals its crashes. A tree that gives up
 * (`TooManyRestarts`, a startup failure) is started again after a backoff,
 * with a new token, on the runner that owns it then (`SingletonRestarting`).
 *
 * The singleton is a `Toplevel` like any other: `NodeToplevel.runMain` runs
 * it, `NodeObserver.layer` serves it. Its snapshot adds where it stands in
 * the cluster (`cluster`: this runner, its role, the owner, the token, the
 * store), its events add `OwnershipAcquired`, `OwnershipReleased`,
 * `SingletonRestarting` and `ClusterStore`, and `/readyz` answers 200 on a
 * standby runner while its store answers.
 *
 * @since 0.1.0
 */
import type { LifecycleEvent, MainLoop, System, TreeSnapshot } from "@arbor/core"
import { Errors, Options as ArborOptions, ShutdownToken, Toplevel } from "@arbor/core"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { EntityId } from "effect/cluster"
import * as ClusterRunner from "./ClusterRunner.ts"
import { oneLine } from "./internal/cause.ts"
import { EventLog } from "./internal/eventLog.ts"
import type { Grant, Incumbent } from "./internal/fencing.ts"
import { Ownership } from "./Ownership.ts"
import * as SingletonMetrics from "./SingletonMetrics.ts"

/**
 * A tree run as a cluster singleton: a `Toplevel` whose `start()` needs a
 * `ClusterRunner` (the process's membership of the cluster). `start()` joins
 * the singleton on this runner and runs until the shutdown token is
 * signalled: then the tree, if it runs here, settles, and `start()` succeeds;
 * the runner's layer, closed after it, hands the singleton over.
 *
 * @example
 * ```ts
 * import { ClusterRunner, ClusterToplevel } from "@arbor/cluster"
 * import { NodeObserver, NodeToplevel } from "@arbor/node"
 * import { Layer } from "effect"
 *
 * declare const scheduler: ClusterToplevel.ClusterToplevel<never>
 *
 * NodeToplevel.runMain(scheduler, {
 *   layer: Layer.merge(ClusterRunner.layer({ port: 7001 }), NodeObserver.layer(scheduler, { port: 9501 }))
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ClusterToplevel<R> extends Toplevel.Toplevel<R | ClusterRunner.ClusterRunner> {}

/**
 * Options of {@link singleton}: those of a toplevel (the tree's intensity,
 * strategy, backoff, ...) and
 *
 * - `restartBackoff`: the delays before starting a tree that gave up again;
 *   default exponential from 1 second, at most 30 seconds apart. When the
 *   schedule ends, the tree stays down until ownership moves.
 * - `shardGroup`: the effect/cluster shard group of the singleton, default
 *   `"default"`.
 *
 * @example
 * ```ts
 * import type { ClusterToplevel } from "@arbor/cluster"
 * import { Schedule } from "effect"
 *
 * const options: ClusterToplevel.Options = {
 *   intensity: { maxRestarts: 5, within: "10 seconds" },
 *   restartBackoff: Schedule.spaced("5 seconds")
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends Toplevel.Options {
  readonly restartBackoff?: Schedule.Schedule<unknown, unknown>
  readonly shardGroup?: string
}

const OptionsSchema = Schema.Struct({
  ...ArborOptions.ToplevelOptions.fields,
  restartBackoff: Schema.optionalKey(Schema.declare(
    (u: unknown): u is Schedule.Schedule<unknown, unknown> => Schedule.isSchedule(u),
    { expected: "a Schedule" }
  )),
  shardGroup: Schema.optionalKey(Schema.NonEmptyString)
})

const defaultRestartBackoff = Schedule.min([Schedule.exponential("1 second"), Schedule.spaced("30 seconds")])

/**
 * Makes the singleton `name` (its tree's root, unique in the cluster) of
 * `system`. Nothing runs until `start()`; options are checked then, before
 * anything joins. The tree may read `Ownership` (its fencing token): the
 * singleton provides it.
 *
 * @example
 * ```ts
 * import { ClusterToplevel, Ownership } from "@arbor/cluster"
 * import { MainLoop, System } from "@arbor/core"
 * import { Effect } from "effect"
 *
 * class Scheduler extends System.System<Ownership.Ownership> {
 *   start(scope: System.Scope) {
 *     return Effect.gen(function*() {
 *       const { fencingToken } = yield* Ownership.Ownership
 *       yield* scope.child("tick", MainLoop.spawn(Effect.log(`running with fencing token ${fencingToken}`)))
 *     })
 *   }
 * }
 *
 * const scheduler = ClusterToplevel.singleton("scheduler", new Scheduler(), { intensity: { maxRestarts: 3, within: "5 seconds" } })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const singleton = <R>(
  name: string,
  system: System.System<R>,
  options?: Options
): ClusterToplevel<Exclude<R, Ownership | MainLoop.SpawnContext>> =>
  new SingletonToplevel(name, system as System.System<unknown>, options) as ClusterToplevel<never>

/**
 * The singleton as a `Layer`, for programs built the Effect way
 * (`Layer.launch(AppLayer).pipe(NodeRuntime.runMain)`): building it joins the
 * singleton on this runner (bad options fail the build with
 * `InvalidOptions`); closing it settles the tree if it runs here, before the
 * runner's layer, provided below it, closes and hands the singleton over.
 *
 * @example
 * ```ts
 * import { ClusterRunner, ClusterToplevel } from "@arbor/cluster"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Layer } from "effect"
 *
 * declare const scheduler: ClusterToplevel.ClusterToplevel<never>
 *
 * const App = ClusterToplevel.layer(scheduler).pipe(Layer.provide(ClusterRunner.layer({ port: 7001 })))
 * Layer.launch(App).pipe(NodeRuntime.runMain)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(singleton: ClusterToplevel<R>): Layer.Layer<never, Errors.ToplevelError, R | ClusterRunner.ClusterRunner> =>
  Layer.effectDiscard(Effect.gen(function*() {
    const running = yield* Effect.forkScoped(singleton.start(), { startImmediately: true })
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        singleton.shutdownToken.signal()
        return Fiber.await(running)
      })
    )
    // Options are checked at once: a start that fails does so before it joins.
    yield* Effect.yieldNow
    const early = running.pollUnsafe()
    if (early !== undefined) return yield* early
  }))

type EventInput = LifecycleEvent.LifecycleEvent extends infer E ? E extends unknown ? Omit<E, "at"> : never : never

/** One start of the tree on this runner. */
interface Incarnation {
  readonly toplevel: Toplevel.Toplevel<never>
  readonly fencingToken: number
  /** Set when the store says a newer token was granted. */
  superseded: boolean
  /** Set when this runner stops it (ownership moved, the runner stops); not when the tree ended by itself. */
  stopped: boolean
}

class SingletonToplevel implements ClusterToplevel<never> {
  readonly shutdownToken = ShutdownToken.make()
  readonly name: string
  readonly snapshot: Effect.Effect<TreeSnapshot.TreeSnapshot>
  readonly changes: Stream.Stream<TreeSnapshot.TreeSnapshot>
  readonly events: Stream.Stream<LifecycleEvent.LifecycleEvent>
  readonly holdEvents: Effect.Effect<void, never, Scope.Scope> = Effect.void
  private readonly system: System.System<unknown>
  /** The options of each incarnation's toplevel: the singleton's own removed. */
  private readonly toplevelOptions: Toplevel.Options | undefined
  private readonly config: Exit.Exit<typeof OptionsSchema.Type, Errors.InvalidOptions>
  private readonly log: EventLog
  private started = false
  private runner = "unknown"
  private role: TreeSnapshot.ClusterStatus["role"] = "joining"
  private current: Incarnation | undefined
  /** The root of the last incarnation on this runner, as it ended. */
  private lastRoot: TreeSnapshot.Node
  private incumbent: Option.Option<Incumbent> = Option.none()
  private store: TreeSnapshot.ClusterStatus["store"] = { available: true, message: null, since: null }
  private ownershipChanges = 0

  constructor(name: string, system: System.System<unknown>, options: Options | undefined) {
    this.name = name
    this.system = system
    if (options !== undefined) {
      const { restartBackoff: _restartBackoff, shardGroup: _shardGroup, ...toplevelOptions } = options
      this.toplevelOptions = toplevelOptions
    }
    this.config = Effect.runSyncExit(ArborOptions.decode(OptionsSchema, name, options))
    this.log = new EventLog(Exit.isSuccess(this.config) ? this.config.value.eventBuffer ?? 1024 : 1)
    this.events = Stream.map(this.log.subscribe(undefined), (numbered) => numbered.event)
    this.lastRoot = {
      path: name,
      name,
      kind: "system",
      restart: "permanent",
      state: "stopped",
      startedAt: null,
      restarts: 0,
      lastExit: null
    }
    this.snapshot = Effect.gen({ self: this }, function*() {
      if (this.current === undefined) return { at: yield* Clock.currentTimeMillis, root: this.lastRoot, cluster: this.status() }
      // The incarnation's snapshot (its root, its health gates), and where it stands in the cluster.
      return { ...yield* this.current.toplevel.snapshot, cluster: this.status() }
    })
    this.changes = Stream.concat(Stream.fromEffect(this.snapshot), Stream.mapEffect(this.events, () => this.snapshot))
  }

  private status(): TreeSnapshot.ClusterStatus {
    const incumbent = Option.getOrUndefined(this.incumbent)
    const held = incumbent !== undefined && !incumbent.released
    return {
      singleton: this.name,
      runner: this.runner,
      role: this.role,
      owner: held ? incumbent.owner : null,
      fencingToken: incumbent?.fencingToken ?? null,
      ownerSince: held ? incumbent.acquiredAt : null,
      store: this.store,
      ownershipChanges: this.ownershipChanges
    }
  }

  start(): Effect.Effect<void, Errors.ToplevelError, ClusterRunner.ClusterRunner> {
    return Effect.suspend((): Effect.Effect<void, Errors.ToplevelError, ClusterRunner.ClusterRunner> => {
      if (this.started) return Effect.fail(new Errors.AlreadyStarted({ path: this.name }))
      this.started = true
      return Effect.scoped(Effect.gen({ self: this }, function*() {
        const config = yield* this.config
        const runner = yield* ClusterRunner.ClusterRunner
        this.runner = runner.address
        yield* Effect.forkScoped(this.watch(runner))
        const joined = yield* Effect.raceFirst(Effect.asSome(runner.joined), Effect.as(this.shutdownToken.signalled, Option.none()))
        if (Option.isSome(joined)) {
          const { sharding } = joined.value
          this.role = "standby"
          const group = config.shardGroup ?? "default"
          const shard = sharding.getShardId(EntityId.make(this.name), group).toString()
          const registration = yield* Scope.fork(yield* Effect.scope)
          yield* sharding.registerSingleton(this.name, this.owned(runner, joined.value, shard, config), { shardGroup: group }).pipe(
            Scope.provide(registration)
          )
          yield* this.shutdownToken.signalled
          this.role = "leaving"
          // Unregistering stops the tree if it runs here: settled, then interrupted after its budgets.
          yield* Scope.close(registration, Exit.void)
        }
      })).pipe(Effect.ensuring(Effect.sync(() => this.log.end())))
    })
  }

  /** While this runner owns the singleton: incarnations of the tree, each with its fencing token, until ownership moves. */
  private owned(
    runner: ClusterRunner.ClusterRunner["Service"],
    joined: ClusterRunner.Joined,
    shard: string,
    config: typeof OptionsSchema.Type
  ): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      const step = yield* Schedule.toStep(config.restartBackoff ?? defaultRestartBackoff)
      while (true) {
        const grant = yield* this.grant(runner, joined, shard)
        const exit = yield* this.incarnate(runner, joined, grant)
        if (Exit.isSuccess(exit)) break
        const now = yield* Clock.currentTimeMillis
        const delay = yield* Effect.orElseSucceed(Effect.map(step(now, exit), ([, delay]) => delay), () => undefined)
        if (delay === undefined) break
        yield* Metric.update(Metric.withAttributes(SingletonMetrics.restarts, { singleton: this.name }), 1)
        yield* this.emit({
          _tag: "SingletonRestarting",
          path: this.name,
          runner: runner.address,
          fencingToken: grant.fencingToken,
          message: oneLine(exit.cause),
          delayMillis: Duration.toMillis(delay)
        }, "Warn", `the tree gave up; starting it again in ${Duration.format(delay)} with a new fencing token`)
        yield* Effect.sleep(delay)
      }
      // Ended for good on this runner (normally, or its backoff ended): held until ownership moves, as effect/cluster does.
      return yield* Effect.never
    })
  }

  /** A fencing token from the store, once it sees this runner holding the lease (it may lag sharding by a renewal). */
  private grant(runner: ClusterRunner.ClusterRunner["Service"], joined: ClusterRunner.Joined, shard: string): Effect.Effect<Grant> {
    const attempt = Effect.flatMap(Clock.currentTimeMillis, (now) => joined.fencing.grant(this.name, shard, runner.address, now))
    return attempt.pipe(
      Effect.tapError((error) => Effect.logWarning(`${this.name}: cannot get a fencing token: ${error.message}`)),
      Effect.flatMap(Option.match({
        onNone: () => Effect.fail(undefined),
        onSome: Effect.succeed
      })),
      Effect.retry(Schedule.spaced(Duration.min(runner.renewEvery, Duration.seconds(1)))),
      // Retried until this runner gets a token or is stopped.
      Effect.orDie
    )
  }

  /** Runs one incarnation of the tree until it ends, or until ownership moves: then it settles first. */
  private incarnate(
    runner: ClusterRunner.ClusterRunner["Service"],
    joined: ClusterRunner.Joined,
    grant: Grant
  ): Effect.Effect<Exit.Exit<void, Errors.ToplevelError>> {
    return Effect.scoped(Effect.gen({ self: this }, function*() {
      const since = yield* Clock.currentTimeMillis
      const { fencingToken } = grant
      // The services the tree needs are those start() was given (its requirements, less Ownership, are the singleton's).
      const toplevel = Toplevel.make(this.name, this.system, this.toplevelOptions) as Toplevel.Toplevel<Ownership>
      const incarnation: Incarnation = { toplevel: toplevel as Toplevel.Toplevel<never>, fencingToken, superseded: false, stopped: false }
      yield* toplevel.holdEvents
      // From its first event: held events are replayed to a reader that starts after them.
      const forwarding = yield* Effect.forkChild(
        Stream.runForEach(toplevel.eventsAfter(0), (item) => item._tag === "Numbered" ? this.log.publish(item.event) : Effect.void),
        { startImmediately: true }
      )
      yield* this.acquired(runner.address, grant, since)
      this.current = incarnation
      yield* Effect.addFinalizer(() => this.released(runner.address, joined, incarnation, forwarding))
      yield* Effect.forkScoped(this.heartbeat(runner, joined, incarnation))
      const tree = yield* Effect.forkChild(
        Effect.provideService(toplevel.start(), Ownership, { singleton: this.name, runner: runner.address, fencingToken, since }),
        { startImmediately: true }
      )
      return yield* Effect.onInterrupt(Fiber.await(tree), () =>
        Effect.suspend(() => {
          incarnation.stopped = true
          toplevel.shutdownToken.signal()
          return Fiber.await(tree)
        })) as Effect.Effect<Exit.Exit<void, Errors.ToplevelError>>
    }))
  }

  private acquired(runner: string, grant: Grant, now: number): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      this.role = "owner"
      this.ownershipChanges++
      const previous = Option.getOrUndefined(grant.previous)
      const fromOther = previous !== undefined && previous.owner !== runner
      const ownerlessMillis = previous === undefined ? null : Math.max(0, now - previous.lastSeen)
      this.incumbent = Option.some({ fencingToken: grant.fencingToken, owner: runner, acquiredAt: now, lastSeen: now, released: false })
      const singleton = { singleton: this.name }
      yield* Metric.update(Metric.withAttributes(SingletonMetrics.owner, singleton), 1)
      if (fromOther) {
        yield* Metric.update(Metric.withAttributes(SingletonMetrics.failovers, singleton), 1)
        yield* Metric.update(Metric.withAttributes(SingletonMetrics.ownerless, singleton), ownerlessMillis! / 1000)
      }
      const after = fromOther ? ` from ${previous.owner} after ${ownerlessMillis} ms without an owner` : ""
      yield* this.emit({
        _tag: "OwnershipAcquired",
        path: this.name,
        runner,
        fencingToken: grant.fencingToken,
        previousOwner: previous?.owner ?? null,
        ownerlessMillis
      }, "Info", `owned by ${runner} with fencing token ${grant.fencingToken}${after}; starting the tree`)
    })
  }

  /** After the incarnation's tree stopped: its last events through, the store told, ownership let go. */
  private released(
    runner: string,
    joined: ClusterRunner.Joined,
    incarnation: Incarnation,
    forwarding: Fiber.Fiber<void>
  ): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      // The tree's event stream ends once it has stopped; bounded all the same.
      yield* Fiber.await(forwarding).pipe(Effect.timeoutOption("1 second"), Effect.andThen(Fiber.interrupt(forwarding)))
      this.lastRoot = (yield* incarnation.toplevel.snapshot).root
      this.current = undefined
      // A tree that ended by itself leaves this runner the owner, waiting to start it again.
      this.role = this.shutdownToken.isSignalled ? "leaving" : incarnation.stopped ? "standby" : "owner"
      this.ownershipChanges++
      const now = yield* Clock.currentTimeMillis
      yield* joined.fencing.release(this.name, incarnation.fencingToken, now).pipe(
        Effect.timeoutOption("1 second"),
        Effect.ignore
      )
      this.incumbent = Option.map(this.incumbent, (row) =>
        row.fencingToken === incarnation.fencingToken ? { ...row, lastSeen: now, released: true } : row)
      yield* Metric.update(Metric.withAttributes(SingletonMetrics.owner, { singleton: this.name }), 0)
      const reason = !incarnation.stopped
        ? "the tree ended"
        : this.shutdownToken.isSignalled
        ? "this runner stops"
        : incarnation.superseded
        ? "a newer fencing token was granted"
        : (yield* joined.sharding.isShutdown)
        ? "this runner leaves the cluster"
        : "ownership moved, or the lease could not be renewed"
      yield* this.emit(
        { _tag: "OwnershipReleased", path: this.name, runner, fencingToken: incarnation.fencingToken, reason },
        "Info",
        `let go of fencing token ${incarnation.fencingToken}: ${reason}`
      )
    })
  }

  /**
   * The owner's sign of life in the store, every lease renewal. A newer token
   * there means this owner was frozen past its lease: its tree stops at once
   * (effect/cluster stops it too, at its next renewal).
   */
  private heartbeat(runner: ClusterRunner.ClusterRunner["Service"], joined: ClusterRunner.Joined, incarnation: Incarnation) {
    return Effect.gen({ self: this }, function*() {
      const now = yield* Clock.currentTimeMillis
      const current = yield* joined.fencing.heartbeat(this.name, incarnation.fencingToken, now).pipe(
        Effect.timeoutOption(runner.renewEvery),
        Effect.map(Option.getOrElse(() => true)),
        Effect.orElseSucceed(() => true)
      )
      if (current) return
      incarnation.superseded = true
      yield* Effect.logWarning(`${this.name}: fencing token ${incarnation.fencingToken} was superseded; stopping the tree`)
      incarnation.toplevel.shutdownToken.signal()
    }).pipe(Effect.repeat(Schedule.spaced(runner.renewEvery)))
  }

  /** Keeps the view of the cluster fresh: the runner's joining, its lease renewals, the owner the store records. */
  private watch(runner: ClusterRunner.ClusterRunner["Service"]) {
    return Effect.gen({ self: this }, function*() {
      const status = yield* runner.status
      if (status._tag === "Joining") {
        if (status.error !== undefined) yield* this.storeIs(runner.address, false, status.error.message, status.error.retryMillis)
        return
      }
      const { fencing } = yield* runner.joined
      // A store that answers reads but not writes (a full disk) renews no lease: it counts as unavailable.
      const renewal = yield* runner.renewal
      if (Option.isSome(renewal)) return yield* this.storeIs(runner.address, false, renewal.value, null)
      const read = yield* fencing.read(this.name).pipe(Effect.timeout(runner.renewEvery), Effect.exit)
      if (Exit.isSuccess(read)) {
        // The owner's own view is fresher than the store's last heartbeat.
        if (this.current === undefined) this.incumbent = read.value
        yield* this.storeIs(runner.address, true, "the store answers again", null)
      } else {
        yield* this.storeIs(runner.address, false, oneLine(read.cause), null)
      }
    }).pipe(Effect.repeat(Schedule.spaced(runner.renewEvery)))
  }

  private storeIs(runner: string, available: boolean, message: string, retryMillis: number | null): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      if (this.store.available === available && (available || this.store.message === message)) return
      const changed = this.store.available !== available
      this.store = {
        available,
        message: available ? null : message,
        since: changed ? yield* Clock.currentTimeMillis : this.store.since
      }
      yield* this.emit(
        { _tag: "ClusterStore", path: this.name, runner, available, message, retryMillis },
        available ? "Info" : "Warn",
        available ? "the cluster's store answers again" : message
      )
    })
  }

  private emit(event: EventInput, level: "Info" | "Warn", message: string): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (at) =>
      Effect.andThen(
        this.log.publish({ ...event, at } as LifecycleEvent.LifecycleEvent),
        Effect.logWithLevel(level)(`${this.name}: ${message}`).pipe(Effect.annotateLogs("path", this.name))
      ))
  }

  eventsAfter(after?: number): Stream.Stream<LifecycleEvent.Numbered | LifecycleEvent.Gap> {
    return this.log.eventsAfter(after)
  }

  reportStall(stall: Toplevel.Stall): Effect.Effect<void> {
    return Effect.flatMap(Clock.currentTimeMillis, (at) =>
      this.log.publish({ _tag: "StallDetected", path: this.name, at, ...stall }))
  }

  reportControl(request: Toplevel.ControlRequest): Effect.Effect<void> {
    // The incarnation logs it, and its events come to this log; with none on this runner, this log has it alone.
    return Effect.suspend(() =>
      this.current === undefined
        ? Effect.flatMap(Clock.currentTimeMillis, (at) => this.log.publish({ _tag: "ControlRequested", ...request, at }))
        : this.current.toplevel.reportControl(request)
    )
  }

  private delegate<A, E>(path: string, f: (toplevel: Toplevel.Toplevel<never>) => Effect.Effect<A, E>): Effect.Effect<A, E | Errors.NotFound> {
    return Effect.suspend((): Effect.Effect<A, E | Errors.NotFound> =>
      this.current === undefined ? Effect.fail(new Errors.NotFound({ path })) : f(this.current.toplevel))
  }

  whichChildren(path: string) {
    return this.delegate(path, (toplevel) => toplevel.whichChildren(path))
  }

  countChildren(path: string) {
    return this.delegate(path, (toplevel) => toplevel.countChildren(path))
  }

  terminateChild(path: string) {
    return this.delegate(path, (toplevel) => toplevel.terminateChild(path))
  }

  restartChild(path: string) {
    return this.delegate(path, (toplevel) => toplevel.restartChild(path))
  }

  exitChild(path: string, exit: Exit.Exit<unknown, unknown>) {
    return this.delegate(path, (toplevel) => toplevel.exitChild(path, exit))
  }

  inspect(path: string, page?: { readonly offset?: number; readonly limit?: number }) {
    return this.delegate(path, (toplevel) => toplevel.inspect(path, page))
  }

  run(): Promise<void> {
    return Promise.reject(new TypeError(`${this.name}: a cluster singleton runs with a ClusterRunner: use NodeToplevel.runMain with ClusterRunner.layer`))
  }
}
