/**
 * Hello, Arbor: spry's "Hello" program, ported.
 *
 * A permanent receiver hands its queue back to the system; a permanent sender,
 * declared after it, gets that queue and sends greetings until it is asked to
 * settle. The tree stops by itself after 600 ms, or when you press Ctrl-C.
 *
 *   npm run example:hello
 */
import { Lifecycle, MainLoop, System, Toplevel } from "@arbor/core"
import { Console, Effect, Queue } from "effect"

const receiver = Effect.gen(function*() {
  const inbox = yield* Queue.unbounded<string>()
  const receive = Effect.forever(Effect.flatMap(Queue.take(inbox), (message) => Console.log(`Received: ${message}`)))
  // Receive until asked to settle; the value handed back is the inbox.
  return yield* MainLoop.spawn(Effect.raceFirst(receive, Lifecycle.settling), inbox)
})

const sender = (inbox: Queue.Queue<string>) =>
  Effect.gen(function*() {
    const lifecycle = yield* Lifecycle.Lifecycle
    return yield* MainLoop.spawn(Effect.gen(function*() {
      for (let i = 0; !(yield* lifecycle.isSettling); i++) {
        yield* Queue.offer(inbox, ["Hello", "from", "Arbor"][i % 3]!)
        yield* Effect.sleep("100 millis")
      }
    }))
  })

class HelloWorld extends System.System {
  start(scope: System.Scope) {
    return Effect.gen(function*() {
      const inbox = yield* scope.child("receiver", receiver)
      yield* scope.child("sender", sender(inbox), { restart: "permanent", shutdown: "2 seconds" })
    })
  }
}

const toplevel = Toplevel.make("hello", new HelloWorld())

// The shutdown token can be signalled from any plain callback.
process.once("SIGINT", () => toplevel.shutdownToken.signal())
setTimeout(() => toplevel.shutdownToken.signal(), 600).unref()

toplevel.run().then(
  () => console.log("normal app termination"),
  (error: Error) => {
    console.log(`abnormal app termination: ${error.message}`)
    process.exitCode = 1
  }
)
