/**
 * Test doubles for supervision trees: a `Probe` makes workers whose every
 * start, settle and exit is written to a journal, and whose main loops the
 * test can end with any exit, on command.
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { ChildExit } from "@arbor/core"
import { Cause, Deferred, Effect, Exit, Fiber, Logger, References } from "effect"

export interface WorkerOptions<A> {
  /** Whether the main loop returns when asked to settle (default true); it records "settle" either way. */
  readonly settles?: boolean
  /** The value handed back to the system. */
  readonly value?: A
  /** Extra setup work in the startup function, before the main loop. */
  readonly setup?: Effect.Effect<void, unknown, Lifecycle.Lifecycle>
}

export class Probe {
  readonly journal: Array<string> = []
  private readonly triggers = new Map<string, Deferred.Deferred<void, unknown>>()
  private readonly mains = new Map<string, Fiber.Fiber<unknown, unknown>>()
  private readonly starts = new Map<string, number>()

  record(entry: string): Effect.Effect<void> {
    return Effect.sync(() => {
      this.journal.push(entry)
    })
  }

  /** A startup function for a worker called `name` (the name in the journal, not necessarily its child name). */
  worker<A = void>(name: string, options: WorkerOptions<A> = {}): Effect.Effect<MainLoop.MainLoop<A>, unknown, MainLoop.SpawnContext> {
    const self = this
    return Effect.gen(function*() {
      yield* self.record(`start ${name}`)
      self.starts.set(name, (self.starts.get(name) ?? 0) + 1)
      if (options.setup) yield* options.setup
      const trigger = Deferred.makeUnsafe<void, unknown>()
      self.triggers.set(name, trigger)
      const asked = Effect.andThen(Lifecycle.settling, self.record(`settle ${name}`))
      const settled = options.settles === false ? Effect.andThen(asked, Effect.never) : asked
      const main = Effect.raceFirst(Deferred.await(trigger), settled).pipe(
        Effect.onExit((exit) => self.record(`exit ${name} ${ChildExit.kindOf(exit)}`))
      )
      const loop = yield* MainLoop.spawn(main, options.value as A)
      self.mains.set(name, loop.fiber)
      return loop
    })
  }

  /** Ends the current main loop of `name` with `exit` (`Exit.void`, `Exit.fail(...)`, `Exit.die(...)`). */
  end(name: string, exit: Exit.Exit<void, unknown>): Effect.Effect<void> {
    return Effect.suspend(() => {
      const trigger = this.triggers.get(name)
      if (trigger === undefined) return Effect.die(new Error(`no worker ${name} started`))
      return Deferred.done(trigger, exit).pipe(Effect.asVoid)
    })
  }

  crash(name: string): Effect.Effect<void> {
    return this.end(name, Exit.fail(new Error(`${name} crashed`)))
  }

  /** Interrupts the main loop of `name` from outside its supervisor. */
  interrupt(name: string): Effect.Effect<void> {
    return Effect.suspend(() => {
      const fiber = this.mains.get(name)
      return fiber === undefined ? Effect.die(new Error(`no worker ${name} started`)) : Fiber.interrupt(fiber)
    })
  }

  /** The fiber of the current main loop of `name`. */
  mainOf(name: string): Fiber.Fiber<unknown, unknown> | undefined {
    return this.mains.get(name)
  }

  startsOf(name: string): number {
    return this.starts.get(name) ?? 0
  }

  /** Journal entries matching a prefix such as `"start"` or `"exit"`. */
  entries(prefix: string): Array<string> {
    return this.journal.filter((entry) => entry.startsWith(`${prefix} `))
  }

  clear(): void {
    this.journal.length = 0
  }
}

/**
 * Yields until `predicate` holds. Bounded by a number of scheduler turns, not
 * by time, so it is deterministic under `TestClock`.
 */
export const eventually = (predicate: () => boolean, what: string): Effect.Effect<void> =>
  Effect.gen(function*() {
    for (let turn = 0; turn < 2_000; turn++) {
      if (predicate()) return
      yield* Effect.yieldNow
    }
    return yield* Effect.die(new Error(`never happened: ${what}`))
  })

/** Lets every fiber that can run do so, without moving the clock. */
export const quiesce: Effect.Effect<void> = Effect.gen(function*() {
  for (let turn = 0; turn < 50; turn++) yield* Effect.yieldNow
})

/** Signals the shutdown token and checks that `start()` then succeeds. */
export const shutdown = (toplevel: Toplevel.Toplevel<never>, run: Fiber.Fiber<void, unknown>): Effect.Effect<void> =>
  Effect.gen(function*() {
    toplevel.shutdownToken.signal()
    const exit = yield* Fiber.await(run)
    if (!Exit.isSuccess(exit)) return yield* Effect.die(new Error(`expected a graceful shutdown, got ${String(exit)}`))
  })

/** Forks `toplevel.start()` and returns the fiber, to be awaited after driving the tree. */
export const launch = (toplevel: Toplevel.Toplevel<never>) =>
  Effect.forkChild(toplevel.start(), { startImmediately: true })

/**
 * A system declaring a worker for each label, in order, all with the same
 * options. A label's last segment is the child's name (`"db/pool"` declares
 * `pool`); the whole label names it in the journal.
 */
export const flat = (
  probe: Probe,
  labels: ReadonlyArray<string>,
  options?: System.ChildOptions
): System.System<never> =>
  System.make((scope) =>
    Effect.forEach(labels, (label) => scope.child(label.split("/").pop()!, probe.worker(label), options), { discard: true })
  )

/** A log line as a test sees it: level, text, the `path` annotation and the pretty cause. */
export interface Line {
  readonly level: string
  readonly text: string
  readonly path: unknown
  readonly cause: string
}

/** Runs `body` with a logger that keeps every line, and hands the lines to it. */
export const withCapturedLogs = <A, E>(body: (lines: Array<Line>) => Effect.Effect<A, E>) => {
  const lines: Array<Line> = []
  const logger = Logger.make((options) => {
    lines.push({
      level: options.logLevel,
      text: (options.message as ReadonlyArray<unknown>).map(String).join(" "),
      path: options.fiber.getRef(References.CurrentLogAnnotations)["path"],
      cause: options.cause.reasons.length > 0 ? Cause.pretty(options.cause) : ""
    })
  })
  return body(lines).pipe(Effect.provide(Logger.layer([logger])))
}
