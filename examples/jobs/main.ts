/**
 * Jobs: a batch that ends the tree when its work is done.
 *
 *   thumbnails                toplevel, autoShutdown: anySignificant
 *   ├── results               permanent: counts finished thumbnails
 *   ├── workers               pool: at most 4 at a time (callers wait for a slot), transient, exponential backoff per job
 *   └── dispatcher            transient, significant: spawns 12 jobs, waits for them, reports, ends
 *
 * Every fourth job fails on its first attempt: the pool restarts it after its
 * backoff delay (it shows as `restarting` meanwhile). When the dispatcher has
 * seen every job finish, it ends; being significant, its end shuts the whole
 * tree down, in reverse order, and the process exits 0.
 *
 *   npm run example:jobs
 */
import { Lifecycle, MainLoop, Pool, System, Toplevel } from "@arbor/core"
import { NodeToplevel } from "@arbor/node"
import { Effect, Exit, Ref, Schedule } from "effect"

const jobCount = 12

/** One thumbnail job; `attempts` remembers how often each job was tried, across restarts. */
const job = (id: number, attempts: Map<number, number>, done: Ref.Ref<number>) =>
  MainLoop.spawn(Effect.gen(function*() {
    const attempt = (attempts.get(id) ?? 0) + 1
    attempts.set(id, attempt)
    yield* Effect.sleep(`${150 + 20 * id} millis`)
    if (id % 4 === 0 && attempt === 1) return yield* Effect.fail(new Error(`job ${id}: corrupt input, will retry`))
    yield* Ref.update(done, (n) => n + 1)
    yield* Effect.log(`job ${id}: thumbnail written (attempt ${attempt})`)
  }))

/** Spawns every job, each waiting for a slot while the pool is full (in turn), then waits for all of them and ends. */
const dispatcher = (pool: Pool.Pool, done: Ref.Ref<number>) =>
  MainLoop.spawn(Effect.gen(function*() {
    const attempts = new Map<number, number>()
    const children: Array<Pool.PoolChild<void>> = []
    for (let id = 1; id <= jobCount; id++) {
      children.push(yield* pool.spawn(job(id, attempts, done), { name: `${id}` }))
      const counts = yield* toplevel.countChildren("thumbnails/workers")
      yield* Effect.log(`pool: ${counts.active} running, ${counts.restarting} waiting to restart`)
    }
    const exits = yield* Effect.forEach(children, (child) => child.await)
    yield* Effect.log(`all ${exits.filter(Exit.isSuccess).length} of ${jobCount} thumbnails done (${yield* Ref.get(done)} written)`)
  }).pipe(Effect.raceFirst(Lifecycle.settling)))

/** Holds the count of written thumbnails until asked to settle. */
const results = Effect.flatMap(Ref.make(0), (done) => MainLoop.spawn(Lifecycle.settling, done))

class Thumbnails extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const done = yield* scope.child("results", results)
      const pool = yield* scope.pool("workers", {
        maxChildren: 4,
        wait: "infinity",
        restart: "transient",
        backoff: Schedule.exponential("100 millis"),
        intensity: { maxRestarts: 10, within: "10 seconds" }
      })
      yield* scope.child("dispatcher", dispatcher(pool, done), { restart: "transient", significant: true })
    })
  }
}

const toplevel: Toplevel.Toplevel<never> = Toplevel.make("thumbnails", new Thumbnails(), { autoShutdown: "anySignificant" })

NodeToplevel.runMain(toplevel, { hardDeadline: "30 seconds" })
