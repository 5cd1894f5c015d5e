/**
 * Worker-thread children: a child of the tree whose work runs in a
 * `worker_threads` worker, where it can be killed alone.
 *
 * A stuck event loop on the main thread can only be reported or ended with
 * the whole process. Risky work — CPU-heavy jobs, third-party parsers, code
 * that may loop forever — is better run in a worker: if its event loop
 * stalls, the stall is reported with the stack it is stuck in, the thread is
 * terminated, and its supervisor restarts it, while the main thread and the
 * child's siblings keep serving.
 *
 * The worker runs a module that calls `WorkerRunner.serve` (from
 * `@arbor/node/WorkerRunner`). The child's startup returns once the worker
 * is ready and hands back a typed {@link WorkerClient} to call it. Asked to
 * settle, the worker is told (`WorkerRunner.signal` aborts inside, and
 * `Lifecycle.settling` resumes); after the child's budget it is terminated.
 * An uncaught error, a non-zero exit code or running out of its
 * `resourceLimits` fails the child with {@link WorkerCrashed}; a stall fails
 * it with `Errors.Stalled`.
 *
 * @since 0.1.0
 */
import type { Errors, Lifecycle, MainLoop } from "@arbor/core"
import type * as Duration from "effect/Duration"
import type * as Effect from "effect/Effect"
import type * as Scope from "effect/Scope"
import * as internal from "./internal/workerChild.ts"
import type { Handlers } from "./WorkerRunner.ts"

/**
 * How a worker child's event loop is watched: it beats every `heartbeat`
 * (default `threshold / 5`); silent for `threshold` (default 5 seconds), it
 * is taken for stalled. Its stack is read unless `captureStack` is false,
 * each inspector request waiting at most `captureTimeout` (default 500 ms).
 *
 * @example
 * ```ts
 * import type { WorkerChild } from "@arbor/node"
 *
 * const stall: WorkerChild.StallOptions = { threshold: "2 seconds" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface StallOptions {
  readonly threshold?: Duration.Input
  readonly heartbeat?: Duration.Input
  readonly captureStack?: boolean
  readonly captureTimeout?: Duration.Input
}

/**
 * Options of a worker child. Bad ones fail its startup with `InvalidOptions`
 * at the child's path, before any thread starts.
 *
 * @example
 * ```ts
 * import type { WorkerChild } from "@arbor/node"
 *
 * const options: WorkerChild.Options = {
 *   stall: { threshold: "2 seconds" },
 *   resourceLimits: { maxOldGenerationSizeMb: 128 },
 *   workerData: { model: "small" }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  /** How its stalls are watched (see {@link StallOptions}); `false`: not at all. Watched by default. */
  readonly stall?: StallOptions | false
  /** Node's limits for the worker's heap and stack, in megabytes; running out fails the child. */
  readonly resourceLimits?: {
    readonly maxOldGenerationSizeMb?: number
    readonly maxYoungGenerationSizeMb?: number
    readonly codeRangeSizeMb?: number
    readonly stackSizeMb?: number
  }
  /** Handed to the worker as `workerData` (cloned). */
  readonly workerData?: unknown
  /** The worker's environment; default the process's. */
  readonly env?: Readonly<Record<string, string>>
  /** Node flags for the worker; default the process's. */
  readonly execArgv?: ReadonlyArray<string>
}

/**
 * A typed client of a worker child: `call(method, ...args)` runs the
 * worker's handler of that name and resumes with its result. It stays valid
 * across the child's restarts: a call goes to whichever worker runs now.
 *
 * @example
 * ```ts
 * import type { WorkerChild } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * type Jobs = { readonly fib: (n: number) => number }
 * declare const jobs: WorkerChild.WorkerClient<Jobs>
 *
 * const answer = jobs.call("fib", 30).pipe(Effect.tap((n) => Effect.log(`fib(30) = ${n}`)))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface WorkerClient<H extends Handlers> {
  /** The child's path. */
  readonly path: string
  /**
   * Calls `method` in the worker. Fails with {@link WorkerCallFailed} when
   * the handler throws, the worker ends before answering (a stall, a crash)
   * or no worker runs (the child is restarting or stopped).
   */
  call<K extends keyof H & string>(
    method: K,
    ...args: Parameters<H[K]>
  ): Effect.Effect<Awaited<ReturnType<H[K]>>, WorkerCallFailed>
}

/**
 * The worker ended on its own other than normally: an uncaught error (then
 * `error`), a non-zero exit code, or its `resourceLimits` exhausted (`error`
 * has the code `ERR_WORKER_OUT_OF_MEMORY`).
 *
 * @example
 * ```ts
 * import { WorkerChild } from "@arbor/node"
 *
 * new WorkerChild.WorkerCrashed({ path: "app/parser", exitCode: 1, error: new Error("boom") }).message
 * // "app/parser: worker exited with code 1: Error: boom"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const WorkerCrashed: typeof internal.WorkerCrashed = internal.WorkerCrashed
/** @since 0.1.0 */
export type WorkerCrashed = internal.WorkerCrashed

/**
 * A call to a worker child did not succeed: its handler threw (`error` is
 * what it threw, cloned), or `reason` says why there was no answer.
 *
 * @example
 * ```ts
 * import { WorkerChild } from "@arbor/node"
 *
 * new WorkerChild.WorkerCallFailed({ path: "app/parser", method: "parse", reason: "no worker runs" }).message
 * // "app/parser: parse: no worker runs"
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export const WorkerCallFailed: typeof internal.WorkerCallFailed = internal.WorkerCallFailed
/** @since 0.1.0 */
export type WorkerCallFailed = internal.WorkerCallFailed

/**
 * A worker child's startup function: starts a worker thread running
 * `module`, waits until it is ready (it called `WorkerRunner.serve`) and
 * returns its main loop with a {@link WorkerClient} as the child's value.
 * `H` is the type of the handlers the module serves. Use one `make` per
 * child: its client follows that child across restarts.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { WorkerChild } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * type Jobs = { readonly fib: (n: number) => number }
 *
 * const app = System.make((scope) =>
 *   Effect.gen(function*() {
 *     const jobs = yield* scope.child(
 *       "jobs",
 *       WorkerChild.make<Jobs>(new URL("./jobs.ts", import.meta.url), { stall: { threshold: "2 seconds" } }),
 *       { shutdown: "3 seconds" }
 *     )
 *     yield* scope.child("reporter", MainLoop.spawn(Effect.flatMap(jobs.call("fib", 25), (n) => Effect.log(`fib(25) = ${n}`))))
 *   })
 * )
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <H extends Handlers = Handlers>(
  module: URL | string,
  options: Options = {}
): Effect.Effect<
  MainLoop.MainLoop<WorkerClient<H>>,
  Errors.InvalidOptions | WorkerCrashed,
  Lifecycle.Lifecycle | Scope.Scope
> =>
  internal.make<H>(module, options).startup
