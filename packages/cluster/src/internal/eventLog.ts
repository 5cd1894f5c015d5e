import type { LifecycleEvent } from "@arbor/core"
import * as Effect from "effect/Effect"
import * as Exit from "effect/Exit"
import * as PubSub from "effect/PubSub"
import * as Stream from "effect/Stream"
import type * as Take from "effect/Take"

/**
 * The numbered events of a cluster singleton on this runner, across the
 * incarnations of its tree: one sequence, so that an `/events` client resumes
 * after `Last-Event-ID` whichever incarnation it was. The last `buffer`
 * events are kept for readers that resume; each reader may fall `buffer`
 * events behind before it loses its oldest (a `Gap` says so).
 */
export class EventLog {
  private last = 0
  private readonly pubsub: PubSub.PubSub<Take.Take<LifecycleEvent.Numbered>>

  constructor(buffer: number) {
    this.pubsub = Effect.runSync(PubSub.sliding<Take.Take<LifecycleEvent.Numbered>>({ capacity: buffer, replay: buffer }))
  }

  publish(event: LifecycleEvent.LifecycleEvent): Effect.Effect<void> {
    return Effect.asVoid(PubSub.publish(this.pubsub, [{ _tag: "Numbered", id: ++this.last, event }]))
  }

  /** The events after `after` (from now on without it); everything held after a `Gap` when `after` is of another sequence. */
  subscribe(after: number | undefined): Stream.Stream<LifecycleEvent.Numbered> {
    return Stream.suspend(() => {
      const from = after === undefined ? this.last : after > this.last ? 0 : after
      return Stream.filter(Stream.fromPubSubTake(this.pubsub), (numbered) => numbered.id > from)
    })
  }

  eventsAfter(after: number | undefined): Stream.Stream<LifecycleEvent.Numbered | LifecycleEvent.Gap> {
    return Stream.mapAccum(this.subscribe(after), () => after, (had, numbered): readonly [number, ReadonlyArray<LifecycleEvent.Numbered | LifecycleEvent.Gap>] => {
      if (had === undefined || numbered.id === had + 1) return [numbered.id, [numbered]]
      const missed = numbered.id > had ? numbered.id - had - 1 : numbered.id - 1
      return [numbered.id, [{ _tag: "Gap", missed, after: had }, numbered]]
    })
  }

  /** The singleton has left this runner: every reader's stream ends once it has read what it was sent. */
  end(): void {
    Effect.runSync(PubSub.publish(this.pubsub, Exit.void))
  }
}
