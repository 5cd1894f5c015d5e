/**
 * The benchmark cases: each measures Arbor and the raw-Effect floor it is
 * compared with, one sample at a time.
 */
import { Lifecycle, MainLoop, Pool, System, Toplevel } from "@arbor/core"
import { Deferred, Effect, Exit, Fiber, References } from "effect"
import { gc } from "./harness.ts"

/**
 * Runs a sample with logging off: the floor logs nothing, and a restart's
 * log lines (written to the console) would cost more than the restart.
 */
const run = <A, E>(effect: Effect.Effect<A, E>): Promise<A> =>
  Effect.runPromise(Effect.provideService(effect, References.MinimumLogLevel, "None"))

/** Runs a toplevel until `ready` resolves, hands it to `measure`, then shuts it down (untimed). */
const withTree = <A>(
  system: System.System<never>,
  options: Toplevel.Options,
  ready: Deferred.Deferred<void>,
  measure: (toplevel: Toplevel.Toplevel<never>, elapsed: number) => Effect.Effect<A>
): Promise<A> =>
  run(Effect.gen(function*() {
    const toplevel = Toplevel.make("bench", system, options)
    const start = performance.now()
    const fiber = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
    yield* Deferred.await(ready)
    const result = yield* measure(toplevel, performance.now() - start)
    toplevel.shutdownToken.signal()
    yield* Fiber.join(fiber)
    return result
  }))

/** A system of `n` idle children that settle when asked; `ready` resolves once all run. */
const idleSystem = (n: number, ready: Deferred.Deferred<void>, extra?: (scope: System.Scope) => Effect.Effect<void>) =>
  System.make((scope) =>
    Effect.gen(function*() {
      for (let i = 0; i < n; i++) yield* scope.child(`c${i}`, MainLoop.run(Lifecycle.settling))
      if (extra !== undefined) yield* extra(scope)
      yield* Deferred.succeed(ready, undefined)
    })
  )

/** A system holding one pool, handed out through `pool`. */
const poolSystem = (ready: Deferred.Deferred<void>, pool: { current?: Pool.Pool }, options?: Pool.PoolOptions) =>
  System.make((scope) =>
    Effect.gen(function*() {
      pool.current = yield* scope.pool("pool", options)
      yield* Deferred.succeed(ready, undefined)
    })
  )

// 1. Start: µs per child.

export const floorStart = (n: number): Promise<number> =>
  run(Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const fibers: Array<Fiber.Fiber<void>> = []
    const start = performance.now()
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkChild(Deferred.await(gate), { startImmediately: true }))
    const elapsed = performance.now() - start
    yield* Fiber.interruptAll(fibers)
    return (elapsed * 1000) / n
  }))

export const arborStartStatic = async (n: number): Promise<number> => {
  const ready = Deferred.makeUnsafe<void>()
  return withTree(idleSystem(n, ready), {}, ready, (_, elapsed) => Effect.succeed((elapsed * 1000) / n))
}

export const arborStartPool = async (n: number): Promise<number> => {
  const ready = Deferred.makeUnsafe<void>()
  const pool: { current?: Pool.Pool } = {}
  return withTree(poolSystem(ready, pool), {}, ready, () =>
    Effect.gen(function*() {
      const start = performance.now()
      for (let i = 0; i < n; i++) yield* pool.current!.spawn(MainLoop.run(Lifecycle.settling))
      return ((performance.now() - start) * 1000) / n
    }).pipe(Effect.orDie))
}

// 2. Memory: bytes of heap per idle child, after GC.

const heap = () => process.memoryUsage().heapUsed

export const floorMemory = async (n: number): Promise<number> => {
  await gc()
  const before = heap()
  const gate = Deferred.makeUnsafe<void>()
  const fibers = await run(Effect.gen(function*() {
    const fibers: Array<Fiber.Fiber<void>> = []
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkDetach(Deferred.await(gate), { startImmediately: true }))
    return fibers
  }))
  await gc()
  const bytes = (heap() - before) / n
  await run(Fiber.interruptAll(fibers))
  return bytes
}

export const arborMemory = async (n: number): Promise<number> => {
  await gc()
  const before = heap()
  const ready = Deferred.makeUnsafe<void>()
  return withTree(idleSystem(n, ready), {}, ready, () =>
    Effect.promise(async () => {
      await gc()
      return (heap() - before) / n
    }))
}

// 3. Restart latency: µs from the crash to the replacement's first instruction.

export const floorRestart = (crashes: number): Promise<Array<number>> =>
  run(Effect.gen(function*() {
    const latencies: Array<number> = []
    let firstInstruction = 0
    for (let i = 0; i < crashes; i++) {
      const trigger = Deferred.makeUnsafe<void>()
      const fiber = yield* Effect.forkChild(Effect.andThen(Deferred.await(trigger), Effect.fail("crash")), { startImmediately: true })
      const crashedAt = performance.now()
      Deferred.doneUnsafe(trigger, Exit.void)
      const exit = yield* Fiber.await(fiber)
      if (Exit.isFailure(exit)) {
        yield* Effect.forkChild(Effect.sync(() => {
          firstInstruction = performance.now()
        }), { startImmediately: true })
      }
      latencies.push((firstInstruction - crashedAt) * 1000)
    }
    return latencies
  }))

/** A turn of the event loop: whatever was started has run until it waits. */
const atRest = Effect.promise(() => new Promise<void>((resolve) => setImmediate(resolve)))

/**
 * `supervisors` trees in turn, each a `one_for_one` toplevel with `siblings`
 * idle children and a worker crashed `crashes` times: every crash's latency.
 */
export const arborRestart = async (supervisors: number, crashes: number, siblings: number): Promise<Array<number>> => {
  let latencies: Array<number> = []
  for (let i = 0; i < supervisors; i++) latencies = latencies.concat(await arborCrashes(crashes, siblings))
  return latencies
}

const arborCrashes = async (crashes: number, siblings: number): Promise<Array<number>> => {
  const ready = Deferred.makeUnsafe<void>()
  let trigger = Deferred.makeUnsafe<void>()
  let started = Deferred.makeUnsafe<number>()
  // The driver hears of the first instruction once the startup has returned and the child runs, as OTP's
  // driver does after `proc_lib:init_ack`: a crash is then always of a running child.
  const crashy = Effect.suspend(() => {
    const firstInstruction = performance.now()
    trigger = Deferred.makeUnsafe<void>()
    return MainLoop.run(Effect.suspend(() => {
      Deferred.doneUnsafe(started, Exit.succeed(firstInstruction))
      return Effect.andThen(Deferred.await(trigger), Effect.fail("crash"))
    }))
  })
  // It never settles: "brutal" spares each sample the 5 seconds of its default budget at the (untimed) shutdown.
  const system = idleSystem(siblings, ready, (scope) => Effect.asVoid(scope.child("crashy", crashy, { shutdown: "brutal" })))
  const options: Toplevel.Options = { strategy: "one_for_one", intensity: { maxRestarts: crashes + 1, within: "1 hour" } }
  return withTree(system, options, ready, (toplevel) =>
    Effect.gen(function*() {
      // As OTP's driver, which crashes once `supervisor:start_link` has returned: the tree has finished starting.
      while ((yield* toplevel.snapshot).root.state !== "running") yield* Effect.yieldNow
      const latencies: Array<number> = []
      for (let i = 0; i < crashes; i++) {
        // The tree at rest, as OTP's worker blocked in `receive` and its supervisor waiting for a message: the
        // driver hears of a start on the new child's own stack, and would otherwise crash it before its supervisor
        // has even finished the restart.
        yield* atRest
        started = Deferred.makeUnsafe<number>()
        const crashedAt = performance.now()
        Deferred.doneUnsafe(trigger, Exit.void)
        const firstInstruction = yield* Deferred.await(started)
        latencies.push((firstInstruction - crashedAt) * 1000)
      }
      return latencies
    }))
}

// 4. Shutdown of a pool's children (settle, then interrupt): ms.

export const floorShutdown = (n: number): Promise<number> =>
  run(Effect.gen(function*() {
    const gate = yield* Deferred.make<void>()
    const fibers: Array<Fiber.Fiber<void>> = []
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkChild(Deferred.await(gate), { startImmediately: true }))
    const start = performance.now()
    yield* Fiber.interruptAll(fibers)
    return performance.now() - start
  }))

export const arborShutdown = (n: number): Promise<number> =>
  run(Effect.gen(function*() {
    const ready = Deferred.makeUnsafe<void>()
    const pool: { current?: Pool.Pool } = {}
    const toplevel = Toplevel.make("bench", poolSystem(ready, pool))
    const fiber = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
    yield* Deferred.await(ready)
    for (let i = 0; i < n; i++) yield* Effect.orDie(pool.current!.run(Lifecycle.settling))
    const start = performance.now()
    toplevel.shutdownToken.signal()
    yield* Fiber.join(fiber)
    return performance.now() - start
  }))

// 5. Churn: short-lived tasks per second.

export const floorChurn = (n: number): Promise<number> =>
  run(Effect.gen(function*() {
    const fibers: Array<Fiber.Fiber<void>> = []
    const start = performance.now()
    for (let i = 0; i < n; i++) fibers.push(yield* Effect.forkChild(Effect.void, { startImmediately: true }))
    yield* Fiber.awaitAll(fibers)
    return n / ((performance.now() - start) / 1000)
  }))

export const arborChurn = async (n: number): Promise<number> => {
  const ready = Deferred.makeUnsafe<void>()
  const pool: { current?: Pool.Pool } = {}
  return withTree(poolSystem(ready, pool), {}, ready, () =>
    Effect.gen(function*() {
      const tasks: Array<Effect.Effect<Exit.Exit<unknown, unknown>>> = []
      const start = performance.now()
      for (let i = 0; i < n; i++) tasks.push((yield* Effect.orDie(pool.current!.run(Effect.void))).await)
      for (const task of tasks) yield* task
      return n / ((performance.now() - start) / 1000)
    }))
}

// 6. Churn through a full pool: tasks per second when callers wait for a slot, beside the same without a limit.

/**
 * `callers` fibers push `n` short tasks in all through a pool, then every task
 * is awaited. With `limit`, the pool holds at most that many children and the
 * callers wait for a slot (`wait: "infinity"`) most of the time.
 */
export const arborChurnCallers = async (n: number, callers: number, limit?: number): Promise<number> => {
  const ready = Deferred.makeUnsafe<void>()
  const pool: { current?: Pool.Pool } = {}
  const options: Pool.PoolOptions = limit === undefined ? {} : { maxChildren: limit, wait: "infinity" }
  return withTree(poolSystem(ready, pool, options), {}, ready, () =>
    Effect.gen(function*() {
      const tasks: Array<Effect.Effect<Exit.Exit<unknown, unknown>>> = []
      const push = Effect.gen(function*() {
        for (let i = 0; i < n / callers; i++) tasks.push((yield* Effect.orDie(pool.current!.run(Effect.void))).await)
      })
      const start = performance.now()
      const fibers = yield* Effect.forEach(Array.from({ length: callers }), () => Effect.forkChild(push, { startImmediately: true }))
      yield* Fiber.joinAll(fibers)
      for (const task of tasks) yield* task
      return tasks.length / ((performance.now() - start) / 1000)
    }))
}
