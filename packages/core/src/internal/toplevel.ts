/**
 * The engine of a toplevel (`Toplevel.make`, `Toplevel.layer`): it starts the
 * root system's supervisor, turns the shutdown token into a settle request,
 * keeps the root's own state for snapshots, and administers the tree by path.
 */
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Deferred from "effect/Deferred"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Layer from "effect/Layer"
import * as Option from "effect/Option"
import * as Predicate from "effect/Predicate"
import * as Runtime from "effect/Runtime"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import { kindOf } from "../ChildExit.ts"
import type { InvalidOptions, Running, SystemError, ToplevelError } from "../Errors.ts"
import { AlreadyStarted, NotFound } from "../Errors.ts"
import { Lifecycle } from "../Lifecycle.ts"
import type * as LifecycleEvent from "../LifecycleEvent.ts"
import { decode } from "../Options.ts"
import * as ShutdownToken from "../ShutdownToken.ts"
import type * as System from "../System.ts"
import type * as TreeSnapshot from "../TreeSnapshot.ts"
import type { ChildRecord, Supervising } from "./child.ts"
import { injectExit } from "./child.ts"
import { CurrentGates, GateRegistry } from "./gate.ts"
import { LifecycleHandle } from "./lifecycle.ts"
import { logAt } from "./log.ts"
import type { ToplevelConfig } from "./options.ts"
import { decodeToplevel, isSystem, notASystem, validateName } from "./options.ts"
import type { Page as ChildPage } from "./snapshot.ts"
import { innerOf, nodeOf, settingsOf } from "./snapshot.ts"
import { summary } from "./summary.ts"
import { Supervisor } from "./supervisor.ts"
import { Telemetry, traced } from "./telemetry.ts"

/** `Toplevel.layer`. */
export const layer = (toplevel: unknown): Layer.Layer<never, ToplevelError> =>
  Layer.effectDiscard(Effect.gen(function*() {
    if (!(toplevel instanceof ToplevelImpl)) return yield* Effect.die(new TypeError("Toplevel.layer needs a toplevel made by Toplevel.make"))
    const program = yield* Effect.withFiber((fiber) => Effect.succeed(fiber))
    const tree = yield* Effect.forkScoped(toplevel.start(), { startImmediately: true })
    // Whether the tree's end is the program's: from the moment the build has succeeded.
    let built = false
    let closing = false
    // Added after the fork, so it runs before the scope interrupts the tree: the tree settles first, also when the
    // scope closes while it is still starting.
    yield* Effect.addFinalizer(() =>
      Effect.suspend(() => {
        closing = true
        toplevel.shutdownToken.signal()
        return Effect.flatMap(Fiber.await(tree), (exit) =>
          built && Exit.isFailure(exit) && !Cause.hasInterruptsOnly(exit.cause) ? Effect.orDie(exit) : Effect.void)
      })
    )
    yield* Effect.raceFirst(Deferred.await(toplevel.running), Effect.asVoid(Fiber.await(tree)))
    const early = tree.pollUnsafe()
    if (early !== undefined && Exit.isFailure(early)) return yield* early
    built = true
    tree.addObserver(() => {
      if (!closing) program.interruptUnsafe()
    })
  }))

/** `Toplevel.make`: its `R` is erased here, and checked where `Toplevel.make` returns the toplevel. */
export const make = (name: string, system: unknown, options: unknown): ToplevelImpl => new ToplevelImpl(name, system, options)

/** A toplevel: what `Toplevel.Toplevel` describes. */
class ToplevelImpl {
  readonly shutdownToken = ShutdownToken.make()
  /** Done once the root's children first run, for `layer` to wait on. */
  readonly running = Deferred.makeUnsafe<void>()
  private started = false
  private root: Supervisor | undefined
  private state: TreeSnapshot.ChildState = "stopped"
  private startedAt: number | null = null
  private lastExit: TreeSnapshot.LastExit | null = null
  private readonly telemetry: Telemetry
  private readonly gates: GateRegistry
  readonly events: Stream.Stream<LifecycleEvent.LifecycleEvent>
  readonly holdEvents: Effect.Effect<void, never, Scope.Scope>
  readonly snapshot: Effect.Effect<TreeSnapshot.TreeSnapshot>
  readonly changes: Stream.Stream<TreeSnapshot.TreeSnapshot>

  readonly name: string
  private readonly system: System.System<unknown>
  /** Options are decoded at once (the event buffer is needed before `start`); `start` fails if they are bad. */
  private readonly config: Exit.Exit<ToplevelConfig, InvalidOptions>

  constructor(name: string, system: unknown, options: unknown) {
    this.name = name
    this.system = system as System.System<unknown>
    this.config = Effect.runSyncExit(
      validateName(name, name).pipe(
        Effect.andThen(isSystem(system) ? decodeToplevel(name, options) : Effect.fail(notASystem(name, system)))
      )
    )
    this.telemetry = new Telemetry(Exit.isSuccess(this.config) ? this.config.value.eventBuffer : 1)
    const gates = this.gates = new GateRegistry(this.telemetry)
    this.events = this.telemetry.events
    this.holdEvents = this.telemetry.holdEvents
    this.snapshot = Effect.map(Clock.currentTimeMillis, (at) => {
      const root = this.rootNode()
      return gates.gates.size === 0 ? { at, root } : { at, root, gates: gates.snapshot() }
    })
    this.changes = Stream.concat(Stream.fromEffect(this.snapshot), Stream.mapEffect(this.events, () => this.snapshot))
  }

  start(): Effect.Effect<void, ToplevelError> {
    return Effect.suspend((): Effect.Effect<void, ToplevelError> => {
      if (this.started) return Effect.fail(new AlreadyStarted({ path: this.name }))
      this.started = true
      return Effect.scoped(Effect.gen({ self: this }, function*() {
        const config = yield* this.config
        const { telemetry } = this
        if (this.shutdownToken.isSignalled) {
          telemetry.end()
          return yield* logAt("Info", this.name, "shutdown requested before the tree started; not starting it")
        }
        const lifecycle = new LifecycleHandle(this.name, this.name)
        let before = telemetry.stops
        yield* Effect.forkChild(this.shutdownToken.signalled.pipe(
          Effect.andThen(Effect.suspend(() => {
            before = telemetry.stops
            if (this.state !== "stopped") this.state = "settling"
            return telemetry.emit({ _tag: "ShutdownRequested", path: this.name, reason: "signal" }, "Info", "shutdown requested")
          })),
          Effect.andThen(Effect.sync(() => lifecycle.requestSettle()))
        ))
        this.state = "starting"
        const startedAt = this.startedAt = yield* Clock.currentTimeMillis
        yield* telemetry.emit({ _tag: "ChildStarting", path: this.name, kind: "system", restarts: 0 }, "Debug", "starting")
        const supervisor = yield* Effect.provideService(Supervisor.make(this.system, config.system, telemetry), Lifecycle, lifecycle)
        this.root = supervisor
        // The root's first start is one span; its children's startups nest under it.
        const running = yield* Effect.gen({ self: this }, function*() {
          // Health gates made anywhere in the tree find its registry in their context.
          const run = supervisor.run.pipe(Effect.provideService(Lifecycle, lifecycle), Effect.provideService(CurrentGates, this.gates))
          const fiber = yield* Effect.forkChild(run, { startImmediately: true })
          yield* Effect.raceFirst(Deferred.await(supervisor.stable), Effect.asVoid(Fiber.await(fiber)))
          if (Deferred.isDoneUnsafe(supervisor.stable)) {
            if (this.state === "starting") this.state = "running"
            Deferred.doneUnsafe(this.running, Exit.void)
            const startupMillis = (yield* Clock.currentTimeMillis) - startedAt
            yield* telemetry.emit({ _tag: "ChildStarted", path: this.name, kind: "system", startupMillis }, "Debug", "started")
          }
          return fiber
        }).pipe((starting) => traced(starting, "arbor.toplevel.start", { attributes: { "arbor.path": this.name } }))
        // Interrupting start() interrupts the supervisor (all children at once) before the scope closes under it.
        const exit = yield* Effect.onInterrupt(Fiber.await(running), () => Fiber.interrupt(running))
        this.state = "stopped"
        if (Exit.isFailure(exit)) {
          this.lastExit = { kind: kindOf(exit), message: summary(exit.cause), at: yield* Clock.currentTimeMillis }
        }
        const after = telemetry.stops
        // The last line of a tree that failed says why in one line: its cause was logged where it arose.
        yield* telemetry.emit(
          { _tag: "ShutdownCompleted", path: this.name, stopped: after.stopped - before.stopped, forced: after.forced - before.forced },
          Exit.isSuccess(exit) ? "Info" : Cause.hasInterruptsOnly(exit.cause) ? "Warn" : "Error",
          Exit.isSuccess(exit) ? "shutdown complete" : `stopped after a failure: ${summary(exit.cause)}`
        )
        if (Exit.isFailure(exit)) markReported(exit.cause)
        telemetry.end()
        return yield* exit
      }))
    })
  }

  eventsAfter(after?: number): Stream.Stream<LifecycleEvent.Numbered | LifecycleEvent.Gap> {
    return this.telemetry.eventsAfter(after)
  }

  /** `Toplevel.Stall`: the stall as its event tells it. */
  reportStall(stall: Omit<LifecycleEvent.StallDetected, "_tag" | "path" | "at">): Effect.Effect<void> {
    const { stalledForMillis, where, stack } = stall
    const event = { _tag: "StallDetected", path: this.name, stalledForMillis, where, ...(stack === undefined ? {} : { stack }) } as const
    return this.telemetry.emit(event, "Debug", `event loop stalled for ${stall.stalledForMillis} ms at ${stall.where}`)
  }

  /** `Toplevel.ControlRequest`: the request as its event tells it. */
  reportControl(request: Omit<LifecycleEvent.ControlRequested, "_tag" | "at">): Effect.Effect<void> {
    const { action, path, by } = request
    return this.telemetry.emit({ _tag: "ControlRequested", path, action, by }, "Info", `${action} requested by ${by}`)
  }

  inspect(path: string, page?: { readonly offset?: number; readonly limit?: number }): Effect.Effect<TreeSnapshot.Detail, NotFound | InvalidOptions> {
    return Effect.gen({ self: this }, function*() {
      const { offset = 0, limit = this.poolLimit } = yield* decode(Page, path, page)
      const at = yield* Clock.currentTimeMillis
      if (path === this.name) {
        const root = this.root
        const inner = root !== undefined && root.alive ? root.describe(at) : {}
        return { at, node: this.rootNode({ offset, limit }), offset, settings: rootSettings, ...inner }
      }
      const slash = path.lastIndexOf("/")
      const notFound = new NotFound({ path })
      const parent = yield* Effect.mapError(this.supervising(slash < 0 ? path : path.slice(0, slash)), () => notFound)
      const child = parent.find(path.slice(slash + 1))
      if (child === undefined) return yield* Effect.fail(notFound)
      const inner = child.state !== "stopped" && child.inner !== undefined ? child.inner.describe(at) : {}
      return {
        at,
        node: nodeOf(child, this.poolLimit, { offset, limit }),
        offset,
        settings: settingsOf(child.spec.config),
        ...inner,
        supervisor: parent.describe(at).intensity
      }
    })
  }

  private get poolLimit(): number {
    return Exit.isSuccess(this.config) ? this.config.value.snapshotPoolLimit : 0
  }

  private rootNode(page?: ChildPage): TreeSnapshot.Node {
    const root = this.root
    const node: TreeSnapshot.Node = {
      path: this.name,
      name: this.name,
      kind: "system",
      restart: "permanent",
      state: this.state === "running" && root?.restarting === true ? "restarting" : this.state,
      startedAt: this.startedAt,
      restarts: 0,
      lastExit: this.lastExit
    }
    return root === undefined || !root.alive ? node : { ...node, ...innerOf(root, this.poolLimit, page) }
  }

  whichChildren(path: string) {
    return Effect.map(this.supervising(path), (node) => node.list().map(infoOf))
  }

  countChildren(path: string) {
    return Effect.map(this.supervising(path), (node) => {
      const counts = { specs: 0, active: 0, workers: 0, systems: 0, pools: 0, restarting: 0 }
      for (const child of node.list()) {
        const { state, kind } = infoOf(child)
        counts.specs++
        if (state === "running" || state === "starting") counts.active++
        if (state === "restarting") counts.restarting++
        if (kind === "worker") counts.workers++
        else if (kind === "system") counts.systems++
        else counts.pools++
      }
      return counts
    })
  }

  terminateChild(path: string): Effect.Effect<void, NotFound> {
    return this.parentOf(path, (node, name) => node.terminateChild(name))
  }

  restartChild(path: string): Effect.Effect<void, NotFound | Running | SystemError> {
    return this.parentOf(path, (node, name) => node.restartChild(name))
  }

  exitChild(path: string, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, NotFound> {
    return this.parentOf(path, (node, name) => {
      const child = node.find(name)
      if (child === undefined) return Effect.fail(new NotFound({ path }))
      return Effect.flatMap(injectExit(child, exit), (injected) => injected ? Effect.void : Effect.fail(new NotFound({ path })))
    })
  }

  /** The running system or pool at `path`. */
  private supervising(path: string): Effect.Effect<Supervising, NotFound> {
    return Effect.suspend(() => {
      const [first, ...rest] = path.split("/")
      let node: Supervising | undefined = first === this.name ? this.root : undefined
      for (const name of rest) {
        if (node === undefined) break
        const child = node.find(name)
        node = child !== undefined && child.state !== "stopped" ? child.inner : undefined
      }
      return node !== undefined && node.alive ? Effect.succeed(node) : Effect.fail(new NotFound({ path }))
    })
  }

  private parentOf<E>(path: string, f: (node: Supervising, name: string) => Effect.Effect<void, E>): Effect.Effect<void, E | NotFound> {
    const at = path.lastIndexOf("/")
    if (at < 0) return Effect.fail(new NotFound({ path }))
    return Effect.flatMap(this.supervising(path.slice(0, at)), (node) => f(node, path.slice(at + 1)))
  }

  run(): Promise<void> {
    return Effect.runPromiseExit(this.start()).then((exit) => {
      if (Exit.isFailure(exit)) throw Cause.squash(exit.cause)
    })
  }
}

const NonNegativeInt = Schema.Int.check(Schema.isGreaterThanOrEqualTo(0))
const Page = Schema.Struct({ offset: Schema.optionalKey(NonNegativeInt), limit: Schema.optionalKey(NonNegativeInt) })

/** The root is the toplevel's system: bounded by its children's budgets, like any subsystem. */
const rootSettings: TreeSnapshot.Settings = { shutdown: "infinity", significant: false }

/**
 * Marks the tree's error as reported, the way Effect's `runMain` expects: its
 * cause was logged where it arose and its message in the tree's last line, so
 * a runner's own report would only repeat them (and print the nested `Cause`
 * as `Cause([Fail(...)])`). A defect is left to be reported with its stack.
 */
const markReported = (cause: Cause.Cause<unknown>): void => {
  const error = Cause.findErrorOption(cause)
  if (Option.isSome(error) && Predicate.isObject(error.value)) Object.assign(error.value, { [Runtime.errorReported]: false })
}

/** A child as `whichChildren` lists it (`Toplevel.ChildInfo`). */
const infoOf = (child: ChildRecord) => ({
  name: child.spec.name,
  path: child.path,
  kind: child.spec.kind,
  restart: child.spec.config.restart,
  state: child.shownState,
  restarts: child.restarts
})
