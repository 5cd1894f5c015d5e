import { describe, expectTypeOf, it } from "@effect/vitest"
import type { Errors, RestartPolicy } from "@arbor/core"
import { MainLoop, System, Toplevel } from "@arbor/core"
import { Context, Effect, Option } from "effect"

class Database extends Context.Service<Database, { readonly url: string }>()("test/Database") {}

const needsDatabase = Effect.gen(function*() {
  const db = yield* Database
  return yield* MainLoop.spawn(Effect.never, db.url)
})

class App extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const url = yield* scope.child("db", needsDatabase)
      expectTypeOf(url).toEqualTypeOf<string>()
    })
  }
}

describe("types", () => {
  it("a permanent child's declaration gives its value; a transient or temporary one an Option", () => {
    System.make((scope) =>
      Effect.gen(function*() {
        const loop = MainLoop.spawn(Effect.never, 1)
        expectTypeOf(yield* scope.child("a", loop)).toEqualTypeOf<number>()
        expectTypeOf(yield* scope.child("b", loop, { restart: "permanent" })).toEqualTypeOf<number>()
        expectTypeOf(yield* scope.child("c", loop, { shutdown: "1 second" })).toEqualTypeOf<number>()
        expectTypeOf(yield* scope.child("d", loop, { restart: "transient" })).toEqualTypeOf<Option.Option<number>>()
        expectTypeOf(yield* scope.child("e", loop, { restart: "temporary" })).toEqualTypeOf<Option.Option<number>>()
        const fromConfig: RestartPolicy.RestartPolicy = "transient" as RestartPolicy.RestartPolicy
        expectTypeOf(yield* scope.child("f", loop, { restart: fromConfig })).toEqualTypeOf<Option.Option<number>>()
      })
    )
  })

  it("the services a tree needs are inferred from start and required by Toplevel.start()", () => {
    const toplevel = Toplevel.make("app", new App())
    expectTypeOf(toplevel.start()).toEqualTypeOf<Effect.Effect<void, Errors.ToplevelError, Database>>()
    // @ts-expect-error run() needs every service provided: this tree needs Database
    void (() => toplevel.run())
    const provided = toplevel.start().pipe(Effect.provideService(Database, { url: "postgres://localhost" }))
    expectTypeOf(provided).toEqualTypeOf<Effect.Effect<void, Errors.ToplevelError, never>>()
  })

  it("a subsystem's services become its parent's", () => {
    const parent = System.make((scope) => scope.system("app", new App()))
    expectTypeOf(Toplevel.make("top", parent).start()).toEqualTypeOf<Effect.Effect<void, Errors.ToplevelError, Database>>()
  })

  it("Lifecycle and Scope are provided by the framework, not required", () => {
    const tree = System.make((scope) => scope.child("x", MainLoop.fromPromise(async () => {})))
    expectTypeOf(Toplevel.make("top", tree).start()).toEqualTypeOf<Effect.Effect<void, Errors.ToplevelError, never>>()
    void Toplevel.make("top", tree).run
  })
})
