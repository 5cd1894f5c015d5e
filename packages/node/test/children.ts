/**
 * Running a small tree of worker or process children for a test: its events,
 * its log lines, how it ended. Waits are bounded generously.
 */
import type { LifecycleEvent, System } from "@arbor/core"
import { Toplevel } from "@arbor/core"
import type { Toplevel as ToplevelModel } from "@arbor/core"
import { NodeServices } from "@effect/platform-node"
import { Effect, Fiber, Logger, References, Schedule, Stream } from "effect"

/** Resumes once `predicate` holds, checking every 20 ms; dies after 20 seconds. */
export const eventually = (predicate: () => boolean, what: string): Effect.Effect<void> =>
  Effect.suspend(() => predicate() ? Effect.void : Effect.fail("not yet" as const)).pipe(
    Effect.retry(Schedule.spaced("20 millis")),
    Effect.orDie,
    Effect.timeoutOrElse({ duration: "20 seconds", orElse: () => Effect.die(new Error(`never happened: ${what}`)) })
  )

export interface Line {
  readonly text: string
  readonly path: unknown
  readonly stream: unknown
}

/**
 * Runs `system` (with the Node services) until `started` holds (or the tree
 * ended), then `body`, then shuts it down; keeps its events and its log lines.
 */
export const withTree = <A, E>(
  system: System.System<any>,
  started: () => boolean,
  body: (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>) => Effect.Effect<A, E>,
  options?: ToplevelModel.Options
) =>
  Effect.gen(function*() {
    const lines: Array<Line> = []
    const logger = Logger.make((options) => {
      const annotations = options.fiber.getRef(References.CurrentLogAnnotations)
      lines.push({ text: (options.message as ReadonlyArray<unknown>).map(String).join(" "), path: annotations.path, stream: annotations.stream })
    })
    const toplevel = Toplevel.make("app", system, options)
    const events: Array<LifecycleEvent.LifecycleEvent> = []
    const recorder = yield* Effect.forkChild(
      Stream.runForEach(toplevel.events, (event) => Effect.sync(() => events.push(event))),
      { startImmediately: true }
    )
    const running = toplevel.start().pipe(Effect.provide([NodeServices.layer, Logger.layer([logger])])) as Effect.Effect<void, unknown>
    const main = yield* Effect.forkChild(running, { startImmediately: true })
    yield* eventually(() => started() || main.pollUnsafe() !== undefined, "started")
    const result = yield* Effect.exit(body(events))
    toplevel.shutdownToken.signal()
    const exit = yield* Fiber.await(main)
    yield* Fiber.join(recorder)
    return { result: yield* result, events, exit, lines }
  })

/** The events at `path`, as short lines. */
export const tagsAt = (events: ReadonlyArray<LifecycleEvent.LifecycleEvent>, path: string) =>
  events.filter((event) => event.path === path).map((event) =>
    event._tag === "ChildExited" ? `ChildExited ${event.exit} ${event.decision}` : event._tag
  )

