/**
 * Crashy: a shop whose payment gateway fails at random.
 *
 *   shop                      toplevel, at most 8 restarts within a minute
 *   ├── config                permanent: loads settings, hands them on
 *   ├── payments              subsystem, at most 2 restarts within 10 seconds
 *   │   ├── ledger            permanent
 *   │   └── gateway           permanent, fails now and then
 *   └── api                   permanent: serves requests until asked to settle
 *
 * Watch the gateway crash and `payments` restart it (with the ledger: the
 * strategy is one_for_all). When it crashes a third time within 10 seconds,
 * `payments` gives up (TooManyRestarts) and `shop` restarts all its children.
 * Press Ctrl-C for a graceful stop, in reverse start order; twice to force it.
 *
 * Meanwhile, watch it over HTTP (the URL is printed at start): `curl -N
 * localhost:9464/events` streams the lifecycle events, `/tree` shows the
 * tree, `/readyz` answers 503 while `shop` restarts, `/metrics` counts it all.
 *
 *   npm start                          (CRASHY_SEED=2 npm start: the same crashes every run)
 *   ARBOR_OBSERVER_PORT=0 npm start    (any free port; 9464 by default)
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { NodeObserver, NodeToplevel } from "@arbor/node"
import { Effect, Layer, Logger, Random, References } from "effect"

interface Settings {
  /** The chance that a payment fails, every 400 ms. */
  readonly failureRate: number
  /** With a seed, every gateway incarnation fails at the same moments: a repeatable run. */
  readonly seed: string | undefined
}

/** A worker that logs its lifecycle and ends when asked to settle. */
const service = (name: string, work: Effect.Effect<void, Error> = Effect.never) =>
  Effect.gen(function*() {
    yield* Effect.log(`${name}: up`)
    return yield* MainLoop.spawn(
      Effect.raceFirst(work, Effect.andThen(Lifecycle.settling, Effect.log(`${name}: settling, bye`)))
    )
  })

const config = Effect.gen(function*() {
  yield* Effect.log("config: loaded")
  const settings: Settings = { failureRate: 0.15, seed: process.env["CRASHY_SEED"] }
  return yield* MainLoop.spawn(Lifecycle.settling, settings)
})

const gateway = (settings: Settings) => {
  const payments = Effect.forever(Effect.gen(function*() {
    yield* Effect.sleep("400 millis")
    if ((yield* Random.next) < settings.failureRate) {
      return yield* Effect.fail(new Error("payment provider timed out"))
    }
  }))
  return service("gateway", settings.seed === undefined ? payments : Random.withSeed(payments, settings.seed))
}

class Payments extends System.System {
  readonly settings: Settings
  constructor(settings: Settings) {
    super()
    this.settings = settings
  }
  start(scope: System.Scope) {
    const settings = this.settings
    return Effect.gen(function*() {
      yield* scope.child("ledger", service("ledger"))
      yield* scope.child("gateway", gateway(settings))
    })
  }
}

class Shop extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const settings = yield* scope.child("config", config)
      yield* scope.system("payments", new Payments(settings), { intensity: { maxRestarts: 2, within: "10 seconds" } })
      yield* scope.child("api", service("api"), { shutdown: "2 seconds" })
    })
  }
}

const toplevel = Toplevel.make("shop", new Shop(), { intensity: { maxRestarts: 8, within: "1 minute" } })

// Debug level shows every child starting and stopping, as well as the restarts.
const logging = Layer.merge(Logger.layer([Logger.consolePretty()]), Layer.succeed(References.MinimumLogLevel, "Debug"))

// The observer logs through the same logger, so its URL shows at start with the rest.
const observer = NodeObserver.layer(toplevel, { port: Number(process.env["ARBOR_OBSERVER_PORT"] ?? NodeObserver.defaultPort) })

NodeToplevel.runMain(toplevel, { hardDeadline: "30 seconds", layer: Layer.provideMerge(observer, logging) })
