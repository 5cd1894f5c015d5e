/**
 * Workers: CPU jobs in a pool of worker threads, an external helper process,
 * and a stalled worker healed while the rest of the service carries on.
 *
 *   imaging                 toplevel, one_for_one
 *   ├── cache               an OS process (helper.ts), ready once it prints "ready"
 *   ├── renderer            a pool of 2 worker threads (jobs.ts), stall threshold 1 s
 *   │   └── workers/0, workers/1
 *   ├── heartbeat           the main thread saying it still serves, every 250 ms
 *   └── frontdesk           two rounds of six render jobs, 200 ms apart; the 4th scene loops forever
 *
 * The job on "mirror-maze" spins forever in its worker. A second later the
 * stall is reported with the stack it is stuck in, that worker is terminated
 * and restarted by its pool, and the job fails; the other worker keeps
 * rendering, and the main thread never stops answering. The second round,
 * sent once the first is answered, meets the healed pool (and stalls it
 * again). Then the front desk closes and the tree stops: the helper gets
 * SIGTERM, the workers are asked to finish.
 *
 *   npm run example:workers
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { NodeToplevel, ProcessChild, WorkerPool } from "@arbor/node"
import { NodeServices } from "@effect/platform-node"
import { Effect } from "effect"
import type { Jobs } from "./jobs.ts"

const scenes = ["teapot", "harbour", "forest", "mirror-maze", "city", "glacier"]

const renderer = WorkerPool.make<Jobs>(new URL("./jobs.ts", import.meta.url), {
  size: 2,
  // captureTimeout: reading the stack starts with Debugger.enable, which lists every script the worker loaded;
  // a loaded machine takes well over the default 500 ms for that.
  stall: { threshold: "1 second", captureTimeout: "5 seconds" }
})

const heartbeat = MainLoop.spawn(Effect.gen(function*() {
  for (let beat = 1; !(yield* Lifecycle.isSettling); beat++) {
    yield* Effect.log(`main thread: still serving (${beat})`)
    yield* Effect.sleep("250 millis")
  }
}))

const round = (first: number) =>
  Effect.forEach(scenes, (scene, i) =>
    renderer.run("render", scene).pipe(
      Effect.delay(`${200 * i} millis`),
      Effect.flatMap((result) => Effect.log(`job ${first + i}: ${result}`)),
      Effect.catchTag("WorkerCallFailed", (error) => Effect.logWarning(`job ${first + i} (${scene}) failed: ${error.reason}`))
    ), { concurrency: "unbounded", discard: true })

const frontdesk = MainLoop.spawn(Effect.gen(function*() {
  yield* round(1)
  yield* round(1 + scenes.length)
  yield* Effect.log("front desk: all jobs answered, closing")
  toplevel.shutdownToken.signal()
}))

const imaging = System.make((scope) =>
  Effect.gen(function*() {
    const cache = yield* scope.child(
      "cache",
      ProcessChild.make(process.execPath, [new URL("./helper.ts", import.meta.url).pathname], { ready: { stdout: /ready/ } }),
      { startTimeout: "10 seconds" }
    )
    yield* Effect.log(`cache runs as pid ${cache.pid}`)
    yield* scope.system("renderer", renderer)
    yield* scope.child("heartbeat", heartbeat)
    yield* scope.child("frontdesk", frontdesk, { restart: "transient" })
  })
)

const toplevel = Toplevel.make("imaging", imaging, { strategy: "one_for_one" })

NodeToplevel.runMain(toplevel, { layer: NodeServices.layer, hardDeadline: "30 seconds" })
