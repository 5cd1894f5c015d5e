/**
 * A worker child from the main thread: its options, its client across
 * restarts, its startup and main loop, and the watch over its event loop.
 */
import { Errors, Lifecycle, MainLoop, Options } from "@arbor/core"
import * as Deferred from "effect/Deferred"
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Metric from "effect/Metric"
import * as Schema from "effect/Schema"
import type * as Scope from "effect/Scope"
import { existsSync } from "node:fs"
import { fileURLToPath, pathToFileURL } from "node:url"
import { Worker } from "node:worker_threads"
import type { Handlers } from "../WorkerRunner.ts"
import type { Capture } from "./stackCapture.ts"
import { captureStack, connectToWorker, noAnswer, Timeout } from "./stackCapture.ts"
import type { Timing } from "./watchdog.ts"
import { checkTiming, stallFields, stallSeconds, stallsTotal } from "./watchdog.ts"
import type { FromRunner, ToRunner } from "./workerProtocol.ts"

/** The worker ended, other than on request (`WorkerChild.WorkerCrashed`). */
export class WorkerCrashed extends Schema.TaggedError<WorkerCrashed>()("WorkerCrashed", {
  path: Schema.String,
  exitCode: Schema.Number,
  error: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `${this.path}: worker exited with code ${this.exitCode}` +
      (this.error === undefined ? "" : `: ${describeError(this.error)}`)
  }
}

/** A call did not get its answer (`WorkerChild.WorkerCallFailed`). */
export class WorkerCallFailed extends Schema.TaggedError<WorkerCallFailed>()("WorkerCallFailed", {
  path: Schema.String,
  method: Schema.String,
  reason: Schema.String,
  error: Schema.optionalKey(Schema.Unknown)
}) {
  override get message(): string {
    return `${this.path}: ${this.method}: ${this.reason}`
  }
}

const Megabytes = Schema.Number.check(Schema.isGreaterThan(0), Schema.isFinite())

const OptionsSchema = Schema.Struct({
  stall: Schema.optionalKey(Schema.Union([Schema.Literal(false), Schema.Struct(stallFields)])),
  resourceLimits: Schema.optionalKey(Schema.Struct({
    maxOldGenerationSizeMb: Schema.optionalKey(Megabytes),
    maxYoungGenerationSizeMb: Schema.optionalKey(Megabytes),
    codeRangeSizeMb: Schema.optionalKey(Megabytes),
    stackSizeMb: Schema.optionalKey(Megabytes)
  })),
  workerData: Schema.optionalKey(Schema.Unknown),
  env: Schema.optionalKey(Schema.Record(Schema.String, Schema.String)),
  execArgv: Schema.optionalKey(Schema.Array(Schema.String))
})

interface Config {
  readonly url: URL
  readonly stall: Timing | undefined
  readonly options: typeof OptionsSchema.Type
}

const decode = (module: URL | string, input: unknown, path: string): Effect.Effect<Config, Errors.InvalidOptions> =>
  Effect.gen(function*() {
    const options = yield* Options.decode(OptionsSchema, path, input)
    const stall = options.stall === false ? undefined : yield* checkTiming(options.stall ?? {}, path, `["stall"]`)
    const url = typeof module === "string" ? pathToFileURL(module) : module
    if (url.protocol !== "file:" || !existsSync(fileURLToPath(url))) {
      return yield* new Errors.InvalidOptions({ path, issue: `no such module: ${url.href}\n  at ["module"]` })
    }
    return { url, stall, options }
  })

/** An error thrown in a worker, as one line. */
export const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error)

/** What a call hears back. */
type Outcome =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly reason: string; readonly error?: unknown }

/** The worker of the current incarnation, as its client reaches it. */
interface Current {
  readonly worker: Worker
  readonly answers: Map<number, (outcome: Outcome) => void>
  /** Why the worker is gone, when its child knows better than "it ended". */
  endReason: string | undefined
}

/**
 * The client of one child, the same object through all its incarnations: a
 * sibling that holds it keeps calling whichever worker runs now.
 */
export class Client<H extends Handlers> {
  path = ""
  current: Current | undefined = undefined
  /** Calls sent and not yet answered, for a pool that sends each call to the least busy worker. */
  inFlight = 0
  private ids = 0

  call<K extends keyof H & string>(method: K, ...args: Parameters<H[K]>): Effect.Effect<Awaited<ReturnType<H[K]>>, WorkerCallFailed> {
    return Effect.callback<any, WorkerCallFailed>((resume) => {
      const failed = (reason: string, error?: unknown) =>
        resume(Effect.fail(new WorkerCallFailed({ path: this.path, method, reason, ...(error === undefined ? {} : { error }) })))
      const current = this.current
      if (current === undefined) return failed("no worker runs (it is restarting or stopped)")
      const id = ++this.ids
      try {
        current.worker.postMessage({ arbor: "call", id, method, args } satisfies ToRunner)
      } catch (error) {
        return failed(`the arguments could not be sent: ${String(error)}`)
      }
      this.inFlight++
      current.answers.set(id, (outcome) => {
        this.inFlight--
        if (outcome.ok) resume(Effect.succeed(outcome.value))
        else failed(outcome.reason, outcome.error)
      })
      // An interrupted call is forgotten; the worker still finishes it, and its answer is dropped.
      return Effect.sync(() => {
        if (current.answers.delete(id)) this.inFlight--
      })
    })
  }

  /** Ends every call still waiting on `current`: its worker is gone. */
  orphan(current: Current, error: unknown): void {
    if (this.current === current) this.current = undefined
    const reason = current.endReason ?? "the worker ended before answering"
    for (const [id, answer] of current.answers) {
      current.answers.delete(id)
      answer({ ok: false, reason, error })
    }
  }
}

/** How a worker ended: its exit code and the uncaught error before it, if any. */
interface Ended {
  readonly exitCode: number
  readonly error: unknown
}

/** A worker child (`WorkerChild.make`): its startup, and the client that follows it across restarts. */
export const make = <H extends Handlers>(module: URL | string, options: unknown) => {
  const client = new Client<H>()
  const startup: Effect.Effect<MainLoop.MainLoop<Client<H>>, Errors.InvalidOptions | WorkerCrashed, Lifecycle.Lifecycle | Scope.Scope> =
    Effect.gen(function*() {
      const lifecycle = yield* Lifecycle.Lifecycle
      const path = lifecycle.path
      client.path = path
      const config = yield* decode(module, options, path)
      const ended = yield* Deferred.make<Ended>()
      const ready = yield* Deferred.make<void>()
      const heartbeat = new SharedArrayBuffer(BigInt64Array.BYTES_PER_ELEMENT)
      const worker = yield* Effect.acquireRelease(
        Effect.sync(() => spawn(config, path)),
        // After the budget, or when the child failed: the thread goes at once. `terminate` on an ended worker is a no-op.
        (worker) => Effect.promise(() => worker.terminate())
      )
      const current: Current = { worker, answers: new Map(), endReason: undefined }
      let uncaught: unknown
      worker.on("error", (error) => {
        uncaught = error
      })
      worker.on("exit", (exitCode) => {
        client.orphan(current, uncaught)
        Deferred.doneUnsafe(ended, Effect.succeed({ exitCode, error: uncaught }))
      })
      worker.on("message", (message: unknown) => {
        // Only Arbor's messages have an `arbor` key: the module's own are left alone.
        const received = message as FromRunner | null | undefined
        if (received?.arbor === "ready") return Deferred.doneUnsafe(ready, Effect.void)
        if (received?.arbor !== "reply") return
        const answer = current.answers.get(received.id)
        if (answer === undefined) return
        current.answers.delete(received.id)
        answer(received.ok
          ? { ok: true, value: received.value }
          : { ok: false, reason: `the handler failed: ${describeError(received.error)}`, error: received.error })
      })
      worker.postMessage({
        arbor: "init",
        path,
        name: lifecycle.name,
        heartbeat,
        every: config.stall?.heartbeat ?? 0
      } satisfies ToRunner)
      const exit = Effect.flatMap(Deferred.await(ended), (ended) => exitOf(path, ended))
      yield* Effect.raceFirst(Deferred.await(ready), Effect.flatMap(exit, () => new WorkerCrashed({ path, exitCode: 0 })))
      client.current = current
      // Asked to settle, the worker is told; it ends on its own, or is terminated after the budget.
      yield* Effect.forkScoped(Effect.andThen(lifecycle.settling, Effect.sync(() => worker.postMessage({ arbor: "settle" } satisfies ToRunner))))
      const watched = config.stall === undefined
        ? exit
        : Effect.raceFirst(exit, watch(new BigInt64Array(heartbeat), config.stall, path, current))
      return yield* MainLoop.spawn(watched, client)
    })
  return { client, startup }
}

const spawn = (config: Config, path: string): Worker => {
  const { env, execArgv, resourceLimits, workerData } = config.options
  return new Worker(config.url, {
    name: path,
    workerData,
    ...(env === undefined ? {} : { env: { ...env } }),
    ...(execArgv === undefined ? {} : { execArgv: [...execArgv] }),
    ...(resourceLimits === undefined ? {} : { resourceLimits: { ...resourceLimits } })
  })
}

/** A worker's end as the child's exit: code 0 without an uncaught error is a normal exit. */
const exitOf = (path: string, ended: Ended): Effect.Effect<void, WorkerCrashed> =>
  ended.exitCode === 0 && ended.error === undefined
    ? Effect.void
    : Effect.fail(new WorkerCrashed({ path, exitCode: ended.exitCode, ...(ended.error === undefined ? {} : { error: ended.error }) }))

const millisSince = (hrtime: bigint): number => Number(process.hrtime.bigint() - hrtime) / 1e6

/**
 * Watches the worker's heartbeat. Silent for the threshold, the worker's
 * stack is read, the worker is terminated (unless it recovered meanwhile)
 * and the child fails with `Stalled`. Waking only at each deadline keeps an
 * idle child's cost to one timer per threshold.
 */
const watch = (cells: BigInt64Array, timing: Timing, path: string, current: Current): Effect.Effect<never, Errors.Stalled> =>
  Effect.gen(function*() {
    while (true) {
      const beat = Atomics.load(cells, 0)
      const silentFor = millisSince(beat)
      if (silentFor < timing.threshold) {
        yield* Effect.sleep(Duration.millis(timing.threshold - silentFor + 1))
        continue
      }
      const recovered = () => Atomics.load(cells, 0) !== beat
      const capture = yield* Effect.promise(() => investigate(current.worker, timing, recovered))
      // A worker that recovered while its stack was read is spared.
      if (recovered()) continue
      current.endReason = "the worker stalled and was terminated"
      // Not waited for: the child fails with the stall now, before the worker's exit could be taken for the cause.
      void current.worker.terminate()
      const stalledFor = Math.round(millisSince(beat))
      const frames = capture.stack.map((frame) => `${frame.functionName} (${frame.url}:${frame.line}:${frame.column})`)
      const where = frames[0] ?? `(${capture.stackUnavailable ?? "no JavaScript stack"})`
      const threshold = Duration.format(Duration.millis(timing.threshold))
      yield* Effect.all([
        Metric.update(Metric.withAttributes(stallsTotal, { path }), 1),
        Metric.update(Metric.withAttributes(stallSeconds, { path }), stalledFor / 1000),
        Effect.logWarning(
          `${path}: worker event loop stalled for ${stalledFor} ms (threshold ${threshold}); terminated` +
            (frames.length > 0 ? frames.map((frame) => `\n    at ${frame}`).join("") : ` ${where}`)
        ).pipe(Effect.annotateLogs("path", path))
      ], { discard: true })
      return yield* new Errors.Stalled({ path, stalledForMillis: stalledFor, threshold, where, stack: frames })
    }
  })

/** The stalled worker's stack, read through an inspector session opened only for that. */
const investigate = async (worker: Worker, timing: Timing, recovered: () => boolean): Promise<Capture> => {
  if (!timing.captureStack) return { stack: [], stackUnavailable: "stack capture is off (captureStack: false)" }
  try {
    const connection = await connectToWorker(worker.threadId, timing.captureTimeout)
    try {
      return await captureStack(connection, recovered)
    } finally {
      connection.close()
    }
  } catch (error) {
    return {
      stack: [],
      stackUnavailable: error instanceof Timeout
        ? noAnswer({ thread: "the worker", timeout: timing.captureTimeout }, "no JavaScript stack")
        : `no JavaScript stack: the capture failed: ${String(error)}`
    }
  }
}
