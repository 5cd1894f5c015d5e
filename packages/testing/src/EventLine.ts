/**
 * Lifecycle events as one-line strings, and patterns that match them: the
 * way a test states which events it expects, in order.
 *
 * `format` writes an event as its tag, its path and what matters about it,
 * without its time (`"ChildExited app/db failure restart"`). A pattern is
 * either such a line, or its beginning cut at a word (`"ChildExited app/db"`
 * matches any exit of `app/db`), or an object whose fields the event must
 * have (`{ _tag: "ChildExited", path: "app/db", exit: "defect" }`).
 *
 * @since 0.1.0
 */
import type { LifecycleEvent } from "@arbor/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { diff } from "./internal/diff.ts"

type Event = LifecycleEvent.LifecycleEvent

/**
 * An event as one line, without its time:
 *
 * | event               | line                                                        |
 * |---------------------|-------------------------------------------------------------|
 * | `ChildStarting`     | `ChildStarting app/db restarts=0`                           |
 * | `ChildStarted`      | `ChildStarted app/db`                                       |
 * | `ChildStartFailed`  | `ChildStartFailed app/db <message>`                         |
 * | `ChildExited`       | `ChildExited app/db failure restart`                        |
 * | `ChildSettling`     | `ChildSettling app/db 5s`                                   |
 * | `ChildInterrupted`  | `ChildInterrupted app/db 5s`                                |
 * | `SystemRestarting`  | `SystemRestarting app app/db one_for_one 1/3 0ms`           |
 * | `Escalated`         | `Escalated app/api TooManyRestarts`                         |
 * | `ShutdownRequested` | `ShutdownRequested app signal`                              |
 * | `ShutdownCompleted` | `ShutdownCompleted app stopped=2 forced=0`                  |
 * | `GateLatched`       | `GateLatched app store fatal: Error: disk full`             |
 * | `GateUnlatched`     | `GateUnlatched app store quiet`                             |
 * | `OwnershipAcquired` | `OwnershipAcquired app 127.0.0.1:7001 token=3`              |
 * | `OwnershipReleased` | `OwnershipReleased app 127.0.0.1:7001 token=3`              |
 * | `SingletonRestarting` | `SingletonRestarting app token=3 1000ms`                  |
 * | `ClusterStore`      | `ClusterStore app unavailable`                              |
 *
 * @example
 * ```ts
 * import { EventLine } from "@arbor/testing"
 *
 * EventLine.format({ _tag: "ChildExited", path: "app/db", at: 0, exit: "failure", message: "Error: boom", decision: "restart" })
 * // "ChildExited app/db failure restart"
 * ```
 *
 * @category formatting
 * @since 0.1.0
 */
export const format = (event: Event): string => {
  switch (event._tag) {
    case "ChildStarting":
      return `ChildStarting ${event.path} restarts=${event.restarts}`
    case "ChildStarted":
      return `ChildStarted ${event.path}`
    case "ChildStartFailed":
      return `ChildStartFailed ${event.path} ${event.message}`
    case "ChildExited":
      return `ChildExited ${event.path} ${event.exit} ${event.decision}`
    case "ChildSettling":
      return `ChildSettling ${event.path} ${event.budget}`
    case "ChildInterrupted":
      return `ChildInterrupted ${event.path} ${event.budget}`
    case "SystemRestarting":
      return `SystemRestarting ${event.path} ${event.child} ${event.strategy} ${event.restart}/${event.maxRestarts} ${event.delayMillis}ms`
    case "Escalated":
      return `Escalated ${event.path} ${event.error}`
    case "ShutdownRequested":
      return `ShutdownRequested ${event.path} ${event.reason}`
    case "ShutdownCompleted":
      return `ShutdownCompleted ${event.path} stopped=${event.stopped} forced=${event.forced}`
    case "StallDetected":
      return `StallDetected ${event.path} ${event.stalledForMillis}ms at ${event.where}`
    case "GateLatched":
      return `GateLatched ${event.path} ${event.gate} ${event.reason}`
    case "GateUnlatched":
      return `GateUnlatched ${event.path} ${event.gate} ${event.by}`
    case "OwnershipAcquired":
      return `OwnershipAcquired ${event.path} ${event.runner} token=${event.fencingToken}`
    case "OwnershipReleased":
      return `OwnershipReleased ${event.path} ${event.runner} token=${event.fencingToken}`
    case "SingletonRestarting":
      return `SingletonRestarting ${event.path} token=${event.fencingToken} ${event.delayMillis}ms`
    case "ClusterStore":
      return `ClusterStore ${event.path} ${event.available ? "available" : "unavailable"}`
    case "ControlRequested":
      return `ControlRequested ${event.path} ${event.action} by=${event.by}`
  }
}

/**
 * What an expected event looks like: a line as {@link format} writes it, the
 * beginning of one cut at a word, or some fields of the event (its `_tag` and
 * any others).
 *
 * @example
 * ```ts
 * import type { EventLine } from "@arbor/testing"
 *
 * const expected: Array<EventLine.Pattern> = [
 *   "ChildExited app/db failure restart",
 *   "SystemRestarting app app/db",
 *   { _tag: "ChildStarted", path: "app/db" }
 * ]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Pattern = string | FieldsOf<Event>

type FieldsOf<E> = E extends { readonly _tag: infer Tag } ? { readonly _tag: Tag } & Partial<Omit<E, "_tag">> : never

/**
 * Whether `event` matches `pattern`.
 *
 * @example
 * ```ts
 * import type { LifecycleEvent } from "@arbor/core"
 * import { EventLine } from "@arbor/testing"
 *
 * declare const events: ReadonlyArray<LifecycleEvent.LifecycleEvent>
 * const crashes = events.filter((event) => EventLine.matches(event, { _tag: "ChildExited", exit: "failure" }))
 * const ofDb = events.filter((event) => EventLine.matches(event, "ChildExited app/db"))
 * ```
 *
 * @category matching
 * @since 0.1.0
 */
export const matches = (event: Event, pattern: Pattern): boolean => {
  if (typeof pattern === "string") {
    const line = format(event)
    return line === pattern || line.startsWith(`${pattern} `)
  }
  const fields = event as unknown as Record<string, unknown>
  return Object.entries(pattern).every(([key, value]) => fields[key] === value)
}

/** A pattern as a line of a report. */
const show = (pattern: Pattern): string => typeof pattern === "string" ? pattern : JSON.stringify(pattern)

/**
 * How events are compared with the expected patterns: `"inOrder"` (the
 * patterns match events in this order; other events may come between) or
 * `"exactly"` (the patterns match all the events, one each, in order).
 *
 * @example
 * ```ts
 * import type { EventLine } from "@arbor/testing"
 *
 * const strict: EventLine.Mode = "exactly"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Mode = "inOrder" | "exactly"

/**
 * The events did not match the expected patterns. `message` shows the
 * difference line by line: `-` a pattern that matched no event (in order),
 * `+` an event no pattern matched (when comparing `"exactly"`).
 *
 * @example
 * ```ts
 * import { EventLine } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * declare const check: Effect.Effect<void, EventLine.EventsMismatch>
 * const report = check.pipe(Effect.catchTag("EventsMismatch", (e) => Effect.logError(e.message)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class EventsMismatch extends Schema.TaggedError<EventsMismatch>()("EventsMismatch", {
  mode: Schema.Literals(["inOrder", "exactly"]),
  diff: Schema.String
}) {
  override get message(): string {
    const how = this.mode === "exactly"
      ? "the events differ (- expected, + actual)"
      : "the expected events did not happen in this order (- expected and missing; other lines: the events recorded)"
    return `${how}:\n${this.diff}`
  }
}

/**
 * Checks `events` against the `expected` patterns (see {@link Mode}); fails
 * with {@link EventsMismatch} and a line diff when they disagree.
 *
 * @example
 * ```ts
 * import type { LifecycleEvent } from "@arbor/core"
 * import { EventLine } from "@arbor/testing"
 *
 * declare const events: ReadonlyArray<LifecycleEvent.LifecycleEvent>
 * const check = EventLine.expect(events, ["ChildExited app/db failure restart", "ChildStarted app/db"])
 * ```
 *
 * @category matching
 * @since 0.1.0
 */
export const expect = (
  events: ReadonlyArray<Event>,
  expected: ReadonlyArray<Pattern>,
  mode: Mode = "inOrder"
): Effect.Effect<void, EventsMismatch> =>
  Effect.suspend(() => {
    const lines = diff(expected, events, (pattern, event) => matches(event, pattern))
    const missing = lines.some((line) => line._tag === "Expected")
    const extra = lines.some((line) => line._tag === "Actual")
    if (!missing && (mode === "inOrder" || !extra)) return Effect.void
    const extraMark = mode === "exactly" ? "+ " : "  "
    const report = lines.map((line) => {
      switch (line._tag) {
        case "Both":
          return `  ${format(line.actual)}`
        case "Expected":
          return `- ${show(line.expected)}`
        case "Actual":
          return `${extraMark}${format(line.actual)}`
      }
    })
    return Effect.fail(new EventsMismatch({ mode, diff: report.join("\n") }))
  })
