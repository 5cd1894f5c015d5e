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
 * In a program built from layers, {@link layer} makes the tree one of them:
 * started when the layer is built, settled when its scope closes.
 *
 * While the tree runs, the toplevel administers it by path, as OTP's
 * `supervisor` module does: `whichChildren`, `countChildren`,
 * `terminateChild` and `restartChild`.
 *
 * @since 0.1.0
 */
import type * as Effect from "effect/Effect"
import type * as Exit from "effect/Exit"
import type * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import type * as Stream from "effect/Stream"
import type { InvalidOptions, NotFound, Running, SystemError, ToplevelError } from "./Errors.ts"
import * as internal from "./internal/toplevel.ts"
import type * as LifecycleEvent from "./LifecycleEvent.ts"
import type { SpawnContext } from "./MainLoop.ts"
import type { RestartPolicy } from "./RestartPolicy.ts"
import type * as ShutdownToken from "./ShutdownToken.ts"
import type * as System from "./System.ts"
import type * as TreeSnapshot from "./TreeSnapshot.ts"

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
  /**
   * The children of the system or pool at `path` (e.g. `"app/payments"`),
   * in declaration (start) order. A temporary child that finished is no
   * longer listed. A system restarting its children lists every one of them
   * throughout, those its replay has not started yet as `stopped`.
   */
  whichChildren(path: string): Effect.Effect<ReadonlyArray<ChildInfo>, NotFound>
  /** How many children the system or pool at `path` has, by kind and state. */
  countChildren(path: string): Effect.Effect<ChildCounts, NotFound>
  /**
   * Stops the child at `path` (settle, then interrupt after its budget). It
   * is not restarted, whatever its policy, until `restartChild` (or a
   * restart of its system that replays its declaration); a temporary child
   * is forgotten. Terminating a significant child does not trigger
   * `autoShutdown`.
   */
  terminateChild(path: string): Effect.Effect<void, NotFound>
  /**
   * Starts the stopped child at `path` again and resumes once it runs (its
   * new value is not handed to its siblings). Fails with `Running` if it
   * runs, starts or waits to restart, and with its startup error if it
   * fails to start (it then stays stopped).
   */
  restartChild(path: string): Effect.Effect<void, NotFound | Running | SystemError>
  /**
   * Ends the running child at `path` as if its main loop had exited with
   * `exit` (`Exit.fail(error)`, `Exit.die(defect)`, `Exit.void`, ...): its
   * main loop is interrupted, and its supervisor handles `exit` as the
   * child's own. For tests and chaos drills. Fails with `NotFound` unless
   * the child's main loop runs (one that has just ended, its exit not yet
   * handled by its supervisor, no longer does).
   */
  exitChild(path: string, exit: Exit.Exit<unknown, unknown>): Effect.Effect<void, NotFound>
  /**
   * The whole tree now, as JSON-serialisable data: every node's path, kind,
   * policy, state, start time, restart count and last exit. The root is the
   * toplevel's system: `starting` until its children run, `settling` once a
   * shutdown was requested, `stopped` before `start()` and after the end.
   */
  readonly snapshot: Effect.Effect<TreeSnapshot.TreeSnapshot>
  /**
   * The node at `path` in depth (see `TreeSnapshot.Detail`): its snapshot,
   * with the page of its children from `offset` (default 0), at most `limit`
   * of them (default `snapshotPoolLimit`): a pool's children beyond the
   * snapshot's limit are read a page at a time. Also its settings and how
   * close its system is to giving up. Fails with `NotFound` for a path that
   * names no child of the running tree, `InvalidOptions` for a negative or
   * fractional `offset` or `limit`.
   */
  inspect(path: string, page?: { readonly offset?: number; readonly limit?: number }): Effect.Effect<TreeSnapshot.Detail, NotFound | InvalidOptions>
  /**
   * The snapshot, then the snapshot again after every lifecycle event, until
   * the tree has stopped. A slow reader skips to more recent snapshots.
   */
  readonly changes: Stream.Stream<TreeSnapshot.TreeSnapshot>
  /**
   * The lifecycle events from the moment of subscribing until the tree has
   * stopped. Each subscriber has its own buffer (`eventBuffer`, default 1024)
   * which drops its oldest events when the subscriber falls behind: a slow
   * subscriber never slows supervision down.
   */
  readonly events: Stream.Stream<LifecycleEvent.LifecycleEvent>
  /**
   * The lifecycle events numbered in this toplevel's sequence (1, 2, 3, ...),
   * for a reader that resumes where it left off (an SSE client sending
   * `Last-Event-ID`). With `after`, the events after number `after` that the
   * toplevel holds (see `holdEvents`) come first, then the live ones; without
   * it, the live ones from the moment of subscribing. A `Gap` stands where
   * events were lost to the reader: not held, or dropped because it fell more
   * than `eventBuffer` behind. An `after` beyond the last number given (kept
   * from an earlier process, say) belongs to another sequence: everything
   * held is sent, after a `Gap` for what is not. The stream ends once the tree
   * has stopped.
   */
  eventsAfter(after?: number): Stream.Stream<LifecycleEvent.Numbered | LifecycleEvent.Gap>
  /**
   * Holds the last `eventBuffer` events, for `eventsAfter` to replay, from
   * now until the scope closes (events stay held while any scope holds
   * them). Not done by default: holding costs every event a clock read, which
   * made a restart and a short pool task 10 to 25% slower in a measurement.
   * `NodeObserver.layer` holds them from the moment it is built, for
   * `/events` clients that reconnect.
   */
  readonly holdEvents: Effect.Effect<void, never, Scope.Scope>
  /**
   * Publishes a `StallDetected` event: for an event-loop watchdog (such as
   * `Watchdog.layer({ toplevel })` in `@arbor/node`) to put the stalls it
   * saw among the tree's events.
   */
  reportStall(stall: Stall): Effect.Effect<void>
  /**
   * Publishes a `ControlRequested` event (logged at `Info`): `by` asked for
   * `action` on `path`. For a control surface (such as the observer's
   * terminate, restart and shutdown buttons) to say who acted, before it acts.
   */
  reportControl(request: ControlRequest): Effect.Effect<void>
}

/**
 * A stall of the process's event loop, as an event-loop watchdog reports it
 * to `reportStall`: how long, the stuck frame (`where`), and the whole stack
 * when it could be read, innermost frame first.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const stall: Toplevel.Stall = { stalledForMillis: 2100, where: "parse (file:///app/main.js:12:5)", stack: ["parse (file:///app/main.js:12:5)"] }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Stall {
  readonly stalledForMillis: number
  readonly where: string
  readonly stack?: ReadonlyArray<string>
}

/**
 * A control action someone asked for, as `reportControl` announces it:
 * `by` (a name, such as an observer token's) asked to `terminate` or
 * `restart` the child at `path`, or to `shutdown` the tree (`path` is then
 * the toplevel's).
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const request: Toplevel.ControlRequest = { action: "terminate", path: "app/payments/gateway", by: "alice" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ControlRequest {
  readonly action: "terminate" | "restart" | "shutdown"
  readonly path: string
  readonly by: string
}

/**
 * Where a child is in its life: `starting` (its startup function runs),
 * `running`, `settling` (asked to stop; interrupted after its budget),
 * `restarting` (waiting for its backoff delay, or a system restarting its
 * children) and `stopped`.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const up = (state: Toplevel.ChildState) => state === "running" || state === "settling"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ChildState = TreeSnapshot.ChildState

/**
 * What kind of child: a worker, a subsystem or a pool.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const kinds: Array<Toplevel.ChildKind> = ["worker", "system", "pool"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type ChildKind = TreeSnapshot.ChildKind

/**
 * One child, as `whichChildren` lists it. A system or pool that is
 * restarting its own children shows as `"restarting"`.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const describe = (info: Toplevel.ChildInfo) => `${info.path} (${info.kind}, ${info.restart}): ${info.state}`
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChildInfo {
  readonly name: string
  readonly path: string
  readonly kind: ChildKind
  readonly restart: RestartPolicy
  readonly state: ChildState
  /** How many times it was started again: by its system's restarts or by `restartChild`. */
  readonly restarts: number
}

/**
 * What `countChildren` answers: `specs` all children listed, `active` those
 * running (or starting), then by kind, and how many wait to restart.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 *
 * const healthy = (counts: Toplevel.ChildCounts) => counts.restarting === 0 && counts.active === counts.specs
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ChildCounts {
  readonly specs: number
  readonly active: number
  readonly workers: number
  readonly systems: number
  readonly pools: number
  readonly restarting: number
}

/**
 * Options of the toplevel: those of its root system, and how it is observed:
 * `snapshotPoolLimit` (children of each pool listed in a snapshot, default
 * 100) and `eventBuffer` (how far each `events` subscriber may fall behind
 * before its oldest events are dropped, default 1024).
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
export interface Options extends System.SystemOptions {
  readonly snapshotPoolLimit?: number
  readonly eventBuffer?: number
}

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
): Toplevel<Exclude<R, SpawnContext>> => internal.make(name, system, options)

/**
 * The tree as a `Layer`, for programs built the Effect way
 * (`Layer.launch(AppLayer).pipe(NodeRuntime.runMain)`).
 *
 * - Building the layer starts the tree and resumes once its children run; a
 *   startup failure fails the build with the tree's error (`StartupFailed`,
 *   ...), its children already stopped.
 * - Closing the layer's scope signals the shutdown token and waits for the
 *   graceful stop: reverse start order, settle, then interrupt after each
 *   child's budget.
 * - The tree ending by itself (`TooManyRestarts` at the top, or a shutdown
 *   requested through the token or by `autoShutdown`) ends the program that
 *   built the layer: that fiber is interrupted, and its scope closes with the
 *   tree's error as a defect when the tree failed. Under
 *   `NodeRuntime.runMain` the process then exits with code 1 after a failure
 *   (130 after a normal end: the program was interrupted).
 * - The services the tree needs (`R`) come from the layers it is provided
 *   with: a missing one is a type error.
 *
 * The program is the fiber that builds this layer: keep the tree's layer at
 * the top of the graph and give it what it needs with `Layer.provide`, so
 * that it is built last, on the program's own fiber, after (and closed
 * before) the observer and the other layers it uses. Beside other layers in a
 * `Layer.merge`, it would be built on a fiber of its own, which ends with the
 * build: the tree ending could then not end the program.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Context, Effect, Layer } from "effect"
 *
 * class Database extends Context.Service<Database, { readonly url: string }>()("app/Database") {}
 *
 * class App extends System.System {
 *   start(scope: System.Scope) {
 *     return Effect.gen(function* () {
 *       const db = yield* Database
 *       yield* scope.child("repository", MainLoop.spawn(Effect.log(`using ${db.url}`).pipe(Effect.andThen(Effect.never))))
 *     })
 *   }
 * }
 *
 * const toplevel = Toplevel.make("app", new App())
 * const AppLayer = Toplevel.layer(toplevel).pipe(
 *   Layer.provide(Layer.succeed(Database, { url: "postgres://localhost/app" }))
 * )
 *
 * // Ctrl-C: the tree settles in reverse start order, then the process exits (130, as for any interrupted program).
 * Layer.launch(AppLayer).pipe(NodeRuntime.runMain)
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = <R>(toplevel: Toplevel<R>): Layer.Layer<never, ToplevelError, R> => internal.layer(toplevel)
