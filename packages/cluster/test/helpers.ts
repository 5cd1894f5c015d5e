/**
 * A runner alone in an in-memory cluster whose lease the test takes away and
 * gives back, as when the shards are rebalanced or the store stops answering.
 */
import { ClusterRunner } from "@arbor/cluster"
import { Duration, Effect, Layer, Option } from "effect"
import { MessageStorage, RunnerHealth, Runners, RunnerStorage, Sharding, ShardingConfig } from "effect/cluster"
import * as Fencing from "../src/internal/fencing.ts"

export const movableRunner = () => {
  let held = true
  const storage = Layer.effect(RunnerStorage.RunnerStorage)(Effect.map(RunnerStorage.makeMemory, (memory) => ({
    ...memory,
    acquire: (address, shards) => held ? memory.acquire(address, shards) : Effect.succeed([]),
    refresh: (address, shards) => held ? memory.refresh(address, shards) : Effect.succeed([])
  })))
  const sharding = Sharding.layer.pipe(
    Layer.provide(Runners.layerNoop),
    Layer.provideMerge(MessageStorage.layerNoop),
    Layer.provide([storage, RunnerHealth.layerNoop]),
    Layer.provide(ShardingConfig.layer({ shardLockRefreshInterval: "1 second", shardLockExpiration: "3 seconds" }))
  )
  const layer = Layer.effect(ClusterRunner.ClusterRunner)(Effect.gen(function*() {
    const joined = { sharding: yield* Sharding.Sharding, fencing: Fencing.memory() }
    return {
      address: "localhost:34431",
      lease: Duration.seconds(3),
      renewEvery: Duration.seconds(1),
      status: Effect.succeed({ _tag: "Joined", since: 0 } as const),
      joined: Effect.succeed(joined),
      renewal: Effect.succeed(Option.none())
    }
  })).pipe(Layer.provide(sharding))
  return {
    layer,
    lose: () => {
      held = false
    },
    regain: () => {
      held = true
    }
  }
}
