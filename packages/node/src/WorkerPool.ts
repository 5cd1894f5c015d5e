/**
 * A pool of worker children for CPU jobs: `size` workers running the same
 * module, each a child of the tree restarted on its own. `run` sends a job
 * to the least busy worker that runs. A job that spins forever stalls one
 * worker: that worker is reported, terminated and restarted, its job fails,
 * and the others keep working.
 *
 * Declare it as a subsystem: its workers are the children of a pool
 * (`<path>/workers/0`, `/1`, ...), restarted one at a time under the pool's
 * own restart intensity.
 *
 * @since 0.1.0
 */
import type { Pool } from "@arbor/core"
import { Errors, System } from "@arbor/core"
import * as Effect from "effect/Effect"
import type { Options as WorkerOptions } from "./WorkerChild.ts"
import { WorkerCallFailed } from "./WorkerChild.ts"
import type { Client } from "./internal/workerChild.ts"
import { make as makeChild } from "./internal/workerChild.ts"
import type { Handlers } from "./WorkerRunner.ts"

/**
 * Options of a worker pool: how many workers (`size`, default 2), each
 * worker's options, and the pool's own: each worker's settle budget
 * (`shutdown`), `startTimeout`, and the restart `intensity` and `backoff`
 * over all its workers.
 *
 * @example
 * ```ts
 * import type { WorkerPool } from "@arbor/node"
 *
 * const options: WorkerPool.Options = {
 *   size: 4,
 *   stall: { threshold: "2 seconds" },
 *   intensity: { maxRestarts: 20, within: "1 minute" }
 * }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options extends WorkerOptions, Pick<Pool.PoolOptions, "shutdown" | "startTimeout" | "intensity" | "backoff"> {
  readonly size?: number
}

/**
 * A pool of worker children, and the system that runs them.
 *
 * @example
 * ```ts
 * import { MainLoop, System } from "@arbor/core"
 * import { WorkerPool } from "@arbor/node"
 * import { Effect } from "effect"
 *
 * type Jobs = { readonly fib: (n: number) => number }
 * const cruncher = WorkerPool.make<Jobs>(new URL("./jobs.ts", import.meta.url), { size: 2 })
 *
 * const app = System.make((scope) =>
 *   Effect.gen(function*() {
 *     yield* scope.system("cruncher", cruncher)
 *     yield* scope.child("api", MainLoop.spawn(Effect.flatMap(cruncher.run("fib", 30), (n) => Effect.log(`fib(30) = ${n}`))))
 *   })
 * )
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export class WorkerPool<H extends Handlers> extends System.System<never> {
  private readonly workers: ReadonlyArray<ReturnType<typeof makeChild<H>>>
  private readonly options: Options
  /** The path it was declared at, once started. */
  private path = ""

  constructor(module: URL | string, options: Options = {}) {
    super()
    const { backoff: _, intensity: __, shutdown: ___, size = 2, startTimeout: ____, ...worker } = options
    this.options = options
    this.workers = Array.from({ length: Number.isSafeInteger(size) && size > 0 ? size : 0 }, () => makeChild<H>(module, worker))
  }

  start(scope: System.Scope) {
    const { backoff, intensity, shutdown, size, startTimeout } = this.options
    const workers = this.workers
    this.path = scope.path
    return Effect.gen(function*() {
      if (workers.length === 0) {
        return yield* new Errors.InvalidOptions({ path: scope.path, issue: `must be a whole number ≥ 1, got ${String(size)}\n  at ["size"]` })
      }
      const pool = yield* scope.pool("workers", {
        restart: "permanent",
        maxChildren: workers.length,
        ...(shutdown === undefined ? {} : { shutdown }),
        ...(startTimeout === undefined ? {} : { startTimeout }),
        ...(intensity === undefined ? {} : { intensity }),
        ...(backoff === undefined ? {} : { backoff })
      })
      for (const [i, worker] of workers.entries()) yield* pool.spawn(worker.startup, { name: String(i) })
    })
  }

  /**
   * Runs `method` with `args` in the least busy worker that runs. Fails
   * with `WorkerCallFailed` when the job throws, when its worker ends before
   * answering (a stall, a crash), or when no worker runs.
   */
  run<K extends keyof H & string>(method: K, ...args: Parameters<H[K]>): Effect.Effect<Awaited<ReturnType<H[K]>>, WorkerCallFailed> {
    return Effect.suspend(() => {
      let chosen: Client<H> | undefined
      for (const { client } of this.workers) {
        if (client.current !== undefined && (chosen === undefined || client.inFlight < chosen.inFlight)) chosen = client
      }
      if (chosen === undefined) {
        return Effect.fail(new WorkerCallFailed({ path: this.path, method, reason: "no worker runs (all are restarting or stopped)" }))
      }
      return chosen.call(method, ...args)
    })
  }
}

/**
 * Makes a pool of `size` workers running `module`; `H` is the type of the
 * handlers it serves. Declare it with `scope.system(name, pool)` and call
 * `pool.run` from anywhere.
 *
 * @example
 * ```ts
 * import { WorkerPool } from "@arbor/node"
 *
 * type Jobs = { readonly resize: (image: Uint8Array, width: number) => Uint8Array }
 * const images = WorkerPool.make<Jobs>(new URL("./images.ts", import.meta.url), { size: 4, stall: { threshold: "10 seconds" } })
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = <H extends Handlers = Handlers>(module: URL | string, options: Options = {}): WorkerPool<H> =>
  new WorkerPool<H>(module, options)
