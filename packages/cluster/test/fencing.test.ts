/**
 * Fencing tokens in the SQL store (SQLite here; PostgreSQL runs the same
 * statements in failover.postgres.test.ts): granted only to the runner whose
 * lease on the singleton's shard is live in effect/cluster's lock table, one
 * greater each time, and a heartbeat tells an owner that was superseded.
 */
import { SqliteClient } from "@arbor/cluster"
import { describe, expect, it } from "@effect/vitest"
import { Duration, Effect, Option } from "effect"
import { RunnerAddress, ShardId, ShardingConfig, SqlRunnerStorage } from "effect/cluster"
import { Reactivity } from "effect/reactivity"
import { SqlClient } from "effect/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import * as Fencing from "../src/internal/fencing.ts"

const lease = Duration.seconds(3)
const shard = ShardId.make("default", 7)
const a = RunnerAddress.make("127.0.0.1", 7001)
const b = RunnerAddress.make("127.0.0.1", 7002)

describe("fencing tokens in the SQL store", () => {
  it.effect("are granted only under a live lease, grow by one, and tell a superseded owner", () =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* SqliteClient.make({ filename: join(mkdtempSync(join(tmpdir(), "arbor-fencing-")), "cluster.db") })
      const leases = yield* SqlRunnerStorage.make({ prefix: Fencing.tablePrefix }).pipe(
        Effect.provideService(SqlClient.SqlClient, sql),
        Effect.provide(ShardingConfig.layer({ shardLockExpiration: lease, shardLockDisableAdvisory: true }))
      )
      const fencing = yield* Fencing.sql(sql, lease)
      const grant = (runner: RunnerAddress.RunnerAddress, now: number) => fencing.grant("scheduler", shard.toString(), `${runner.host}:${runner.port}`, now)

      // No lease, no token.
      expect(yield* grant(a, 1)).toEqual(Option.none())
      expect(yield* fencing.read("scheduler")).toEqual(Option.none())

      expect(yield* leases.acquire(a, [shard])).toEqual([shard])
      const first = yield* grant(a, 10)
      expect(first).toEqual(Option.some({ fencingToken: 1, previous: Option.none() }))
      // b cannot take the lease while a holds it, so b gets no token.
      expect(yield* leases.acquire(b, [shard])).toEqual([])
      expect(yield* grant(b, 11)).toEqual(Option.none())
      expect(yield* fencing.heartbeat("scheduler", 1, 12)).toBe(true)

      // a lets go; b takes the lease and the next token, and learns who had it before.
      yield* leases.release(a, shard)
      expect(yield* leases.acquire(b, [shard])).toEqual([shard])
      const second = yield* grant(b, 20)
      expect(second).toEqual(Option.some({
        fencingToken: 2,
        previous: Option.some({ fencingToken: 1, owner: "127.0.0.1:7001", acquiredAt: 10, lastSeen: 12, released: false })
      }))
      // a, resuming with token 1, is told it was superseded; its release changes nothing.
      expect(yield* fencing.heartbeat("scheduler", 1, 21)).toBe(false)
      yield* fencing.release("scheduler", 1, 22)
      expect(Option.map(yield* fencing.read("scheduler"), (row) => [row.fencingToken, row.owner, row.released])).toEqual(
        Option.some([2, "127.0.0.1:7002", false])
      )
      yield* fencing.release("scheduler", 2, 23)
      expect(Option.map(yield* fencing.read("scheduler"), (row) => [row.lastSeen, row.released])).toEqual(Option.some([23, true]))
    }).pipe(Effect.provide(Reactivity.layer))))
})
