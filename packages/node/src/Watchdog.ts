/**
 * The event-loop watchdog: notices when the main thread is stuck in
 * synchronous code — where no fiber, supervisor included, can run — and says
 * where.
 *
 * The main thread writes a heartbeat into shared memory; an unref'd worker
 * thread reads it. When the main thread has been silent for `threshold`, the
 * worker writes one JSON line to `logTo` (stderr by default): how long it has
 * been stalled, the main thread's JavaScript stack (paused for a moment
 * through an inspector session), the thread's state, memory, CPU and the
 * last snapshot the program shared. With `action: "exit"` it then kills the
 * process, so that whatever runs it restarts it. Once the main thread is free
 * again it gets a {@link StallDetected} event and the metrics
 * `arbor_event_loop_stalls_total` and `arbor_event_loop_stall_seconds` move.
 *
 * Reach for it in any long-running service: a stuck event loop looks alive
 * to the process manager while answering nothing. See docs/watchdog.md for
 * what it cannot do and for recommended settings.
 *
 * @since 0.1.0
 */
import type { Toplevel } from "@arbor/core"
import { Errors } from "@arbor/core"
import * as Context from "effect/Context"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as Layer from "effect/Layer"
import * as Metric from "effect/Metric"
import * as Option from "effect/Option"
import * as PubSub from "effect/PubSub"
import * as Queue from "effect/Queue"
import * as Schedule from "effect/Schedule"
import * as Schema from "effect/Schema"
import * as Stream from "effect/Stream"
import * as internal from "./internal/watchdog.ts"

/**
 * Options of {@link arm} and {@link layer}. Every one is optional; bad values
 * are an `InvalidOptions` error at `"watchdog"`.
 *
 * @example
 * ```ts
 * import type { Watchdog } from "@arbor/node"
 *
 * const production: Watchdog.Options = { threshold: "5 seconds", action: "exit", signal: "SIGABRT" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How long the main thread may go without a heartbeat before it counts as stalled. Default 5 seconds. */
  readonly threshold?: Duration.Input
  /**
   * How often the main thread beats. Default `threshold / 5`; at most `threshold / 2`. A block
   * of `threshold` is always reported; one of `threshold - heartbeat` may be.
   */
  readonly heartbeat?: Duration.Input
  /** Pause the main thread for a moment to read its JavaScript stack. Default true. */
  readonly captureStack?: boolean
  /**
   * How long each request to the stalled main thread may take. A main thread in native code
   * (a long `JSON.parse`, a synchronous fs or crypto call) cannot answer: the report then says
   * "no JavaScript stack". Default 500 milliseconds.
   */
  readonly captureTimeout?: Duration.Input
  /**
   * Record a CPU profile of the main thread for `duration` after a stall is detected, written
   * to `directory` (default the OS's temporary directory) as a `.cpuprofile` file that Chrome
   * DevTools opens; a second JSON line gives its path and the functions that took the most time.
   */
  readonly profile?: { readonly duration: Duration.Input; readonly directory?: string }
  /** `"log"` (default) reports and keeps watching; `"exit"` reports, then kills the process. */
  readonly action?: "log" | "exit"
  /**
   * With `action: "exit"`: the signal. `SIGKILL` (default, exit code 137) or `SIGABRT` (134,
   * with a core dump where they are enabled). Both act at once on a stalled main thread.
   */
  readonly signal?: "SIGKILL" | "SIGABRT"
  /** With `action: "exit"`: wait this much longer after the report; a main thread that recovers meanwhile is spared. */
  readonly exitAfter?: Duration.Input
  /** Where reports go: a file descriptor (default 2, stderr) or a file path, appended to. */
  readonly logTo?: number | string
}

/**
 * A frame of the stalled main thread's JavaScript stack. `line` and `column`
 * count from 1; `url` is the script's URL (`file:///…` for files).
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 *
 * const frame = new Watchdog.StackFrame({ functionName: "parse", url: "file:///app/main.js", line: 12, column: 5 })
 * frame.toString() // "parse (file:///app/main.js:12:5)"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class StackFrame extends Schema.Class<StackFrame>("StackFrame")({
  functionName: Schema.String,
  url: Schema.String,
  line: Schema.Number,
  column: Schema.Number
}) {
  override toString(): string {
    return `${this.functionName} (${this.url}:${this.line}:${this.column})`
  }
}

/**
 * The main thread was stalled: delivered once it is free again. `at` is when
 * the watchdog noticed; `stalledFor` (milliseconds) runs from the last
 * heartbeat before the stall to the first one after it. `stack` is empty when
 * it could not be read, and `stackUnavailable` says why. `profile` is the
 * path of the CPU profile, when one was recorded.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 * import { Effect, Stream } from "effect"
 *
 * const report = Effect.gen(function*() {
 *   const watchdog = yield* Watchdog.Watchdog
 *   yield* Stream.runForEach(watchdog.stalls, (stall: Watchdog.StallDetected) =>
 *     Effect.logWarning(`stalled for ${stall.stalledFor} ms at ${stall.stack[0] ?? stall.stackUnavailable}`)
 *   )
 * })
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class StallDetected extends Schema.TaggedClass<StallDetected>()("StallDetected", {
  at: Schema.Date,
  stalledFor: Schema.Number,
  stack: Schema.Array(StackFrame),
  stackUnavailable: Schema.optionalKey(Schema.String),
  profile: Schema.optionalKey(Schema.String)
}) {}

/**
 * An armed watchdog, for programs that are not run by Effect.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 *
 * const watchdog: Watchdog.Armed = Watchdog.arm({ threshold: "2 seconds" })
 * watchdog.onStall((stall) => console.warn(`event loop stalled for ${stall.stalledFor} ms`))
 * process.once("SIGTERM", () => void watchdog.disarm())
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Armed {
  /** Resolves once the worker watches (some 50–100 ms after arming); rejects if it could not start. */
  readonly ready: Promise<void>
  /** Counts as a heartbeat: call it within a long synchronous job that is expected, at least once per threshold. */
  feed(): void
  /** Shares a JSON-serializable value (a tree snapshot, say) for the reports; the last one shared is reported. */
  shareSnapshot(snapshot: unknown): void
  /** Calls `listener` after each stall, once the main thread is free; returns a function that removes it. */
  onStall(listener: (stall: StallDetected) => void): () => void
  /** The last stall, if there was one. */
  lastStall(): StallDetected | undefined
  /** Stops the heartbeat and the worker. */
  disarm(): Promise<void>
}

/**
 * The watchdog as a service, provided by {@link layer}.
 *
 * - `feed` / `feedUnsafe`: count as a heartbeat, for long synchronous jobs that are expected.
 * - `shareSnapshot`: the JSON-serializable value reports show (the supervision tree, say).
 * - `stalls`: every stall, once it is over (a subscriber too slow to keep up loses the oldest).
 * - `lastStall`: the last stall, for a health endpoint.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * const importAll = (rows: ReadonlyArray<string>) =>
 *   Effect.gen(function*() {
 *     const watchdog = yield* Watchdog.Watchdog
 *     yield* Effect.sync(() => {
 *       for (const [i, row] of rows.entries()) {
 *         JSON.parse(row)
 *         if (i % 10_000 === 0) watchdog.feedUnsafe()
 *       }
 *     })
 *   })
 * ```
 *
 * @category services
 * @since 0.1.0
 */
export class Watchdog extends Context.Service<Watchdog, {
  readonly feed: Effect.Effect<void>
  readonly feedUnsafe: () => void
  readonly shareSnapshot: (snapshot: unknown) => Effect.Effect<void>
  readonly stalls: Stream.Stream<StallDetected>
  readonly lastStall: Effect.Effect<Option.Option<StallDetected>>
}>()("@arbor/node/Watchdog") {}

/**
 * Counts stalls: `arbor_event_loop_stalls_total`.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 * import { Effect, Metric } from "effect"
 *
 * const stallsSoFar = Effect.map(Metric.value(Watchdog.stallsTotal), (state) => state.count)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const stallsTotal: Metric.Counter<number> = internal.stallsTotal

/**
 * How long stalls lasted, in seconds: `arbor_event_loop_stall_seconds`.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 * import { Effect, Metric } from "effect"
 *
 * const longest = Effect.map(Metric.value(Watchdog.stallSeconds), (state) => state.max)
 * ```
 *
 * @category metrics
 * @since 0.1.0
 */
export const stallSeconds: Metric.Histogram<number> = internal.stallSeconds

const armWith = (config: internal.Config, onFailure?: (message: string) => void): Armed => {
  const listeners = new Set<(stall: StallDetected) => void>()
  let last: StallDetected | undefined
  const running = internal.start(config, (message) => {
    const stall = new StallDetected({
      at: new Date(message.at),
      stalledFor: Math.round(message.stalledFor),
      stack: message.stack.map((frame) => new StackFrame(frame)),
      ...(message.stackUnavailable === undefined ? {} : { stackUnavailable: message.stackUnavailable }),
      ...(message.profile === undefined ? {} : { profile: message.profile })
    })
    last = stall
    for (const listener of listeners) listener(stall)
  }, onFailure)
  return {
    ready: running.ready,
    feed: running.feed,
    shareSnapshot: (snapshot) => running.share(JSON.stringify(snapshot) ?? "null"),
    onStall: (listener) => {
      listeners.add(listener)
      return () => void listeners.delete(listener)
    },
    lastStall: () => last,
    disarm: running.disarm
  }
}

/**
 * Arms a watchdog from plain code. Throws `InvalidOptions` for bad options.
 * It never keeps the process alive once its worker watches (50–100 ms after
 * arming, so that awaiting `ready` works); `disarm()` stops it earlier.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 *
 * const watchdog = Watchdog.arm({ threshold: "5 seconds", action: "exit" })
 *
 * // An expected long job feeds it, so that it is not taken for a stall.
 * const crunch = (items: ReadonlyArray<number>) => {
 *   let sum = 0
 *   for (const [i, item] of items.entries()) {
 *     sum += Math.sqrt(item)
 *     if (i % 100_000 === 0) watchdog.feed()
 *   }
 *   return sum
 * }
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const arm = (options: Options = {}): Armed => {
  const config = Effect.runSyncExit(internal.decode(options))
  if (Exit.isFailure(config)) throw Option.getOrThrow(Exit.findErrorOption(config))
  return armWith(config.value)
}

const whereOf = (stall: StallDetected): string =>
  stall.stack[0] === undefined ? `(${stall.stackUnavailable ?? "no JavaScript stack"})` : String(stall.stack[0])

const describe = (stall: StallDetected): string =>
  `event loop stalled for ${Duration.format(Duration.millis(stall.stalledFor))}` +
  (stall.stack[0] === undefined ? ` ${whereOf(stall)}` : ` at ${whereOf(stall)}`)

/**
 * Options of `Watchdog.layer`: the watchdog's, plus the `toplevel` of the
 * tree it watches, if any. With it, the tree's snapshot is shared with the
 * worker once a second (a report shows which children existed and their
 * states), and each stall becomes a `StallDetected` event of the toplevel.
 *
 * @example
 * ```ts
 * import type { Watchdog } from "@arbor/node"
 * import type { Toplevel } from "@arbor/core"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const options: Watchdog.LayerOptions = { threshold: "2 seconds", toplevel }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface LayerOptions extends Options {
  readonly toplevel?: Toplevel.Toplevel<unknown>
}

/**
 * Provides the {@link Watchdog} for the lifetime of the layer: armed when it
 * is built (it waits for the worker to watch), disarmed when its scope closes.
 * Each stall is published on `stalls`, counted in the metrics and logged as a
 * warning. Fails with `InvalidOptions` for bad options.
 *
 * @example
 * ```ts
 * import { Watchdog } from "@arbor/node"
 * import { NodeRuntime } from "@effect/platform-node"
 * import { Effect, Layer } from "effect"
 *
 * const main = Effect.gen(function*() {
 *   const watchdog = yield* Watchdog.Watchdog
 *   yield* watchdog.shareSnapshot({ version: "1.2.3", workers: 4 })
 *   yield* Effect.never
 * })
 *
 * NodeRuntime.runMain(main.pipe(Effect.provide(Watchdog.layer({ threshold: "2 seconds", action: "exit" }))))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: LayerOptions = {}): Layer.Layer<Watchdog, Errors.InvalidOptions> =>
  Layer.effect(
    Watchdog,
    Effect.gen(function*() {
      const { toplevel, ...rest } = options
      const config = yield* internal.decode(rest)
      // A worker that fails later is reported through the program's logger, like every line the layer writes.
      const runFork = Effect.runForkWith(yield* Effect.context<never>())
      const onFailure = (message: string) => void runFork(Effect.logError(message))
      const pubsub = yield* Effect.acquireRelease(PubSub.sliding<StallDetected>(64), PubSub.shutdown)
      const armed = yield* Effect.acquireRelease(
        Effect.suspend(() => {
          try {
            return Effect.succeed(armWith(config, onFailure))
          } catch (error) {
            // A log file that cannot be opened is bad options; anything else is a defect.
            if (error instanceof Errors.InvalidOptions) return Effect.fail(error)
            throw error
          }
        }),
        (armed) => Effect.promise(() => armed.disarm())
      )
      yield* Effect.promise(() => armed.ready)
      // Stalls arrive in a plain callback; a fiber of this layer records them with the layer's services.
      const arrived = yield* Queue.unbounded<StallDetected>()
      armed.onStall((stall) => Queue.offerUnsafe(arrived, stall))
      yield* Effect.forkScoped(Effect.forever(Effect.flatMap(Queue.take(arrived), (stall) =>
        Effect.all([
          Metric.update(stallsTotal, 1),
          Metric.update(stallSeconds, stall.stalledFor / 1000),
          Effect.logWarning(describe(stall)),
          PubSub.publish(pubsub, stall),
          toplevel === undefined ? Effect.void : toplevel.reportStall({ stalledForMillis: stall.stalledFor, where: whereOf(stall), stack: stall.stack.map(String) })
        ], { discard: true })
      )))
      if (toplevel !== undefined) {
        // A report shows the tree as last shared: once a second is fresh enough, and cheap whatever the tree does.
        const share = Effect.map(toplevel.snapshot, (snapshot) => armed.shareSnapshot(snapshot))
        yield* Effect.forkScoped(Effect.repeat(share, Schedule.spaced("1 second")))
      }
      return Watchdog.of({
        feed: Effect.sync(armed.feed),
        feedUnsafe: armed.feed,
        shareSnapshot: (snapshot) => Effect.sync(() => armed.shareSnapshot(snapshot)),
        stalls: Stream.fromPubSub(pubsub),
        lastStall: Effect.sync(() => Option.fromUndefinedOr(armed.lastStall()))
      })
    })
  )
