/**
 * One runner of a cluster whose `ledger` tree runs on exactly one runner at a
 * time, and moves when that runner dies.
 *
 *   ledger                  cluster singleton (ClusterToplevel.singleton)
 *   ├── database            a connection to the cluster's database, where the ledger is kept
 *   ├── clerk               claims the ledger with its fencing token, then issues an invoice every 200 ms
 *   └── auditor             says which fencing token this runner works with, every 2 seconds
 *
 * Run three of them, each in its terminal (see README.md), then kill -9 the
 * one that runs the tree:
 *
 *   node --conditions=@arbor/source examples/cluster/main.ts --port 7001 --observer 9501
 *
 * Options: `--port` (the runner's, required), `--observer` (its HTTP
 * endpoints' port, default 0: a free one), `--store` (`cluster.db`, the
 * default, a SQLite file; or a `postgres://` URL), `--lease` (default
 * "10 seconds").
 */
import { ClusterRunner, ClusterToplevel, Ownership, Storage } from "@arbor/cluster"
import { Lifecycle, MainLoop, System } from "@arbor/core"
import { NodeObserver, NodeToplevel } from "@arbor/node"
import { Context, type Duration, Effect, Layer, Schedule } from "effect"
import { SqlClient } from "effect/sql"
import { parseArgs } from "node:util"
import * as Ledger from "./ledger.ts"
import { storageOf } from "./storage.ts"

const { values: args } = parseArgs({
  options: {
    port: { type: "string" },
    observer: { type: "string", default: "0" },
    store: { type: "string", default: "cluster.db" },
    lease: { type: "string", default: "10 seconds" }
  }
})

const storage = storageOf(args.store)

/** The ledger, over a connection of its own to the cluster's database, held while the child runs. */
const database = Effect.gen(function*() {
  const sql = Context.get(yield* Layer.build(Storage.layer(storage)), SqlClient.SqlClient)
  // Another runner may hold the database's write lock a moment (SQLite): try again a few times before failing.
  const ledger = yield* Ledger.make(sql).pipe(Effect.retry({ times: 10, schedule: Schedule.spaced("200 millis") }))
  return yield* MainLoop.interruptOnSettle(Effect.never, ledger)
})

/**
 * Claims the ledger, then issues invoices with its fencing token until asked to settle. A refused write is logged;
 * so is a database that does not answer: the clerk waits for it (the cluster stops the tree if the outage outlasts
 * the lease).
 */
const clerk = (ledger: Ledger.Ledger["Service"]) => Effect.gen(function*() {
  const { fencingToken, runner } = yield* Ownership.Ownership
  yield* ledger.claim(fencingToken).pipe(Effect.retry({ times: 10, schedule: Schedule.spaced("200 millis"), while: (error) => error._tag === "SqlError" }))
  return yield* MainLoop.spawn(Effect.gen(function*() {
    while (!(yield* Lifecycle.isSettling)) {
      yield* ledger.issue(fencingToken, runner).pipe(
        Effect.flatMap((number) => Effect.log(`invoice ${number} issued with fencing token ${fencingToken}`)),
        Effect.catchTag("StaleToken", (refused) => Effect.logWarning(`invoice refused: ${refused.message}`)),
        Effect.catchTag("SqlError", (error) => Effect.logWarning(`the ledger does not answer: ${error.message}`))
      )
      yield* Effect.sleep("200 millis")
    }
  }))
})

const auditor = MainLoop.interruptOnSettle(Effect.gen(function*() {
  const { fencingToken } = yield* Ownership.Ownership
  while (true) {
    yield* Effect.sleep("2 seconds")
    yield* Effect.log(`audit: this runner issues invoices with fencing token ${fencingToken}`)
  }
}))

class LedgerTree extends System.System<Ownership.Ownership> {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const ledger = yield* scope.child("database", database)
      yield* scope.child("clerk", clerk(ledger), { shutdown: "2 seconds" })
      yield* scope.child("auditor", auditor)
    })
  }
}

const ledger = ClusterToplevel.singleton("ledger", new LedgerTree(), { intensity: { maxRestarts: 3, within: "5 seconds" } })

const runner = ClusterRunner.layer({ port: Number(args.port), storage, lease: args.lease as Duration.Input })
NodeToplevel.runMain(ledger, { layer: Layer.merge(runner, NodeObserver.layer(ledger, { port: Number(args.observer) })) })
