import type * as Cause from "effect/Cause"
import * as Clock from "effect/Clock"
import * as Effect from "effect/Effect"
import type * as Fiber from "effect/Fiber"
import type * as LogLevel from "effect/LogLevel"
import * as Metric from "effect/Metric"
import * as Queue from "effect/Queue"
import type * as Scope from "effect/Scope"
import * as Stream from "effect/Stream"
import * as Tracer from "effect/Tracer"
import { Stalled } from "../Errors.ts"
import type { Gap, LifecycleEvent, Numbered } from "../LifecycleEvent.ts"
import { logged, logLine } from "./log.ts"

type Omit_<T, K extends keyof T> = T extends unknown ? Omit<T, K> : never

/** An event as its emitter makes it: the time is added when it is emitted. */
export type EventInput = Omit_<LifecycleEvent, "at">

/**
 * A toplevel's lifecycle event hub. Every event gets the next number of the
 * toplevel's sequence; while someone holds events (`holdEvents`), the last
 * `buffer` ones are kept, so that a reader can resume after the last one it
 * had (`eventsAfter`). Every subscriber has its own sliding buffer, so a slow
 * one drops its oldest events instead of holding the emitter up. `emit` also
 * logs the event's line, annotated with its path.
 */
export class Telemetry {
  private readonly subscribers = new Set<Queue.Queue<Numbered, Cause.Done>>()
  private ended = false
  private stopped = 0
  private forced = 0
  /** The number of the last event published. */
  private last = 0
  /** How many scopes hold events: holding costs every event a clock read, so only while someone resumes readers. */
  private holders = 0
  /** The held events as they were emitted, and their times: a ring of `count` entries written at `cursor`. */
  private held: Array<EventInput> = []
  private heldAt: Array<number> = []
  private cursor = 0
  private count = 0
  private readonly buffer: number
  readonly events: Stream.Stream<LifecycleEvent>
  readonly holdEvents: Effect.Effect<void, never, Scope.Scope>

  constructor(buffer: number) {
    this.buffer = buffer
    this.events = Stream.map(this.subscribe(undefined), (numbered) => numbered.event)
    this.holdEvents = Effect.acquireRelease(
      Effect.sync(() => {
        this.holders++
      }),
      () =>
        Effect.sync(() => {
          if (--this.holders > 0) return
          this.held = []
          this.heldAt = []
          this.cursor = this.count = 0
        })
    )
  }

  /**
   * The numbered events after `after` that are still held, then the live
   * ones, with a `Gap` where numbers are missing. A first number not above
   * `after` means `after` belongs to another sequence (a reader of an earlier
   * process): all before that first number count as missed.
   */
  eventsAfter(after: number | undefined): Stream.Stream<Numbered | Gap> {
    return Stream.mapAccum(this.subscribe(after), () => after, (had, numbered): readonly [number, ReadonlyArray<Numbered | Gap>] => {
      if (had === undefined || numbered.id === had + 1) return [numbered.id, [numbered]]
      const missed = numbered.id > had ? numbered.id - had - 1 : numbered.id - 1
      return [numbered.id, [{ _tag: "Gap", missed, after: had }, numbered]]
    })
  }

  /**
   * A subscription, taken at once with the replay of the held events after
   * `after` (all of them, if `after` is beyond the last number): no event is
   * both replayed and live, none falls between.
   */
  private subscribe(after: number | undefined): Stream.Stream<Numbered> {
    return Stream.callback<Numbered>((queue) =>
      Effect.suspend(() => {
        if (after !== undefined) {
          const firstHeld = this.last - this.count + 1
          for (let id = after > this.last ? firstHeld : Math.max(after + 1, firstHeld); id <= this.last; id++) {
            const slot = (this.cursor - (this.last - id + 1) + this.buffer) % this.buffer
            Queue.offerUnsafe(queue, { _tag: "Numbered", id, event: { ...this.held[slot]!, at: this.heldAt[slot]! } as LifecycleEvent })
          }
        }
        if (this.ended) return Queue.end(queue)
        this.subscribers.add(queue)
        return Effect.addFinalizer(() => Effect.sync(() => this.subscribers.delete(queue)))
      }), { bufferSize: this.buffer, strategy: "sliding" })
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
        const { stalledForMillis, where, stack } = stalled
        this.publishUnsafe(fiber, { _tag: "StallDetected", path: event.path, stalledForMillis, where, stack })
      }
    }
    this.publishUnsafe(fiber, event)
    if (!logged(fiber, level)) return undefined
    return logLine(level, event.path, typeof message === "string" ? message : message(), cause)
  }

  /**
   * Numbers `event`, holds it if someone holds events, and hands it to the
   * subscribers, stamped: the time is read, and a copy made, only when
   * someone keeps or reads it.
   */
  private publishUnsafe(fiber: Fiber.Fiber<unknown, unknown>, event: EventInput): void {
    const id = ++this.last
    if (this.holders === 0 && this.subscribers.size === 0) return
    const at = fiber.getRef(Clock.Clock).currentTimeMillisUnsafe()
    if (this.holders > 0) {
      this.held[this.cursor] = event
      this.heldAt[this.cursor] = at
      this.cursor = (this.cursor + 1) % this.buffer
      this.count = Math.min(this.count + 1, this.buffer)
    }
    if (this.subscribers.size === 0) return
    const numbered: Numbered = { _tag: "Numbered", id, event: { ...event, at } as LifecycleEvent }
    for (const queue of this.subscribers) Queue.offerUnsafe(queue, numbered)
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

/**
 * Whether spans made on `fiber` are recorded: Effect's default tracer keeps
 * them in memory and hands them to nobody, so without a tracer of the
 * user's (an exporter, a test's) Arbor makes none. A span costs a start or a
 * restart more than any other step of it (see docs/performance.md).
 */
export const recording = (fiber: Fiber.Fiber<unknown, unknown>): boolean =>
  fiber.getRef(Tracer.Tracer) !== Tracer.nativeTracer

/** The options of an Arbor span: no stack trace (capturing one took 6 % of a start). */
export interface SpanOptions {
  readonly attributes: Record<string, unknown>
  readonly parent?: Tracer.AnySpan | undefined
}

/** `effect` in the span `name` when the tracer records spans (`recording`), else `effect` alone. */
export const traced = <A, E, R>(effect: Effect.Effect<A, E, R>, name: string, options: SpanOptions): Effect.Effect<A, E, R> =>
  Effect.withFiber((fiber) => tracedUnsafe(fiber, effect, name, options))

/** `traced`, decided for code that already runs on `fiber`. */
export const tracedUnsafe = <A, E, R>(
  fiber: Fiber.Fiber<unknown, unknown>,
  effect: Effect.Effect<A, E, R>,
  name: string,
  options: SpanOptions
): Effect.Effect<A, E, R> =>
  recording(fiber) ? Effect.withSpan(effect, name, { ...options, captureStackTrace: false }) as Effect.Effect<A, E, R> : effect
