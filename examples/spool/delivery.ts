/**
 * Delivery: a dispatcher reads stored messages in id order and hands them,
 * in batches, to a pool of delivery tasks; each task posts its batch to the
 * sink, retrying with backoff until the sink takes it, then removes the
 * messages from the store.
 *
 * The dispatcher starts from the beginning of the store at every start, so
 * messages that were stored but not delivered before a crash are queued
 * again. The pool has `concurrency` slots and the dispatcher waits for one
 * (the pool's `wait`): a slow sink makes the spool grow on disk, not in
 * memory. While more than a second's worth of messages (`rate`) waits, it
 * hands batches over at `rate` messages a second at most: after an outage of
 * the sink, the backlog drains at that pace instead of taking the CPU that
 * ingest needs to answer in time. In normal flow delivery keeps up, and
 * nothing is paced.
 */
import { Lifecycle, MainLoop, type Pool, System } from "@arbor/core"
import { Clock, Duration, Effect, Metric, Schedule } from "effect"
import type { Agent } from "node:http"
import { keepAlive, send } from "./http.ts"
import type { Batch, Store } from "./store.ts"

export interface DeliveryOptions {
  readonly sinkUrl: string
  readonly concurrency: number
  readonly batch: number
  /** Messages a second handed to delivery at most while a backlog drains (0: no limit). */
  readonly rate: number
}

/** `spool_messages_delivered_total`: messages the sink took. */
export const delivered = Metric.counter("spool_messages_delivered_total", {
  description: "Messages the sink took (and the spool then removed)",
  incremental: true
})

class SinkRefused extends Error {
  override readonly name = "SinkRefused"
}

// 100 ms doubling up to 5 s, jittered; for as long as it takes (the task stops when asked to settle).
const backoff = Schedule.min([Schedule.exponential("100 millis"), Schedule.spaced("5 seconds")]).pipe(Schedule.jittered)

const post = (agent: Agent, sinkUrl: string, batch: Batch) =>
  Effect.tryPromise({
    try: async (signal) => {
      const headers = { "content-type": "application/json" }
      const answer = await send(agent, `${sinkUrl}/deliver`, { method: "POST", headers, body: batch.json, signal })
      if (answer.status !== 200) throw new SinkRefused(`sink answered ${answer.status}`)
    },
    catch: (error) => error
  })

/** One delivery: post until the sink takes the batch, then remove it from the store (retried the same way). */
const deliver = (store: Store, agent: Agent, sinkUrl: string, batch: Batch) =>
  Effect.gen(function*() {
    const logged = (what: string) => Effect.tapError((error: unknown) => Effect.logDebug(`${what} failed, will retry`, error))
    yield* post(agent, sinkUrl, batch).pipe(logged("delivery"), Effect.retry(backoff))
    yield* store.remove(batch).pipe(logged("removal"), Effect.retry(backoff))
    yield* Metric.update(delivered, batch.count)
  })

/**
 * Paces a drain: the returned effect waits until `count` more messages may go at `rate` a second, while more than a
 * second's worth waits (`backlog()`), and at once otherwise, with no limit (`rate` 0), or after a quiet second.
 */
export const pacer = (backlog: () => number, rate: number) => {
  let free = 0
  return (count: number) =>
    rate <= 0 || backlog() <= rate ? Effect.void : Effect.flatMap(Clock.currentTimeMillis, (now) => {
      const at = Math.max(free, now - 1000)
      free = at + count * 1000 / rate
      return at > now ? Effect.sleep(at - now) : Effect.void
    })
}

/**
 * Reads the store in id order and hands each batch to the pool, waiting for a free slot: at most `concurrency`
 * batches are in delivery. Stopped anywhere (it is interrupted when asked to settle), what it read and did not hand
 * over stays in the store for the next start.
 */
const dispatcher = (store: Store, workers: Pool.Pool, agent: Agent, options: DeliveryOptions) =>
  MainLoop.interruptOnSettle(Effect.gen(function*() {
    const { sinkUrl, batch: batchSize } = options
    const pace = pacer(() => store.stats.spooled, options.rate)
    let cursor = 0
    while (true) {
      const batch = yield* store.read(cursor, batchSize).pipe(
        Effect.tapError((error) => Effect.logWarning("reading the spool failed; trying again", error)),
        Effect.retry(backoff)
      )
      if (batch === undefined) {
        yield* store.appendedAfter(cursor)
        continue
      }
      cursor = batch.last
      yield* pace(batch.count)
      // A task asked to settle leaves its batch in the spool: the next start delivers it.
      yield* workers.run(Effect.raceFirst(deliver(store, agent, sinkUrl, batch), Lifecycle.settling))
    }
  }))

/** The keep-alive connections to the sink, closed when the delivery subsystem stops (this child stops last). */
const connections = (sockets: number) =>
  Effect.acquireRelease(Effect.sync(() => keepAlive(sockets)), (agent) => Effect.sync(() => agent.destroy())).pipe(
    Effect.flatMap((agent) => MainLoop.run(Lifecycle.settling, agent))
  )

/** The delivery subsystem: the sink connections, the pool of delivery tasks, and the dispatcher feeding it. */
export const delivery = (store: Store, options: DeliveryOptions) =>
  System.make((scope) =>
    Effect.gen(function*() {
      const agent = yield* scope.child("connections", connections(options.concurrency))
      const workers = yield* scope.pool("workers", { maxChildren: options.concurrency, wait: "infinity", shutdown: Duration.seconds(2) })
      yield* scope.child("dispatcher", dispatcher(store, workers, agent, options))
    })
  )
