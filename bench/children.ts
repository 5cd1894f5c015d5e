/**
 * Cases for children beyond the main thread: a worker child's start and
 * restart beside a raw `new Worker`, a process child's start beside a raw
 * `child_process.spawn`. Each sample is the median of `times` starts (or
 * restarts), one after the other, in milliseconds.
 */
import { MainLoop, Pool, System, Toplevel } from "@arbor/core"
import { ProcessChild, WorkerChild } from "@arbor/node"
import { NodeServices } from "@effect/platform-node"
import { Deferred, Effect, Fiber, References, Schedule } from "effect"
import { spawn } from "node:child_process"
import type { ChildProcessSpawner } from "effect/process/ChildProcessSpawner"
import { Worker } from "node:worker_threads"
import { median } from "./harness.ts"

const rawModule = new URL("./fixtures/rawWorker.ts", import.meta.url)
const arborModule = new URL("./fixtures/arborWorker.ts", import.meta.url)
type Exiting = { readonly exit: () => void; readonly threadId: () => number }

const readyOf = (worker: Worker): Promise<void> => new Promise((resolve) => worker.once("message", () => resolve()))

/** `new Worker` until its first message. */
export const floorWorkerStart = async (times: number): Promise<number> => {
  const samples: Array<number> = []
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    const worker = new Worker(rawModule)
    await readyOf(worker)
    samples.push(performance.now() - start)
    await worker.terminate()
  }
  return median(samples)
}

/** A worker that exits with code 1, then `new Worker` until the new one's first message. */
export const floorWorkerRestart = async (times: number): Promise<number> => {
  const samples: Array<number> = []
  let worker = new Worker(rawModule)
  await readyOf(worker)
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    const exited = new Promise((resolve) => worker.once("exit", resolve))
    worker.postMessage("exit")
    await exited
    worker = new Worker(rawModule)
    await readyOf(worker)
    samples.push(performance.now() - start)
  }
  await worker.terminate()
  return median(samples)
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

/** Spawns `startup` into a pool `times` times, timing each until its startup returns, then stops it (untimed). */
const timedSpawns = <A, E>(
  startup: Effect.Effect<MainLoop.MainLoop<A>, E, MainLoop.SpawnContext | ChildProcessSpawner>,
  times: number
): Promise<number> =>
  withPool((pool) =>
    Effect.gen(function*() {
      const samples: Array<number> = []
      for (let i = 0; i < times; i++) {
        const start = performance.now()
        const child = yield* pool.spawn(startup)
        samples.push(performance.now() - start)
        yield* child.stop
      }
      return median(samples)
    })
  )

/** A worker child spawned into a pool until its startup returns (the worker is ready). */
export const arborWorkerStart = (times: number): Promise<number> =>
  timedSpawns(WorkerChild.make(arborModule, { stall: { threshold: "5 seconds" } }), times)

/** A worker child's worker exits with code 1, until the restarted child answers a call. */
export const arborWorkerRestart = (times: number): Promise<number> =>
  withPool((pool) =>
    Effect.gen(function*() {
      const child = yield* pool.spawn(WorkerChild.make<Exiting>(arborModule))
      const client = child.value
      const samples: Array<number> = []
      for (let i = 0; i < times; i++) {
        const before = yield* client.call("threadId")
        const start = performance.now()
        yield* client.call("exit")
        // Until a call reaches the new worker: the restarted child's startup has returned.
        yield* client.call("threadId").pipe(
          Effect.filterOrFail((id) => id !== before, () => "the old worker still answers"),
          Effect.retry(Schedule.spaced("1 millis"))
        )
        samples.push(performance.now() - start)
      }
      yield* child.stop
      return median(samples)
    })
  )

/** `child_process.spawn` until the process has started. */
export const floorProcessStart = async (times: number): Promise<number> => {
  const samples: Array<number> = []
  for (let i = 0; i < times; i++) {
    const start = performance.now()
    const child = spawn("sleep", ["10"], { detached: true, stdio: ["ignore", "pipe", "pipe"] })
    await new Promise((resolve) => child.once("spawn", resolve))
    samples.push(performance.now() - start)
    const exited = new Promise((resolve) => child.once("exit", resolve))
    process.kill(-child.pid!, "SIGKILL")
    await exited
  }
  return median(samples)
}

/** A process child (ready at once) spawned into a pool until its startup returns. */
export const arborProcessStart = (times: number): Promise<number> => timedSpawns(ProcessChild.make("sleep", ["10"]), times)
