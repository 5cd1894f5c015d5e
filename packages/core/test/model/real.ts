/**
 * The real side of the model-based tests: builds an Arbor tree from a
 * generated spec, out of workers that journal every start, settle and exit
 * (the journal the model predicts), and that register every fiber they fork
 * so that the test can check none outlives its incarnation.
 */
import { ChildExit, Lifecycle, MainLoop, System } from "@arbor/core"
import type { Pool, Toplevel } from "@arbor/core"
import { Deferred, Duration, Effect, Schedule } from "effect"
import type { Fiber } from "effect"
import type { BackoffSpec, ChildSpec, PoolSpec, Startup, SystemSpec } from "./spec.ts"

export class World {
  readonly journal: Array<string> = []
  readonly ignoring = new Set<string>()
  readonly failNext = new Set<string>()
  /** The trigger that ends the current main loop of each worker, by path. */
  readonly triggers = new Map<string, Deferred.Deferred<void, unknown>>()
  readonly mains = new Map<string, Fiber.Fiber<unknown, unknown>>()
  /** The `Lifecycle` of each worker's current incarnation, by path: to feed its liveness deadline. */
  readonly lifecycles = new Map<string, Lifecycle.Lifecycle["Service"]>()
  /** Each pool's handle, as its system's latest declaration of it handed it out, by path. */
  readonly pools = new Map<string, Pool.Pool>()
  /** Every fiber each worker incarnation (`path#n`) forked: in its startup, into its scope, in its main loop. */
  readonly incarnations = new Map<string, Array<Fiber.Fiber<unknown, unknown>>>()
  private readonly starts = new Map<string, number>()

  /** Journals the start of an incarnation of the child whose `Lifecycle` is in context; resumes with its path and fiber list. */
  private begin(lifecycle: Lifecycle.Lifecycle["Service"]) {
    const path = lifecycle.path
    const n = (this.starts.get(path) ?? 0) + 1
    this.starts.set(path, n)
    this.journal.push(`start ${path}`)
    return { path, id: `${path}#${n}` }
  }

  /** The main loop: ends when triggered, or when asked to settle (unless it ignores settling). */
  private main(path: string, fibers: Array<Fiber.Fiber<unknown, unknown>>): Effect.Effect<void, unknown, Lifecycle.Lifecycle> {
    const world = this
    const trigger = Deferred.makeUnsafe<void, unknown>()
    this.triggers.set(path, trigger)
    const settled = Effect.andThen(
      Lifecycle.settling,
      Effect.suspend(() => {
        world.journal.push(`settle ${path}`)
        return world.ignoring.has(path) ? Effect.never : Effect.void
      })
    )
    return Effect.gen(function*() {
      fibers.push(yield* Effect.forkChild(Effect.never, { startImmediately: true }))
      return yield* Effect.raceFirst(Deferred.await(trigger), settled)
    }).pipe(Effect.onExit((exit) => Effect.sync(() => world.journal.push(`exit ${path} ${ChildExit.kindOf(exit)}`))))
  }

  /** A worker's startup function: it journals its start, fails if told to, takes `startMillis`, then spawns its main loop. */
  worker(startup: Pick<Startup, "startMillis">): Effect.Effect<MainLoop.MainLoop<void>, unknown, MainLoop.SpawnContext> {
    const world = this
    return Effect.gen(function*() {
      const lifecycle = yield* Lifecycle.Lifecycle
      const { path, id } = world.begin(lifecycle)
      if (world.failNext.delete(path)) {
        world.journal.push(`startfail ${path}`)
        return yield* Effect.fail(new Error(`${path} refused to start`))
      }
      if (startup.startMillis > 0) yield* Effect.sleep(startup.startMillis)
      world.lifecycles.set(path, lifecycle)
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      world.incarnations.set(id, fibers)
      fibers.push(yield* Effect.forkChild(Effect.never, { startImmediately: true }))
      fibers.push(yield* Effect.forkScoped(Effect.never, { startImmediately: true }))
      const loop = yield* MainLoop.spawn(world.main(path, fibers))
      fibers.push(loop.fiber)
      world.mains.set(path, loop.fiber)
      return loop
    })
  }

  /** A pool task (`run`): its own main loop, from its first step; a task has no startup to fail. */
  get task(): Effect.Effect<void, unknown, MainLoop.SpawnContext> {
    const world = this
    return Effect.withFiber((fiber) =>
      Effect.gen(function*() {
        const lifecycle = yield* Lifecycle.Lifecycle
        const { path, id } = world.begin(lifecycle)
        world.lifecycles.set(path, lifecycle)
        const fibers: Array<Fiber.Fiber<unknown, unknown>> = [fiber]
        world.incarnations.set(id, fibers)
        world.mains.set(path, fiber)
        fibers.push(yield* Effect.forkScoped(Effect.never, { startImmediately: true }))
        return yield* world.main(path, fibers)
      })
    )
  }
}

const schedule = (backoff: BackoffSpec): Schedule.Schedule<unknown, unknown> => {
  const base = Duration.millis(backoff.base)
  const delays: Schedule.Schedule<unknown, unknown> = backoff.kind === "spaced" ? Schedule.spaced(base) : Schedule.exponential(base)
  return backoff.times === undefined ? delays : delays.pipe(Schedule.upTo({ times: backoff.times }))
}

const limits = (spec: SystemSpec | PoolSpec) => ({
  intensity: { maxRestarts: spec.maxRestarts, within: Duration.millis(spec.within) },
  ...(spec.backoff === undefined ? {} : { backoff: { schedule: schedule(spec.backoff) } })
})

export const systemOptions = (spec: SystemSpec): System.SystemOptions => ({
  strategy: spec.strategy,
  autoShutdown: spec.autoShutdown,
  ...limits(spec)
})

const budget = (shutdown: "brutal" | number) => typeof shutdown === "number" ? Duration.millis(shutdown) : shutdown

const watching = (startup: { readonly startTimeout: number | undefined; readonly deadline: number | undefined }) => ({
  ...(startup.startTimeout === undefined ? {} : { startTimeout: Duration.millis(startup.startTimeout) }),
  ...(startup.deadline === undefined ? {} : { liveness: { deadline: Duration.millis(startup.deadline) } })
})

const poolOptions = (spec: PoolSpec): Pool.PoolOptions => ({
  ...(spec.maxChildren === undefined ? {} : { maxChildren: spec.maxChildren }),
  restart: spec.child.policy,
  shutdown: budget(spec.child.shutdown),
  ...watching(spec.child),
  ...limits(spec)
})

/** The system for `spec`: each run of its `start` is journalled as `declare path`. */
export const buildSystem = (world: World, spec: SystemSpec, path: string): System.System<never> =>
  System.make((scope) =>
    Effect.gen(function*() {
      world.journal.push(`declare ${path}`)
      for (const child of spec.children as ReadonlyArray<ChildSpec>) {
        const childPath = `${path}/${child.name}`
        if (child.kind === "worker") {
          yield* scope.child(child.name, world.worker(child), {
            restart: child.policy,
            significant: child.significant,
            shutdown: budget(child.shutdown),
            ...watching(child)
          })
        } else if (child.kind === "pool") {
          world.pools.set(childPath, yield* scope.pool(child.name, poolOptions(child)))
        } else {
          yield* scope.system(child.name, buildSystem(world, child, childPath), {
            restart: child.policy,
            significant: child.significant,
            shutdown: child.shutdown === "infinity" ? "infinity" : Duration.millis(child.shutdown),
            ...systemOptions(child)
          })
        }
      }
    })
  )

export type RealToplevel = Toplevel.Toplevel<never>
