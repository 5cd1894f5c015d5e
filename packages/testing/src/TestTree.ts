/**
 * A supervision tree under test: started in a test's scope, driven with the
 * `TestClock`, observed through its events and snapshots.
 *
 * `TestTree.start(toplevel)` forks `toplevel.start()`, records every
 * lifecycle event from the first one, and stops the tree when the test's
 * scope closes: it signals the shutdown token and moves the `TestClock` on
 * through the settle budgets until `start()` has returned. The tree is then
 * driven by path:
 *
 * - `crash(path, "failure" | "defect" | "normal" | "interrupt")` ends a
 *   running child's main loop as if it had exited that way;
 * - `awaitState(path, state)` lets the fibers run until the child is in that
 *   state, without moving the clock; `advanceUntil(path, state)` moves the
 *   clock on, in small steps, until it is (a backoff delay, a timeout);
 * - `expectShape(shape)` compares the tree with a compact description
 *   (see {@link TreeShape}); `expectEvents(patterns)` compares the recorded
 *   events with expected lines (see {@link EventLine}).
 *
 * Every wait is bounded, by scheduler turns or by virtual time, never by
 * real time: a test that waits for something that does not happen fails
 * at once, with what it waited for and what it saw.
 *
 * Use it under Effect's `TestClock`, which `it.effect` of `@effect/vitest`
 * provides.
 *
 * @since 0.1.0
 */
import type { Errors, LifecycleEvent } from "@arbor/core"
import { Toplevel } from "@arbor/core"
import * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Fiber from "effect/Fiber"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import type { TestClock } from "effect/testing"
import * as EventLine from "./EventLine.ts"
import * as TreeShape from "./TreeShape.ts"

/**
 * Where a child is, or `"absent"` when the tree has no child at that path now
 * (never declared, a temporary child that finished, a child of a system that
 * is not running).
 *
 * @example
 * ```ts
 * import type { TestTree } from "@arbor/testing"
 *
 * const states: Array<TestTree.State> = ["starting", "running", "settling", "restarting", "stopped", "absent"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type State = Toplevel.ChildState | "absent"

/**
 * How `crash` ends a child's main loop: `"failure"` (an expected error),
 * `"defect"` (a thrown exception), `"normal"` (it returned), `"interrupt"`
 * (interrupted by someone other than its supervisor), or any `Exit`.
 *
 * @example
 * ```ts
 * import type { TestTree } from "@arbor/testing"
 * import { Exit } from "effect"
 *
 * const crashes: Array<TestTree.Crash> = ["failure", "defect", "normal", "interrupt", Exit.fail("connection refused")]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Crash = "failure" | "defect" | "normal" | "interrupt" | Exit.Exit<unknown, unknown>

/**
 * Options of `TestTree.start`.
 *
 * - `turns`: how many scheduler turns a wait that does not move the clock
 *   (`awaitState`, `exit`) lets the fibers have; default 1,000. A `flush`
 *   takes 100 of them at most.
 * - `stopWithin`: how far the stop at the end of the test may move the clock
 *   on before the tree counts as hung; default 10 minutes.
 *
 * @example
 * ```ts
 * import type { TestTree } from "@arbor/testing"
 *
 * const options: TestTree.Options = { turns: 5_000, stopWithin: "1 hour" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly turns?: number
  readonly stopWithin?: Duration.Input
}

/**
 * Options of `advanceUntil`: the clock moves on by `step` (default 10
 * milliseconds) at a time, `limit` (default 1 minute) at most.
 *
 * @example
 * ```ts
 * import type { TestTree } from "@arbor/testing"
 *
 * const options: TestTree.AdvanceOptions = { step: "1 second", limit: "1 hour" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface AdvanceOptions {
  readonly step?: Duration.Input
  readonly limit?: Duration.Input
}

/**
 * Options of `expectEvents`: `since` (an index into `events`, e.g. its length
 * taken earlier: only later events are compared; default 0) and `mode`
 * (`"inOrder"`, the default, or `"exactly"`: see `EventLine.Mode`).
 *
 * @example
 * ```ts
 * import type { TestTree } from "@arbor/testing"
 *
 * declare const tree: TestTree.TestTree
 * const options: TestTree.ExpectEventsOptions = { since: tree.events.length, mode: "exactly" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ExpectEventsOptions {
  readonly since?: number
  readonly mode?: EventLine.Mode
}

/**
 * A tree under test. See the module's documentation.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { TestTree } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * const app = System.make((scope) =>
 *   Effect.gen(function* () {
 *     yield* scope.child("db", MainLoop.spawn(Effect.never))
 *     yield* scope.child("api", MainLoop.spawn(Effect.never))
 *   })
 * )
 *
 * // In a test: it.effect("...", () => test), which provides the scope and the TestClock
 * const test = Effect.gen(function* () {
 *   const tree = yield* TestTree.start(Toplevel.make("app", app))
 *   yield* tree.crash("app/api")
 *   yield* tree.awaitState("app/api", "running")
 *   yield* tree.expectShape({ db: "running restarts=1", api: "running restarts=1" })
 *   yield* tree.expectEvents(["ChildExited app/api failure restart", "SystemRestarting app app/api one_for_all"])
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface TestTree {
  /** The toplevel under test, for everything else it offers (`whichChildren`, `terminateChild`, ...). */
  readonly toplevel: Toplevel.Toplevel<unknown>
  /** Every lifecycle event so far, from the root's first `ChildStarting`; it grows as the tree runs. */
  readonly events: ReadonlyArray<LifecycleEvent.LifecycleEvent>
  /** The events about `path` itself (not its children). */
  eventsOf(path: string): ReadonlyArray<LifecycleEvent.LifecycleEvent>
  /** Checks the recorded events against `expected` (see `EventLine`), after letting the fibers run. */
  expectEvents(
    expected: ReadonlyArray<EventLine.Pattern>,
    options?: ExpectEventsOptions
  ): Effect.Effect<void, EventLine.EventsMismatch>
  /** Where the child at `path` (or the root, at the toplevel's name) is now. */
  stateOf(path: string): Effect.Effect<State>
  /** Lets the fibers run, without moving the clock, until the child at `path` is in `state`. */
  awaitState(path: string, state: State): Effect.Effect<void, StateNotReached>
  /**
   * Ends the running child at `path` as `how` says (default `"failure"`),
   * through `Toplevel.exitChild`, then lets the fibers run (`flush`): a
   * restart that needs no delay has then usually happened; `awaitState`
   * makes sure. Fails with `NotFound` unless the child's main loop runs.
   */
  crash(path: string, how?: Crash): Effect.Effect<void, Errors.NotFound>
  /** Compares the tree with `shape` (of the root: its children, or its state). See `TreeShape`. */
  expectShape(shape: TreeShape.Shape): Effect.Effect<void, TreeShape.ShapeMismatch>
  /** Moves the `TestClock` on by `duration`, then lets the fibers run. */
  advance(duration: Duration.Input): Effect.Effect<void>
  /**
   * Moves the `TestClock` on, one `step` at a time, until the child at
   * `path` is in `state`; resumes with how far the clock moved.
   */
  advanceUntil(path: string, state: State, options?: AdvanceOptions): Effect.Effect<Duration.Duration, StateNotReached>
  /** Lets every fiber that can run do so, without moving the clock. */
  readonly flush: Effect.Effect<void>
  /**
   * Lets the fibers run until `start()` has ended on its own (a significant
   * child finished, the root gave up) and resumes with its exit.
   */
  readonly exit: Effect.Effect<Exit.Exit<void, Errors.ToplevelError>, StateNotReached>
  /**
   * Signals the shutdown token and moves the clock on, 100 milliseconds at
   * a time, until `start()` has ended; resumes with its exit. The end of the
   * test's scope does the same if the test has not.
   */
  readonly stop: Effect.Effect<Exit.Exit<void, Errors.ToplevelError>, DidNotStop>
}

/**
 * A wait for a state ended without it: `awaitState` after all its turns (the
 * state may need the clock to move: use `advanceUntil`), `advanceUntil` at
 * its limit. `actual` is the last state seen.
 *
 * @example
 * ```ts
 * import { TestTree } from "@arbor/testing"
 *
 * new TestTree.StateNotReached({ path: "app/db", expected: "running", actual: "restarting", after: "1000 turns" }).message
 * // 'app/db: expected "running", still "restarting" after 1000 turns'
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class StateNotReached extends Schema.TaggedError<StateNotReached>()("StateNotReached", {
  path: Schema.String,
  expected: Schema.String,
  actual: Schema.String,
  after: Schema.String
}) {
  override get message(): string {
    return `${this.path}: expected "${this.expected}", still "${this.actual}" after ${this.after}`
  }
}

/**
 * The tree did not stop within `within` of virtual time after its shutdown
 * token was signalled (a child with an `"infinity"` budget that never
 * settles, say). `stop` interrupted it.
 *
 * @example
 * ```ts
 * import { TestTree } from "@arbor/testing"
 *
 * new TestTree.DidNotStop({ path: "app", within: "10m" }).message // "app: did not stop within 10m of its shutdown"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class DidNotStop extends Schema.TaggedError<DidNotStop>()("DidNotStop", {
  path: Schema.String,
  within: Schema.String
}) {
  override get message(): string {
    return `${this.path}: did not stop within ${this.within} of its shutdown`
  }
}

/**
 * Starts `toplevel` for a test, in the test's scope, and resumes once the
 * tree runs — or has ended, or after the turns of a wait (a startup that
 * waits on the clock then needs `advanceUntil`).
 *
 * When the scope closes, a tree still running is stopped (see `stop`): a
 * tree that does not stop within `stopWithin` fails the test with
 * `DidNotStop`. A `start()` that failed (an escalation to the top) fails the
 * test too, unless the test read that exit through `exit` or `stop`.
 *
 * @example
 * ```ts
 * import { MainLoop, System, Toplevel } from "@arbor/core"
 * import { TestTree } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * const app = System.make((scope) => scope.child("worker", MainLoop.spawn(Effect.never)).pipe(Effect.asVoid))
 *
 * const test = Effect.scoped(Effect.gen(function* () {
 *   const tree = yield* TestTree.start(Toplevel.make("app", app))
 *   yield* tree.expectShape({ worker: "running" })
 * }))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const start = <R>(
  toplevel: Toplevel.Toplevel<R>,
  options?: Options
): Effect.Effect<TestTree, never, R | Scope.Scope> =>
  Effect.gen(function*() {
    const turns = options?.turns ?? 1_000
    const stopWithin = Duration.fromInputUnsafe(options?.stopWithin ?? "10 minutes")
    const events: Array<LifecycleEvent.LifecycleEvent> = []
    // Subscribed before the tree starts, so that the first event is recorded.
    const recorder = yield* Effect.forkScoped(
      Stream.runForEach(toplevel.events, (event) => Effect.sync(() => events.push(event))),
      { startImmediately: true }
    )
    yield* yieldTurns(10)
    const run = yield* Effect.forkScoped(toplevel.start(), { startImmediately: true })
    const tree = new TestTreeImpl(toplevel, run, recorder, events, turns, stopWithin)
    // Added after the forks, so it runs before the scope interrupts them.
    yield* Effect.addFinalizer(() => tree.finish)
    yield* tree.until(() => run.pollUnsafe() !== undefined, Effect.map(tree.stateOf(toplevel.name), (s) => s === "running"))
    yield* tree.flush
    return tree
  })

const yieldTurns = (turns: number): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let turn = 0; turn < turns; turn++) yield* Effect.yieldNow
  })

const crashExit = (path: string, how: Crash): Exit.Exit<unknown, unknown> => {
  switch (how) {
    case "failure":
      return Exit.fail(new Error(`${path}: failure injected by the test`))
    case "defect":
      return Exit.die(new Error(`${path}: defect injected by the test`))
    case "normal":
      return Exit.void
    case "interrupt":
      return Exit.interrupt()
    default:
      return how
  }
}

/** TestClock.adjust, failing clearly when the clock is not a TestClock. */
const adjustClock = (duration: Duration.Input): Effect.Effect<void> =>
  Effect.flatMap(Effect.clockWith(Effect.succeed), (clock) => {
    const adjust = (clock as Partial<TestClock.TestClock>).adjust
    return adjust === undefined
      ? Effect.die(new Error("TestTree moves the clock with TestClock.adjust: run the test under the TestClock (it.effect)"))
      : adjust(duration)
  })

type Ended = Exit.Exit<void, Errors.ToplevelError>

class TestTreeImpl implements TestTree {
  readonly toplevel: Toplevel.Toplevel<unknown>
  readonly events: ReadonlyArray<LifecycleEvent.LifecycleEvent>
  private readonly run: Fiber.Fiber<void, Errors.ToplevelError>
  /** Reads the events into `events`; it ends once the tree has stopped and every event was read. */
  private readonly recorder: Fiber.Fiber<void>
  private readonly turns: number
  private readonly stopWithin: Duration.Duration
  /** Whether the test has been handed the exit of `start()`. */
  private observed = false

  constructor(
    toplevel: Toplevel.Toplevel<unknown>,
    run: Fiber.Fiber<void, Errors.ToplevelError>,
    recorder: Fiber.Fiber<void>,
    events: ReadonlyArray<LifecycleEvent.LifecycleEvent>,
    turns: number,
    stopWithin: Duration.Duration
  ) {
    this.toplevel = toplevel
    this.run = run
    this.recorder = recorder
    this.events = events
    this.turns = turns
    this.stopWithin = stopWithin
  }

  /**
   * Yields until `done` holds or `check` succeeds with true, for at most the
   * tree's turns; resumes with whether it did.
   */
  until(done: () => boolean, check: Effect.Effect<boolean> = Effect.succeed(false), turns = this.turns): Effect.Effect<boolean> {
    return Effect.gen(function*() {
      for (let turn = 0; turn <= turns; turn++) {
        if (done() || (yield* check)) return true
        if (turn < turns) yield* Effect.yieldNow
      }
      return false
    })
  }

  get flush(): Effect.Effect<void> {
    return yieldTurns(Math.min(this.turns, 100))
  }

  eventsOf(path: string): ReadonlyArray<LifecycleEvent.LifecycleEvent> {
    return this.events.filter((event) => event.path === path)
  }

  expectEvents(expected: ReadonlyArray<EventLine.Pattern>, options?: ExpectEventsOptions): Effect.Effect<void, EventLine.EventsMismatch> {
    return Effect.andThen(
      this.flush,
      Effect.suspend(() => EventLine.expect(this.events.slice(options?.since ?? 0), expected, options?.mode))
    )
  }

  stateOf(path: string): Effect.Effect<State> {
    const { toplevel } = this
    if (path === toplevel.name) return Effect.map(toplevel.snapshot, (snapshot) => snapshot.root.state)
    const at = path.lastIndexOf("/")
    if (at < 0) return Effect.succeed("absent")
    const name = path.slice(at + 1)
    return toplevel.whichChildren(path.slice(0, at)).pipe(
      Effect.map((children): State => children.find((child) => child.name === name)?.state ?? "absent"),
      Effect.catchTag("NotFound", () => Effect.succeed<State>("absent"))
    )
  }

  awaitState(path: string, state: State): Effect.Effect<void, StateNotReached> {
    return Effect.gen({ self: this }, function*() {
      if (yield* this.until(() => false, Effect.map(this.stateOf(path), (s) => s === state))) return yield* this.flush
      const actual = yield* this.stateOf(path)
      return yield* new StateNotReached({
        path,
        expected: state,
        actual,
        after: `${this.turns} scheduler turns without the clock moving (use advanceUntil to wait on time)`
      })
    })
  }

  crash(path: string, how: Crash = "failure"): Effect.Effect<void, Errors.NotFound> {
    return Effect.andThen(this.toplevel.exitChild(path, crashExit(path, how)), this.flush)
  }

  expectShape(shape: TreeShape.Shape): Effect.Effect<void, TreeShape.ShapeMismatch> {
    return Effect.andThen(this.flush, Effect.flatMap(this.toplevel.snapshot, (snapshot) => TreeShape.expect(snapshot.root, shape)))
  }

  advance(duration: Duration.Input): Effect.Effect<void> {
    return Effect.andThen(adjustClock(duration), this.flush)
  }

  advanceUntil(path: string, state: State, options?: AdvanceOptions): Effect.Effect<Duration.Duration, StateNotReached> {
    return Effect.gen({ self: this }, function*() {
      const step = Duration.toMillis(Duration.fromInputUnsafe(options?.step ?? "10 millis"))
      const limit = Duration.toMillis(Duration.fromInputUnsafe(options?.limit ?? "1 minute"))
      const reached = Effect.map(this.stateOf(path), (s) => s === state)
      yield* this.flush
      let moved = 0
      while (!(yield* reached)) {
        if (moved >= limit) {
          const actual = yield* this.stateOf(path)
          return yield* new StateNotReached({ path, expected: state, actual, after: `moving the clock on by ${Duration.format(Duration.millis(moved))}` })
        }
        yield* this.advance(step)
        moved += step
      }
      return Duration.millis(moved)
    })
  }

  get exit(): Effect.Effect<Ended, StateNotReached> {
    return Effect.gen({ self: this }, function*() {
      const { run } = this
      if (yield* this.until(() => run.pollUnsafe() !== undefined)) return yield* this.ended
      const actual = yield* this.stateOf(this.toplevel.name)
      return yield* new StateNotReached({
        path: this.toplevel.name,
        expected: "stopped",
        actual,
        after: `${this.turns} scheduler turns without the clock moving (start() has not returned)`
      })
    })
  }

  get stop(): Effect.Effect<Ended, DidNotStop> {
    return Effect.gen({ self: this }, function*() {
      const { run } = this
      this.toplevel.shutdownToken.signal()
      const limit = Duration.toMillis(this.stopWithin)
      const start = yield* Clock.currentTimeMillis
      // Between two moves of the clock, a flush's worth of turns: a hung tree gives up in reasonable real time.
      while (!(yield* this.until(() => run.pollUnsafe() !== undefined, undefined, Math.min(this.turns, 100)))) {
        if ((yield* Clock.currentTimeMillis) - start >= limit) {
          yield* Fiber.interrupt(run)
          this.observed = true
          return yield* new DidNotStop({ path: this.toplevel.name, within: Duration.format(this.stopWithin) })
        }
        yield* adjustClock("100 millis")
      }
      return yield* this.ended
    })
  }

  /** The exit of `start()`, once the recorder has read the last events; the test has now seen it. */
  private get ended(): Effect.Effect<Ended> {
    return Effect.gen({ self: this }, function*() {
      const { recorder } = this
      yield* this.until(() => recorder.pollUnsafe() !== undefined)
      this.observed = true
      return this.run.pollUnsafe()!
    })
  }

  /** At the end of the test's scope: stop the tree if it runs; a failure nobody read fails the test. */
  get finish(): Effect.Effect<void> {
    return Effect.gen({ self: this }, function*() {
      const done = this.run.pollUnsafe()
      if (done === undefined) {
        const exit = yield* Effect.orDie(this.stop)
        if (Exit.isFailure(exit)) return yield* Effect.die(Cause.squash(exit.cause))
        return
      }
      const { recorder } = this
      yield* this.until(() => recorder.pollUnsafe() !== undefined)
      if (!this.observed && Exit.isFailure(done)) return yield* Effect.die(Cause.squash(done.cause))
    })
  }
}
