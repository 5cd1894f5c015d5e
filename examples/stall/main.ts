/**
 * Stall: a service whose request handler now and then blocks the event loop.
 *
 *   app                  toplevel, with the event-loop watchdog (threshold 1 s)
 *   ├── server           permanent: handles requests from its queue
 *   └── traffic          permanent: a request every 100 ms
 *
 * Every 30th request (the 20th first) asks for a report whose synchronous
 * loop runs for 5 s. No fiber can run meanwhile — not the server, not its
 * supervisor — but the watchdog's worker thread can: a second after the last
 * heartbeat it writes a JSON line to stderr naming `buildReport` and the line
 * it is stuck on, with the last snapshot the app shared.
 *
 *   npm run example:stall                            (WATCHDOG_ACTION=log: report, carry on; Ctrl-C to stop)
 *   WATCHDOG_ACTION=exit npm run example:stall       (report, then SIGKILL: exit code 137)
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { NodeObserver, NodeToplevel, Watchdog } from "@arbor/node"
import { Effect, Layer, Queue } from "effect"

interface Request {
  readonly id: number
  readonly path: "/orders" | "/report"
}

/** The slow part: fine for 1,000 orders, far too slow on the main thread for the year's. */
function buildReport(orders: number): number {
  const started = Date.now()
  let total = 0
  for (let order = 0; Date.now() - started < 5_000; order = (order + 1) % orders) {
    total += Math.sqrt(order) * 1.07
  }
  return total
}

const server = Effect.gen(function*() {
  const inbox = yield* Queue.unbounded<Request>()
  const handle = (request: Request) =>
    Effect.gen(function*() {
      if (request.path === "/report") {
        yield* Effect.log(`request ${request.id}: ${request.path}`)
        yield* Effect.sync(() => buildReport(365_000))
      }
    })
  return yield* MainLoop.spawn(
    Effect.raceFirst(Effect.forever(Effect.flatMap(Queue.take(inbox), handle)), Lifecycle.settling),
    inbox
  )
})

const traffic = (inbox: Queue.Queue<Request>) =>
  MainLoop.spawn(Effect.gen(function*() {
    for (let id = 1; !(yield* Lifecycle.isSettling); id++) {
      yield* Queue.offer(inbox, { id, path: id % 30 === 20 ? "/report" : "/orders" })
      yield* Effect.sleep("100 millis")
    }
  }))

const app = System.make((scope) =>
  Effect.gen(function*() {
    const inbox = yield* scope.child("server", server)
    yield* scope.child("traffic", traffic(inbox))
  })
)

const action = process.env["WATCHDOG_ACTION"] === "exit" ? "exit" : "log"
const toplevel = Toplevel.make("app", app)

// With the toplevel, the watchdog's reports show the tree, its stalls join the tree's events,
// and the observer's /healthz tells the last one.
// captureTimeout: reading the stack starts with Debugger.enable, which lists every loaded script to the watchdog;
// a loaded machine takes well over the default 500 ms for that.
const watchdog = Watchdog.layer({ threshold: "1 second", captureTimeout: "5 seconds", action, toplevel })
const observer = NodeObserver.layer(toplevel, { port: Number(process.env["ARBOR_OBSERVER_PORT"] ?? 0) })

NodeToplevel.runMain(toplevel, { layer: Layer.provideMerge(observer, watchdog) })
