/**
 * The worked example of docs/testing.md, as a real test: keep the two the same.
 */
import { describe, expect, it } from "@effect/vitest"
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { TestTree } from "@arbor/testing"
import { Duration, Effect, Schedule } from "effect"

// A worker that runs until it is asked to settle.
const worker = MainLoop.spawn(Lifecycle.settling)

class Payments extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function* () {
      yield* scope.child("ledger", worker)
      yield* scope.child("gateway", worker)
    })
  }
}

class Shop extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function* () {
      yield* scope.system("payments", new Payments(), {
        strategy: "rest_for_one",
        backoff: Schedule.exponential("1 second"),
        intensity: { maxRestarts: 2, within: "1 minute" }
      })
      yield* scope.child("api", worker)
    })
  }
}

describe("shop", () => {
  it.effect("a gateway crash restarts the gateway after a one-second backoff, and nothing else", () =>
    Effect.gen(function* () {
      const tree = yield* TestTree.start(Toplevel.make("shop", new Shop()))
      yield* tree.crash("shop/payments/gateway")
      yield* tree.expectShape({ payments: "restarting", api: "running" })
      const waited = yield* tree.advanceUntil("shop/payments/gateway", "running")
      expect(Duration.toMillis(waited)).toBe(1000)
      yield* tree.expectShape({
        payments: { ledger: "running restarts=0", gateway: "running restarts=1" },
        api: "running restarts=0"
      })
      yield* tree.expectEvents([
        "ChildExited shop/payments/gateway failure restart",
        "SystemRestarting shop/payments shop/payments/gateway rest_for_one 1/2 1000ms",
        "ChildStarted shop/payments/gateway"
      ])
    }))

  it.effect("a third crash within a minute escalates: the shop restarts payments and the api", () =>
    Effect.gen(function* () {
      const tree = yield* TestTree.start(Toplevel.make("shop", new Shop()))
      for (let crash = 1; crash <= 2; crash++) {
        yield* tree.crash("shop/payments/gateway", "defect")
        yield* tree.advanceUntil("shop/payments/gateway", "running")
      }
      yield* tree.crash("shop/payments/gateway", "defect")
      yield* tree.expectEvents([
        "Escalated shop/payments TooManyRestarts",
        "SystemRestarting shop shop/payments one_for_all 1/3 0ms",
        "ChildStarted shop/api"
      ])
      yield* tree.expectShape({ payments: "running restarts=1", api: "running restarts=1" })
    }))
})
