import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import * as Stream from "effect/Stream"
import { Stalled } from "../Errors.ts"
import type { LifecycleEvent } from "../LifecycleEvent.ts"
import { logged, logLine } from "./log.ts"

type Omit_<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never

/** An event as its emitter makes it: the time is added when it is emitted. */
export type EventInput = Omit_<LifecycleEvent, "at">

/**
 * A toplevel's lifecycle event hub: every subscriber of `events` has its own
 * sliding buffer, so a slow one drops its oldest events instead of holding
 * the emitter up. `emit` also logs the event's line, annotated with its path.
 */
export class Telemetry {
  private readonly subscribers = new Set<Queue.Queue<LifecycleEvent, Cause.Done>>()
  private ended = false
  private stopped = 0
  private forced = 0
  readonly events: Stream.Stream<LifecycleEvent>

  constructor(buffer: number) {
    this.events = Stream.callback<LifecycleEvent>((queue) =>
      Effect.suspend(() => {
        if (this.ended) return Queue.end(queue)
        this.subscribers.add(queue)
        return Effect.addFinalizer(() => Effect.sync(() => this.subscribers.delete(queue)))
      }), { bufferSize: buffer, strategy: "sliding" })
  }

  /**
   * Publishes `event` (stamped with the current time) and logs `message`
   * about its path. The message may be a function, so that a line below the
   * log level is never even built.
   */
  emit(
    event: EventInput,
    level: LogLevel.Severity,
    message: string | (() => string),
    cause?: Cause.Cause<unknown>
  ): Effect.Effect<void> {
    return Effect.withFiber((fiber) => this.emitUnsafe(fiber, event, level, message, cause) ?? Effect.void)
  }

  /**
   * `emit` from code that already runs on `fiber`: publishes at once and
   * resumes with the log line to run, or `undefined` when the line is below
   * the log level (a child's start and a restart then cost no effect at all).
   */
  emitUnsafe(
    fiber: Fiber.Fiber<unknown, unknown>,
    event: EventInput,
    level: LogLevel.Severity,
    message: string | (() => string),
    cause?: Cause.Cause<unknown>
  ): Effect.Effect<void> | undefined {
    if (event._tag === "ChildInterrupted") this.forced++
    else if (event._tag === "ChildExited") {
      if (event.decision === "stopped") this.stopped++
      // A stalled worker's exit is announced as a stall first, so that a stall shows up the same wherever it happened.
      const stalled = cause === undefined ? undefined : stallOf(cause)
      if (stalled !== undefined) {
        // Not logged again: whoever detected the stall logged it with the whole stack.
        this.publishUnsafe(fiber, { _tag: "StallDetected", path: event.path, stalledForMillis: stalled.stalledForMillis, where: stalled.where })
      }
    }
    this.publishUnsafe(fiber, event)
    if (!logged(fiber, level)) return undefined
    return logLine(level, event.path, typeof message === "string" ? message : message(), cause)
  }

  private publishUnsafe(fiber: Fiber.Fiber<unknown, unknown>, event: EventInput): void {
    if (this.subscribers.size === 0) return
    const stamped = { ...event, at: fiber.getRef(Clock.Clock).currentTimeMillisUnsafe() } as LifecycleEvent
    for (const queue of this.subscribers) Queue.offerUnsafe(queue, stamped)
  }

  /** How many children were stopped by their supervisor, and how many of them had to be interrupted, so far. */
  get stops(): { readonly stopped: number; readonly forced: number } {
    return { stopped: this.stopped, forced: this.forced }
  }

  /** The tree has stopped: every subscriber's stream ends once it has read what it was sent. */
  end(): void {
    this.ended = true
    for (const queue of this.subscribers) Queue.endUnsafe(queue)
    this.subscribers.clear()
  }
}

const stallOf = (cause: Cause.Cause<unknown>): Stalled | undefined => {
  for (const reason of cause.reasons) {
    if (reason._tag === "Fail" && reason.error instanceof Stalled) return reason.error
  }
  return undefined
}

const labelled = new WeakMap<Metric.Metric<number, unknown>, Map<string, Metric.Metric<number, unknown>>>()

/** `metric` labelled with `path`, made once per path: labelling anew on every update would cost more than the update. */
const forPath = (metric: Metric.Metric<number, unknown>, path: string): Metric.Metric<number, unknown> => {
  let byPath = labelled.get(metric)
  if (byPath === undefined) labelled.set(metric, byPath = new Map())
  let series = byPath.get(path)
  if (series === undefined) byPath.set(path, series = Metric.withAttributes(metric, { path }))
  return series
}

/** Updates `metric`'s series for `path` with `value` (adds to a counter, records in a histogram). */
export const count = (metric: Metric.Metric<number, unknown>, path: string, value = 1): Effect.Effect<void> =>
  Metric.update(forPath(metric, path), value)

/** `count` from code that already runs on `fiber`. */
export const countUnsafe = (fiber: Fiber.Fiber<unknown, unknown>, metric: Metric.Metric<number, unknown>, path: string, value = 1): void =>
  forPath(metric, path).updateUnsafe(value, fiber.context)
