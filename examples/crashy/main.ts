/**
 * Crashy: a shop whose payment provider fails now and then, and goes down for
 * a few seconds every 75 seconds. It runs until you stop it.
 *
 *   shop                      toplevel, one_for_one: at most 6 restarts a minute, backoff 2 s doubling to 30 s
 *   ├── provider              the payment provider (simulated): settings and its outages, handed on
 *   ├── books                 the shop's books: how many payments were taken, handed on
 *   ├── payments              subsystem, one_for_all: at most 3 restarts within 10 s, backoff 200 ms doubling
 *   │   ├── ledger            writes each payment into the books
 *   │   └── gateway           charges the provider every 400 ms; crashes when a charge fails
 *   └── reporter              prints the tree after each burst of lifecycle events
 *
 * Watch the gateway crash and `payments` restart it with the ledger (after a
 * backoff that grows with each restart). During an outage every charge fails:
 * one restart too many, and `payments` gives up (`TooManyRestarts`). `shop`
 * absorbs that: it restarts `payments` alone, after its own backoff. That
 * backoff spaces its restarts so that it never reaches its limit: the shop
 * runs until Ctrl-C (a graceful stop, in reverse start order; twice to force it).
 *
 * Meanwhile, watch it in a browser (the URL is printed at start): the tree,
 * its events and the process, live. Or with curl: `curl -N
 * localhost:9464/events` streams the lifecycle events, `/tree` shows the
 * tree, `/readyz` answers whether it can take traffic, `/metrics` counts it all.
 *
 *   npm start                              (every lifecycle event, one line each)
 *   CRASHY_LOG=debug npm start             (every child's start and stop too)
 *   CRASHY_SEED=7 npm start                (the same failures every run)
 *   CRASHY_FAILURE_RATE=0.5 npm start      (a charge fails half the time; default 0.04)
 *   ARBOR_OBSERVER_PORT=0 npm start        (any free port; 9464 by default)
 *   ARBOR_OBSERVER_TOKEN=$(openssl rand -hex 16) npm start
 *                                          (the page's terminate, restart and shutdown buttons take this token;
 *                                           ARBOR_OBSERVER_TOKEN_NAME names who uses it, "operator" by default)
 */
import { Lifecycle, MainLoop, System, Toplevel, type TreeSnapshot } from "@arbor/core"
import { NodeObserver, NodeToplevel } from "@arbor/node"
import { Cause, Effect, Layer, Logger, Queue, Random, Ref, References, Schedule, Stream } from "effect"

/** The simulated payment provider, shared by every incarnation of the gateway. */
interface Provider {
  /** A charge: fails now and then, and always while the provider is down. */
  readonly charge: Effect.Effect<void, Error>
}

const failureRate = Number(process.env["CRASHY_FAILURE_RATE"] ?? 0.04)
const seed = process.env["CRASHY_SEED"]

/**
 * The provider: its random failures come from one generator for the whole
 * run (seeded with CRASHY_SEED for a repeatable run); its main loop takes it
 * down for 4 seconds every 75 seconds, the first time 25 seconds in.
 */
const provider = Effect.gen(function*() {
  const current = Effect.gen(function*() {
    return yield* Random.Random
  })
  const random = yield* (seed === undefined ? current : Random.withSeed(current, seed))
  let down = false
  const charge = Effect.gen(function*() {
    if (down) return yield* Effect.fail(new Error("payment provider is down"))
    if ((yield* Effect.provideService(Random.next, Random.Random, random)) < failureRate) {
      return yield* Effect.fail(new Error("payment provider timed out"))
    }
  })
  const outage = Effect.gen(function*() {
    yield* Effect.log("provider: down for 4s (an outage, as every 75s)")
    down = true
    yield* Effect.sleep("4 seconds")
    down = false
    yield* Effect.log("provider: back up")
  })
  const outages = Effect.andThen(Effect.sleep("25 seconds"), Effect.repeat(outage, Schedule.spaced("71 seconds")))
  return yield* MainLoop.interruptOnSettle(outages, { charge } satisfies Provider)
})

/** The books: a count of payments, kept by the shop so that it survives the payments' restarts. */
const books = Effect.flatMap(Ref.make(0), (taken) => MainLoop.run(Lifecycle.settling, taken))

/** Takes payments from its inbox (its value, for the gateway) and writes them into the books. */
const ledger = (taken: Ref.Ref<number>) =>
  Effect.flatMap(Queue.unbounded<number>(), (inbox) =>
    MainLoop.interruptOnSettle(Effect.forever(Effect.andThen(Queue.take(inbox), Ref.update(taken, (n) => n + 1))), inbox))

/** Charges the provider every 400 ms and hands each payment to the ledger; a failed charge crashes it. */
const gateway = (provider: Provider, ledger: Queue.Queue<number>) =>
  MainLoop.interruptOnSettle(Effect.forever(Effect.gen(function*() {
    yield* Effect.sleep("400 millis")
    yield* provider.charge
    yield* Queue.offer(ledger, 1)
  })))

/** A subsystem gets what it needs from earlier siblings through its constructor. */
class Payments extends System.System {
  readonly provider: Provider
  readonly taken: Ref.Ref<number>
  constructor(provider: Provider, taken: Ref.Ref<number>) {
    super()
    this.provider = provider
    this.taken = taken
  }
  start(scope: System.Scope) {
    const { provider, taken } = this
    return Effect.gen(function*() {
      const inbox = yield* scope.child("ledger", ledger(taken))
      yield* scope.child("gateway", gateway(provider, inbox))
    })
  }
}

/** `name state (n restarts) [children]`, one line for the whole tree. */
const render = (node: TreeSnapshot.Node): string => {
  const restarts = node.restarts === 0 ? "" : ` (${node.restarts} ${node.restarts === 1 ? "restart" : "restarts"})`
  const children = node.children === undefined ? "" : ` [${node.children.map(render).join(", ")}]`
  return `${node.name} ${node.state}${restarts}${children}`
}

/** Once the events of a crash and its restarts have passed, prints the tree and the payments taken. */
const reporter = (taken: Ref.Ref<number>) =>
  MainLoop.interruptOnSettle(toplevel.changes.pipe(
    Stream.debounce("500 millis"),
    Stream.runForEach((snapshot) =>
      Effect.flatMap(Ref.get(taken), (n) => Effect.log(`tree: ${render(snapshot.root)}; ${n} ${n === 1 ? "payment" : "payments"} taken`)))
  ))

class Shop extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const settings = yield* scope.child("provider", provider)
      const taken = yield* scope.child("books", books)
      yield* scope.system("payments", new Payments(settings, taken), {
        intensity: { maxRestarts: 3, within: "10 seconds" },
        backoff: Schedule.exponential("200 millis")
      })
      yield* scope.child("reporter", reporter(taken))
    })
  }
}

// Restarts of `payments` are spaced by the backoff (2, 4, 8, 16, then 30 s): within any minute there are at most 5
// of them, so the shop never reaches its limit of 6, however often `payments` gives up.
const toplevel: Toplevel.Toplevel<never> = Toplevel.make("shop", new Shop(), {
  strategy: "one_for_one",
  intensity: { maxRestarts: 6, within: "1 minute" },
  backoff: Schedule.min([Schedule.exponential("2 seconds"), Schedule.spaced("30 seconds")])
})

/** One line per log entry: the time, the level, the message and, for a failure, its cause in one line. */
const oneLine = Logger.make(({ cause, date, logLevel, message }) => {
  const text = (Array.isArray(message) ? message : [message]).map(String).join(" ")
  const error = cause.reasons.length === 0 ? undefined : Cause.squash(cause)
  const reason = error instanceof Error ? `${error.name}: ${error.message}` : error === undefined ? "" : String(error)
  const time = date.toTimeString().slice(0, 8) + `.${String(date.getMilliseconds()).padStart(3, "0")}`
  // An escalation's message already tells its cause.
  const because = reason === "" || text.includes(reason.slice(reason.indexOf(": ") + 2)) ? "" : ` — ${reason.split("\n", 1)[0]}`
  console.log(`${time} ${logLevel.toUpperCase().padEnd(5)} ${text}${because}`)
})

const logging = Layer.merge(
  Logger.layer([oneLine]),
  Layer.succeed(References.MinimumLogLevel, process.env["CRASHY_LOG"] === "debug" ? "Debug" : "Info")
)

// Control actions are off unless a token is given; its name is who asked, in the events and the log.
const token = process.env["ARBOR_OBSERVER_TOKEN"]
const control = token === undefined ? {} : { control: { tokens: { [process.env["ARBOR_OBSERVER_TOKEN_NAME"] ?? "operator"]: token } } }

// The observer logs through the same logger, so its URL shows at start with the rest.
const observer = NodeObserver.layer(toplevel, { port: Number(process.env["ARBOR_OBSERVER_PORT"] ?? NodeObserver.defaultPort), ...control })

NodeToplevel.runMain(toplevel, { hardDeadline: "30 seconds", layer: Layer.provideMerge(observer, logging) })
