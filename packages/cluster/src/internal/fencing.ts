import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Option from "effect/Option"
import type { SqlClient } from "effect/sql"
import type { SqlError } from "effect/sql/SqlError"

/** Effect's cluster tables share this prefix with Arbor's own: `<prefix>_runners`, `<prefix>_locks`, `<prefix>_singletons`. */
export const tablePrefix = "arbor_cluster"

/** A singleton's row in the store: its fencing token (the last one granted), the runner it went to and its times. */
export interface Incumbent {
  readonly fencingToken: number
  readonly owner: string
  readonly acquiredAt: number
  /** The owner's last sign of life: its last heartbeat, or when it let go. */
  readonly lastSeen: number
  readonly released: boolean
}

/** What a grant hands the new owner: its token, and who had the singleton before (none the first time). */
export interface Grant {
  readonly fencingToken: number
  readonly previous: Option.Option<Incumbent>
}

/**
 * The fencing tokens of a cluster's singletons, kept in its store. A token is
 * granted only to the runner that holds the lease of the singleton's shard at
 * that moment, as the store sees it: tokens only grow, in the order the lease
 * went from runner to runner, so a write carrying an older token comes from
 * an owner that has since lost the lease.
 */
export interface Fencing {
  /** The next token for `name`, if `runner` holds the lease of `shard` now. */
  readonly grant: (name: string, shard: string, runner: string, now: number) => Effect.Effect<Option.Option<Grant>, SqlError>
  /** Records a sign of life of the owner with `token`; false when a newer token was granted since. */
  readonly heartbeat: (name: string, token: number, now: number) => Effect.Effect<boolean, SqlError>
  /** Records that the owner with `token` has let go. */
  readonly release: (name: string, token: number, now: number) => Effect.Effect<void, SqlError>
  /** The singleton's row, if a token was ever granted. */
  readonly read: (name: string) => Effect.Effect<Option.Option<Incumbent>, SqlError>
}

/** A fencing store for a single in-memory runner (tests): it always holds the lease. */
export const memory = (): Fencing => {
  const rows = new Map<string, Incumbent>()
  return {
    grant: (name, _shard, runner, now) =>
      Effect.sync(() => {
        const previous = Option.fromNullishOr(rows.get(name))
        const fencingToken = Option.match(previous, { onNone: () => 1, onSome: (row) => row.fencingToken + 1 })
        rows.set(name, { fencingToken, owner: runner, acquiredAt: now, lastSeen: now, released: false })
        return Option.some({ fencingToken, previous })
      }),
    heartbeat: (name, token, now) =>
      Effect.sync(() => {
        const row = rows.get(name)
        if (row?.fencingToken !== token) return false
        rows.set(name, { ...row, lastSeen: now })
        return true
      }),
    release: (name, token, now) =>
      Effect.sync(() => {
        const row = rows.get(name)
        if (row?.fencingToken === token) rows.set(name, { ...row, lastSeen: now, released: true })
      }),
    read: (name) => Effect.sync(() => Option.fromNullishOr(rows.get(name)))
  }
}

interface Row {
  readonly epoch: number | string
  readonly owner: string
  readonly acquired_at: number | string
  readonly last_seen: number | string
  readonly released: number | boolean
}

const incumbent = (row: Row): Incumbent => ({
  fencingToken: Number(row.epoch),
  owner: row.owner,
  acquiredAt: Number(row.acquired_at),
  lastSeen: Number(row.last_seen),
  released: Boolean(row.released)
})

/**
 * The fencing store in the cluster's SQL database (SQLite or PostgreSQL),
 * beside effect/cluster's lock table, whose lease rows it reads: a token is
 * granted in the same statement that checks the lease, so no runner can take
 * the lease in between. Times are the runners' clocks, in milliseconds.
 */
export const sql = (sql: SqlClient.SqlClient, lease: Duration.Duration): Effect.Effect<Fencing, SqlError> =>
  Effect.gen(function*() {
    const table = sql(`${tablePrefix}_singletons`)
    const locks = sql(`${tablePrefix}_locks`)
    // As effect/cluster's own lease check: a lock row refreshed within the lease, to the second.
    const seconds = sql.literal(String(Math.ceil(Duration.toSeconds(lease))))
    const leaseStart = sql.onDialectOrElse({
      pg: () => sql`NOW() - INTERVAL '${seconds} seconds'`,
      orElse: () => sql`datetime(CURRENT_TIMESTAMP, '-${seconds} seconds')`
    })
    yield* sql.onDialectOrElse({
      pg: () =>
        sql`CREATE TABLE IF NOT EXISTS ${table} (
          name VARCHAR(255) PRIMARY KEY,
          epoch INTEGER NOT NULL,
          owner VARCHAR(255) NOT NULL,
          acquired_at BIGINT NOT NULL,
          last_seen BIGINT NOT NULL,
          released BOOLEAN NOT NULL
        )`,
      orElse: () =>
        sql`CREATE TABLE IF NOT EXISTS ${table} (
          name TEXT PRIMARY KEY,
          epoch INTEGER NOT NULL,
          owner TEXT NOT NULL,
          acquired_at INTEGER NOT NULL,
          last_seen INTEGER NOT NULL,
          released INTEGER NOT NULL
        )`
    })
    const read = (name: string) =>
      Effect.map(
        sql<Row>`SELECT epoch, owner, acquired_at, last_seen, released FROM ${table} WHERE name = ${name}`,
        // A row at token 0 was made for a grant that was refused: no token was ever granted.
        (rows) => Option.filter(Option.map(Option.fromNullishOr(rows[0]), incumbent), (row) => row.fencingToken > 0)
      )
    return {
      read,
      grant: (name, shard, runner, now) =>
        sql.withTransaction(Effect.gen(function*() {
          const previous = yield* read(name)
          yield* sql`INSERT INTO ${table} (name, epoch, owner, acquired_at, last_seen, released)
            VALUES (${name}, 0, '', 0, 0, ${false}) ON CONFLICT (name) DO NOTHING`
          const granted = yield* sql<{ readonly epoch: number | string }>`UPDATE ${table}
            SET epoch = epoch + 1, owner = ${runner}, acquired_at = ${now}, last_seen = ${now}, released = ${false}
            WHERE name = ${name} AND EXISTS (
              SELECT 1 FROM ${locks} WHERE shard_id = ${shard} AND address = ${runner} AND acquired_at >= ${leaseStart}
            )
            RETURNING epoch`
          return Option.map(Option.fromNullishOr(granted[0]), (row) => ({ fencingToken: Number(row.epoch), previous }))
        })),
      heartbeat: (name, token, now) =>
        Effect.map(
          sql`UPDATE ${table} SET last_seen = ${now} WHERE name = ${name} AND epoch = ${token} RETURNING epoch`,
          (rows) => rows.length > 0
        ),
      release: (name, token, now) =>
        Effect.asVoid(sql`UPDATE ${table} SET last_seen = ${now}, released = ${true} WHERE name = ${name} AND epoch = ${token}`)
    } satisfies Fencing
  })
