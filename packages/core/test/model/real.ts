/**
 * The real side of the model-based tests: builds an Arbor tree from a
 * generated spec, out of workers that journal every start, settle and exit
 * (the journal the model predicts), and that register every fiber they fork
 * so that the test can check none outlives its incarnation.
 */
import { ChildExit, Lifecycle, MainLoop, System } from "@arbor/core"
import type { Toplevel } from "@arbor/core"
import { Deferred, Duration, Effect, Schedule } from "effect"
import type { Fiber } from "effect"
import type { BackoffSpec, ChildSpec, SystemSpec } from "./spec.ts"

export class World {
  readonly journal: Array<string> = []
  readonly ignoring = new Set<string>()
  readonly failNext = new Set<string>()
  /** The trigger that ends the current main loop of each worker, by path. */
  readonly triggers = new Map<string, Deferred.Deferred<void, unknown>>()
  readonly mains = new Map<string, Fiber.Fiber<unknown, unknown>>()
  /** Every fiber each worker incarnation (`path#n`) forked: in its startup, into its scope, in its main loop. */
  readonly incarnations = new Map<string, Array<Fiber.Fiber<unknown, unknown>>>()
  private readonly starts = new Map<string, number>()

  worker(path: string): Effect.Effect<MainLoop.MainLoop<void>, unknown, MainLoop.SpawnContext> {
    const world = this
    return Effect.gen(function*() {
      const n = (world.starts.get(path) ?? 0) + 1
      world.starts.set(path, n)
      world.journal.push(`start ${path}`)
      if (world.failNext.delete(path)) {
        world.journal.push(`startfail ${path}`)
        return yield* Effect.fail(new Error(`${path} refused to start`))
      }
      const fibers: Array<Fiber.Fiber<unknown, unknown>> = []
      world.incarnations.set(`${path}#${n}`, fibers)
      fibers.push(yield* Effect.forkChild(Effect.never, { startImmediately: true }))
      fibers.push(yield* Effect.forkScoped(Effect.never, { startImmediately: true }))
      const trigger = Deferred.makeUnsafe<void, unknown>()
      world.triggers.set(path, trigger)
      const settled = Effect.andThen(
        Lifecycle.settling,
        Effect.suspend(() => {
          world.journal.push(`settle ${path}`)
          return world.ignoring.has(path) ? Effect.never : Effect.void
        })
      )
      const main = Effect.gen(function*() {
        fibers.push(yield* Effect.forkChild(Effect.never, { startImmediately: true }))
        return yield* Effect.raceFirst(Deferred.await(trigger), settled)
      }).pipe(Effect.onExit((exit) => Effect.sync(() => world.journal.push(`exit ${path} ${ChildExit.kindOf(exit)}`))))
      const loop = yield* MainLoop.spawn(main)
      fibers.push(loop.fiber)
      world.mains.set(path, loop.fiber)
      return loop
    })
  }
}

const schedule = (backoff: BackoffSpec): Schedule.Schedule<unknown, unknown> => {
  const base = Duration.millis(backoff.base)
  const delays: Schedule.Schedule<unknown, unknown> = backoff.kind === "spaced" ? Schedule.spaced(base) : Schedule.exponential(base)
  return backoff.times === undefined ? delays : delays.pipe(Schedule.upTo({ times: backoff.times }))
}

export const systemOptions = (spec: SystemSpec): System.SystemOptions => ({
  strategy: spec.strategy,
  intensity: { maxRestarts: spec.maxRestarts, within: Duration.millis(spec.within) },
  autoShutdown: spec.autoShutdown,
  ...(spec.backoff === undefined ? {} : { backoff: { schedule: schedule(spec.backoff) } })
})

const childOptions = (spec: ChildSpec): System.ChildOptions => ({
  restart: spec.policy,
  significant: spec.significant,
  shutdown: typeof spec.shutdown === "number" ? Duration.millis(spec.shutdown) : spec.shutdown
})

/** The system for `spec`: each run of its `start` is journalled as `declare path`. */
export const buildSystem = (world: World, spec: SystemSpec, path: string): System.System<never> =>
  System.make((scope) =>
    Effect.gen(function*() {
      world.journal.push(`declare ${path}`)
      for (const child of spec.children) {
        const childPath = `${path}/${child.name}`
        if (child.kind === "worker") {
          yield* scope.child(child.name, world.worker(childPath), childOptions(child))
        } else {
          yield* scope.system(child.name, buildSystem(world, child, childPath), { ...childOptions(child), ...systemOptions(child) })
        }
      }
    })
  )

export type RealToplevel = Toplevel.Toplevel<never>
