/**
 * Delivery: a dispatcher reads stored messages in id order and hands them,
 * in batches, to a pool of delivery tasks; each task posts its batch to the
 * sink, retrying with backoff until the sink takes it, then removes the
 * messages from the store.
 *
 * The dispatcher starts from the beginning of the store at every start, so
 * messages that were stored but not delivered before a crash are queued
 * again. At most `concurrency` batches are in flight: a slow sink makes the
 * spool grow on disk, not in memory.
 */
import { Lifecycle, MainLoop, type Pool, System } from "@arbor/core"
import { Duration, Effect, Metric, Schedule, Semaphore } from "effect"
import type { Store, Stored } from "./store.ts"

export interface DeliveryOptions {
  readonly sinkUrl: string
  readonly concurrency: number
  readonly batch: number
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

const post = (sinkUrl: string, batch: ReadonlyArray<Stored>) =>
  Effect.tryPromise({
    try: async (signal) => {
      const response = await fetch(`${sinkUrl}/deliver`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(batch),
        signal
      })
      await response.arrayBuffer()
      if (!response.ok) throw new SinkRefused(`sink answered ${response.status}`)
    },
    catch: (error) => error
  })

/** One delivery: post until the sink takes the batch, then remove it from the store (retried the same way). */
const deliver = (store: Store, sinkUrl: string, batch: ReadonlyArray<Stored>) =>
  Effect.gen(function*() {
    const logged = (what: string) => Effect.tapError((error: unknown) => Effect.logDebug(`${what} failed, will retry`, error))
    yield* post(sinkUrl, batch).pipe(logged("delivery"), Effect.retry(backoff))
    yield* store.remove({ first: batch[0]!.id, last: batch[batch.length - 1]!.id }).pipe(logged("removal"), Effect.retry(backoff))
    yield* Metric.update(delivered, batch.length)
  })

const dispatcher = (store: Store, workers: Pool.Pool, options: DeliveryOptions) =>
  MainLoop.run(Effect.gen(function*() {
    const lifecycle = yield* Lifecycle.Lifecycle
    const slots = yield* Semaphore.make(options.concurrency)
    let cursor = 0
    while (true) {
      const turn = yield* Effect.raceFirst(Effect.as(slots.take(1), true), Effect.as(lifecycle.settling, false))
      // A free slot wins a race with a settle request that is already in: look again.
      if (!turn || (yield* lifecycle.isSettling)) return
      const batch = yield* store.read(cursor, options.batch).pipe(
        Effect.tapError((error) => Effect.logWarning("reading the spool failed; trying again", error)),
        Effect.retry(backoff)
      )
      if (batch.length === 0) {
        yield* slots.release(1)
        yield* Effect.raceFirst(store.appendedAfter(cursor), lifecycle.settling)
        continue
      }
      cursor = batch[batch.length - 1]!.id
      yield* workers.run(Effect.ensuring(deliver(store, options.sinkUrl, batch), slots.release(1)))
    }
  }))

/** The delivery subsystem: the pool of delivery tasks, then the dispatcher feeding it. */
export const delivery = (store: Store, options: DeliveryOptions) =>
  System.make((scope) =>
    Effect.gen(function*() {
      const workers = yield* scope.pool("workers", { shutdown: Duration.seconds(2) })
      yield* scope.child("dispatcher", dispatcher(store, workers, options))
    })
  )
