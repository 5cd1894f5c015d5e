/**
 * Cases for children beyond the main thread: a worker child's start and
 * restart beside a raw `new Worker`, a process child's start beside a raw
 * `child_process.spawn`, in milliseconds.
 *
 * A sample takes `times` raw and `times` Arbor measurements in turns (raw,
 * Arbor, raw, ...), so that both sides meet the same load on a shared
 * machine, and reports each side's median. Each side does the same work but
 * for Arbor's own: the two worker modules are TypeScript files of the same
 * shape (both pay for Node's type stripping), both exit with code 1 when told
 * to; both processes run `sleep 10`. docs/performance.md says what the raw
 * side does not do.
 */
import type { Pool } from "@arbor/core"
import { MainLoop, System, Toplevel } from "@arbor/core"
import { ProcessChild, WorkerChild } from "@arbor/node"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Fiber, References } from "effect"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import { spawn } from "node:child_process"
import { Worker } from "node:worker_threads"
import { median } from "./harness.ts"

const rawModule = new URL("./fixtures/rawWorker.ts", import.meta.url)
const arborModule = new URL("./fixtures/arborWorker.ts", import.meta.url)
type Exiting = { readonly exit: () => never }

/** One sample of a case: the median of each side's measurements. */
export interface Sample {
  readonly floor: number
  readonly arbor: number
}

/** Runs `measure` in a tree holding one pool, logging off; the pool's children need the Node services. */
const withPool = <A>(measure: (pool: Pool.Pool) => Effect.Effect<A, unknown, ChildProcessSpawner>): Promise<A> =>
  Effect.runPromise(Effect.gen(function*() {
    const ready = yield* Deferred.make<Pool.Pool>()
    const toplevel = Toplevel.make("bench", System.make((scope) =>
      Effect.gen(function*() {
        const pool = yield* scope.pool("children", { restart: "permanent", intensity: { maxRestarts: 1_000, within: "1 minute" } })
        yield* scope.child("ready", MainLoop.spawn(Deferred.succeed(ready, pool)), { restart: "temporary" })
      })
    ))
    const running = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
    const result = yield* Effect.orDie(measure(yield* Deferred.await(ready)))
    toplevel.shutdownToken.signal()
    yield* Fiber.join(running)
    return result
  }).pipe(Effect.provide(NodeServices.layer), Effect.provideService(References.MinimumLogLevel, "None")))

/** `times` raw measurements and `times` Arbor ones, in turns. */
const inTurns = <E, R>(times: number, raw: () => Promise<number>, arbor: Effect.Effect<number, E, R>): Effect.Effect<Sample, E, R> =>
  Effect.gen(function*() {
    const floors: Array<number> = []
    const arbors: Array<number> = []
    for (let i = 0; i < times; i++) {
      floors.push(yield* Effect.promise(raw))
      arbors.push(yield* arbor)
    }
    return { floor: median(floors), arbor: median(arbors) }
  })

/** Spawns `startup` into the pool until its startup returns, then stops the child (untimed). */
const timedSpawn = <A, E>(
  pool: Pool.Pool,
  startup: Effect.Effect<MainLoop.MainLoop<A>, E, MainLoop.SpawnContext | ChildProcessSpawner>
): Effect.Effect<number, Pool.SpawnError, ChildProcessSpawner> =>
  Effect.gen(function*() {
    const start = performance.now()
    const child = yield* pool.spawn(startup)
    const elapsed = performance.now() - start
    yield* child.stop
    return elapsed
  })

const firstMessage = (worker: Worker): Promise<void> => new Promise((resolve) => worker.once("message", () => resolve()))

/** Raw: `new Worker` until its first message, then the worker is terminated (untimed). */
const rawWorkerStart = async (): Promise<number> => {
  const start = performance.now()
  const worker = new Worker(rawModule)
  await firstMessage(worker)
  const elapsed = performance.now() - start
  await worker.terminate()
  return elapsed
}

/** A worker child's start beside a raw worker's: Arbor's until the child's startup returns (its worker is ready). */
export const workerStart = (times: number): Promise<Sample> =>
  withPool((pool) => inTurns(times, rawWorkerStart, timedSpawn(pool, WorkerChild.make(arborModule, { stall: { threshold: "5 seconds" } }))))

/**
 * A worker child's restart beside a raw worker's. Raw: told to, the worker
 * exits with code 1, then `new Worker` until the new one's first message.
 * Arbor: told to through the child's client, the worker exits with code 1,
 * until the restarted child's startup has returned (its new worker is ready).
 */
export const workerRestart = (times: number): Promise<Sample> =>
  withPool((pool) =>
    Effect.gen(function*() {
      let restarted = yield* Deferred.make<void>()
      const child = yield* pool.spawn(
        WorkerChild.make<Exiting>(arborModule).pipe(Effect.tap(() => Deferred.succeed(restarted, undefined)))
      )
      const arbor = Effect.gen(function*() {
        restarted = yield* Deferred.make<void>()
        const start = performance.now()
        // The worker exits before it answers: the call fails, as it should.
        yield* Effect.ignore(child.value.call("exit"))
        yield* Deferred.await(restarted)
        return performance.now() - start
      })
      let worker = new Worker(rawModule)
      yield* Effect.promise(() => firstMessage(worker))
      const raw = async (): Promise<number> => {
        const start = performance.now()
        const exited = new Promise((resolve) => worker.once("exit", resolve))
        worker.postMessage("exit")
        await exited
        worker = new Worker(rawModule)
        await firstMessage(worker)
        return performance.now() - start
      }
      const sample = yield* inTurns(times, raw, arbor)
      yield* child.stop
      yield* Effect.promise(() => worker.terminate())
      return sample
    })
  )

/** Raw: `child_process.spawn` until the process has started, then its group is killed (untimed). */
const rawProcessStart = async (): Promise<number> => {
  const start = performance.now()
  const child = spawn("sleep", ["10"], { detached: true, stdio: ["ignore", "pipe", "pipe"] })
  await new Promise((resolve) => child.once("spawn", resolve))
  const elapsed = performance.now() - start
  const exited = new Promise((resolve) => child.once("exit", resolve))
  process.kill(-child.pid!, "SIGKILL")
  await exited
  return elapsed
}

/** A process child's start (ready at once, the default) beside a raw spawn: Arbor's until the startup returns. */
export const processStart = (times: number): Promise<Sample> =>
  withPool((pool) => inTurns(times, rawProcessStart, timedSpawn(pool, ProcessChild.make("sleep", ["10"]))))
