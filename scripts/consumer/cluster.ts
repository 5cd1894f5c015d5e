/**
 * A cluster singleton from the packed `@arbor/cluster`, run by plain `node`:
 * a runner on an embedded SQLite store (`node:sqlite`), the tree started with
 * fencing token 1, then stopped.
 */
import { ClusterRunner, ClusterToplevel, Ownership } from "@arbor/cluster"
import { MainLoop, System } from "@arbor/core"
import { Console, Effect, Fiber } from "effect"

class Scheduler extends System.System<Ownership.Ownership> {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const { fencingToken } = yield* Ownership.Ownership
      yield* scope.child("tick", MainLoop.spawn(Console.log(`scheduler runs with fencing token ${fencingToken}`)))
    })
  }
}

const scheduler = ClusterToplevel.singleton("scheduler", new Scheduler())

await Effect.runPromise(Effect.gen(function*() {
  const running = yield* Effect.forkChild(scheduler.start())
  while ((yield* scheduler.snapshot).cluster?.role !== "owner") yield* Effect.sleep("50 millis")
  scheduler.shutdownToken.signal()
  yield* Fiber.join(running)
}).pipe(Effect.provide(ClusterRunner.layer({ port: Number(process.argv[2]), storage: { kind: "sqlite", filename: process.argv[3]! } }))))
