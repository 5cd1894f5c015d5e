/**
 * The inside of a worker child: what the module a `WorkerChild` runs calls
 * to serve its parent, learn that it is asked to settle, and keep its
 * heartbeat while it works.
 *
 * Import it from `@arbor/node/WorkerRunner`, not from `@arbor/node`: this
 * entry is one module that loads nothing but Node's own, so that a worker
 * starts nearly as fast as a bare `new Worker` (docs/performance.md).
 *
 * ```ts
 * // jobs.ts, run by WorkerChild.make<Jobs>(new URL("./jobs.ts", import.meta.url))
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const handlers = {
 *   fib: (n: number): number => (n < 2 ? n : handlers.fib(n - 1) + handlers.fib(n - 2))
 * }
 * export type Jobs = typeof handlers
 * WorkerRunner.serve(handlers)
 * ```
 *
 * @since 0.1.0
 */
import type { Lifecycle } from "@arbor/core"
import type * as Effect from "effect/Effect"
import process from "node:process"
import { parentPort, receiveMessageOnPort } from "node:worker_threads"
// Types only: erased, so that a worker loads no other module of Arbor's.
import type { FromRunner, ToRunner } from "./internal/workerProtocol.ts"

/**
 * What a worker serves: functions its parent calls by name through the
 * child's client. Arguments and results cross threads by structured clone; a
 * function may return a promise.
 *
 * @example
 * ```ts
 * import type * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const handlers = { double: (n: number) => n * 2, greet: async (name: string) => `hello ${name}` } satisfies WorkerRunner.Handlers
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Handlers = { readonly [method: string]: (...args: ReadonlyArray<any>) => unknown }

/**
 * Options of {@link serve}.
 *
 * @example
 * ```ts
 * import type * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const options: WorkerRunner.ServeOptions = {
 *   main: async (signal) => {
 *     while (!signal.aborted) await new Promise((resolve) => setTimeout(resolve, 100))
 *   }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface ServeOptions {
  /**
   * The worker's own main loop, beside the handlers. It returning ends the
   * worker normally (once running calls have answered); it throwing or
   * rejecting fails the child with that error. `signal` aborts when the
   * child is asked to settle.
   */
  readonly main?: (signal: AbortSignal) => unknown
}

const port = parentPort
const controller = new AbortController()
let init: Extract<ToRunner, { arbor: "init" }> | undefined
let cells: BigInt64Array | undefined
let served = false
let running = 0
/** Whether `main` (if any) has not returned yet. */
let mainRunning = false
let mainReturned = false
let resolveSettling: () => void
const settlingPromise = new Promise<void>((resolve) => {
  resolveSettling = resolve
})

const beat = (): void => {
  if (cells !== undefined) Atomics.store(cells, 0, process.hrtime.bigint())
}

const send = (message: FromRunner): void => port!.postMessage(message)

// Asked to settle, or its main loop done, the worker ends once its calls have answered and its main loop returned.
const endIfDone = (): void => {
  if (running === 0 && !mainRunning && (controller.signal.aborted || mainReturned)) process.exit(0)
}

const answer = (id: number, run: () => unknown): void => {
  running++
  new Promise((resolve) => resolve(run())).then(
    (value) => send({ arbor: "reply", id, ok: true, value }),
    (error) => send({ arbor: "reply", id, ok: false, error })
  ).catch((error) =>
    // A result that cannot be cloned fails the call, not the worker.
    send({ arbor: "reply", id, ok: false, error: new Error(`the result could not be sent: ${String(error)}`) })
  ).finally(() => {
    running--
    endIfDone()
  })
}

/**
 * Serves `handlers` to the parent and tells it the worker is ready: the
 * child's startup returns then. Call it once, at the end of the module, after
 * whatever setup the worker needs. With `main`, the worker also runs its own
 * loop. Asked to settle, the worker stops taking calls, lets running ones
 * answer and `main` return, then exits normally.
 *
 * @example
 * ```ts
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const handlers = { sum: (xs: ReadonlyArray<number>) => xs.reduce((a, b) => a + b, 0) }
 * export type Summer = typeof handlers
 * WorkerRunner.serve(handlers)
 * ```
 *
 * @category serving
 * @since 0.1.0
 */
export const serve = <H extends Handlers>(handlers: H, options: ServeOptions = {}): void => {
  if (port === null) throw new Error("WorkerRunner.serve runs only inside a worker thread started by WorkerChild")
  if (served) throw new Error("WorkerRunner.serve was called twice")
  served = true
  const receive = (message: unknown): void => {
    // Only Arbor's messages have an `arbor` key: the module's own are left alone.
    const received = message as ToRunner | null | undefined
    switch (received?.arbor) {
      case "init": {
        init = received
        cells = new BigInt64Array(received.heartbeat)
        beat()
        // Unref'd: the heartbeat alone never keeps a worker alive.
        if (received.every > 0) setInterval(beat, received.every).unref()
        send({ arbor: "ready" })
        if (options.main !== undefined) runMain(options.main)
        return
      }
      case "call": {
        const handler = Object.hasOwn(handlers, received.method) ? handlers[received.method] : undefined
        if (controller.signal.aborted) {
          return send({ arbor: "reply", id: received.id, ok: false, error: new Error("the worker is settling") })
        }
        if (handler === undefined) {
          return send({ arbor: "reply", id: received.id, ok: false, error: new Error(`no handler named ${received.method}`) })
        }
        return answer(received.id, () => handler(...received.args))
      }
      case "settle": {
        controller.abort(new DOMException("the worker was asked to settle", "AbortError"))
        resolveSettling()
        return endIfDone()
      }
    }
  }
  // The parent sends its introduction as soon as it has started the worker, so it is waiting by now: taken at once,
  // the worker answers `ready` while its module is still evaluated, as a bare worker's first message would be sent,
  // rather than after its event loop's first turn.
  const introduction = receiveMessageOnPort(port)
  if (introduction !== undefined) receive(introduction.message)
  port.on("message", receive)
}

const runMain = (main: (signal: AbortSignal) => unknown): void => {
  mainRunning = true
  // A rejection is left unhandled on purpose: it ends the worker with that error, which fails the child.
  void new Promise((resolve) => resolve(main(controller.signal))).then(() => {
    mainRunning = false
    mainReturned = true
    endIfDone()
  })
}

/**
 * Aborts when the child is asked to settle.
 *
 * @example
 * ```ts
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const poll = async () => {
 *   while (!WorkerRunner.signal.aborted) await fetch("http://127.0.0.1:8080/next", { signal: WorkerRunner.signal }).catch(() => undefined)
 * }
 * ```
 *
 * @category settling
 * @since 0.1.0
 */
export const signal: AbortSignal = controller.signal

/**
 * Resolves when the child is asked to settle.
 *
 * @example
 * ```ts
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * WorkerRunner.settling.then(() => console.log("finishing up"))
 * ```
 *
 * @category settling
 * @since 0.1.0
 */
export const settling: Promise<void> = settlingPromise

/**
 * Counts as a heartbeat: call it within a long synchronous job that is
 * expected, at least once per stall threshold, so that the job is not taken
 * for a stall.
 *
 * @example
 * ```ts
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 *
 * const crunch = (rows: ReadonlyArray<string>) => {
 *   for (const [i, row] of rows.entries()) {
 *     JSON.parse(row)
 *     if (i % 10_000 === 0) WorkerRunner.feed()
 *   }
 * }
 * ```
 *
 * @category heartbeat
 * @since 0.1.0
 */
export const feed = (): void => beat()

/**
 * The child's `Lifecycle` inside the worker, for Effect code: `settling`
 * resumes and `isSettling` turns true when the child is asked to settle,
 * `heartbeat` (what `Lifecycle.feed` runs) feeds the stall watch. Resolves
 * once the parent has introduced itself (before `serve`'s `main` runs).
 *
 * @example
 * ```ts
 * import { Lifecycle } from "@arbor/core"
 * import * as WorkerRunner from "@arbor/node/WorkerRunner"
 * import { Effect } from "effect"
 *
 * const loop = Effect.gen(function*() {
 *   while (!(yield* Lifecycle.isSettling)) yield* Effect.sleep("100 millis")
 * })
 *
 * WorkerRunner.serve({}, {
 *   main: async () => Effect.runPromise(Effect.provideService(loop, Lifecycle.Lifecycle, await WorkerRunner.lifecycle()))
 * })
 * ```
 *
 * @category settling
 * @since 0.1.0
 */
export const lifecycle = async (): Promise<Lifecycle.Lifecycle["Service"]> => {
  // Loaded only here: a worker that does not use Effect does not pay for it.
  const { Effect } = await import("effect")
  const { name, path } = init ?? { name: "", path: "" }
  const settled: Effect.Effect<void> = Effect.promise(() => settlingPromise)
  return {
    name,
    path,
    isSettling: Effect.sync(() => controller.signal.aborted),
    settling: settled,
    signal: controller.signal,
    heartbeat: Effect.sync(beat)
  }
}
