/**
 * A program of a project that installed Arbor from npm, as a newcomer writes
 * it: a tree run by `NodeToplevel.runMain`, with the observer and the
 * watchdog. `scripts/packed.test.ts` compiles it with `tsc` against the packed
 * packages and runs it with plain `node`.
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { NodeObserver, NodeToplevel, Watchdog } from "@arbor/node"
import { TestTree } from "@arbor/testing"
import { Console, Effect, Layer } from "effect"

const polite = (name: string) =>
  Effect.andThen(
    Console.log(`${name} ready`),
    MainLoop.spawn(Effect.andThen(Lifecycle.settling, Console.log(`${name} settled`)))
  )

class App extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      yield* scope.child("first", polite("first"))
      yield* scope.child("last", polite("last"))
    })
  }
}

const toplevel = Toplevel.make("consumer", new App())

// The test kit's types resolve too (it is not run here).
export const test: typeof TestTree.start = TestTree.start

NodeToplevel.runMain(toplevel, {
  layer: NodeObserver.layer(toplevel, { port: 0 }).pipe(Layer.provideMerge(Watchdog.layer({ toplevel })))
})
