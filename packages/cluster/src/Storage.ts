/**
 * Where a cluster keeps its state: which runners are alive, which runner holds
 * the lease of each shard, and each singleton's fencing token.
 *
 * - `{ kind: "sqlite", filename }`: an embedded database file, no server.
 *   Every runner must reach the same file, so the runners are processes on
 *   one machine (a network file system's locks cannot be trusted).
 * - `{ kind: "postgres", ... }`: a PostgreSQL server, for runners on several
 *   machines, through `@effect/sql-pg` (install it beside `@arbor/cluster`).
 *
 * {@link layer} makes an `effect/sql` `SqlClient` for a storage, so that an
 * application can keep its own tables in the same database (the cluster
 * example keeps its fenced ledger there).
 *
 * @since 0.1.0
 */
import { Options as ArborOptions } from "@arbor/core"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import * as Redacted from "effect/Redacted"
import * as Schema from "effect/Schema"
import type { SqlClient, SqlError } from "effect/sql"
import * as SqliteClient from "./SqliteClient.ts"

/**
 * The embedded store: a SQLite database file shared by the runners of one
 * machine (created if missing; its directory must exist). `busyTimeout`: how
 * long a runner waits for another's write lock, default 1 second.
 *
 * @example
 * ```ts
 * import type { Storage } from "@arbor/cluster"
 *
 * const storage: Storage.Sqlite = { kind: "sqlite", filename: "/var/lib/app/cluster.db" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Sqlite = Schema.Struct({
  kind: Schema.Literal("sqlite"),
  filename: Schema.NonEmptyString,
  busyTimeout: Schema.optionalKey(ArborOptions.PositiveDuration)
})
/** @since 0.1.0 */
export type Sqlite = typeof Sqlite.Type

/**
 * A PostgreSQL server: a `url` (`postgres://user:password@host:5432/db`), or
 * its parts: `host` (default `"127.0.0.1"`), `port` (default 5432), `path`
 * (a Unix socket's directory such as `/var/run/postgresql`, instead of a
 * host), `database`, `username`, `password`.
 *
 * @example
 * ```ts
 * import type { Storage } from "@arbor/cluster"
 *
 * const storage: Storage.Postgres = { kind: "postgres", host: "10.0.0.5", database: "app", username: "app", password: "secret" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Postgres = Schema.Struct({
  kind: Schema.Literal("postgres"),
  url: Schema.optionalKey(Schema.NonEmptyString),
  host: Schema.optionalKey(Schema.NonEmptyString),
  port: Schema.optionalKey(Schema.Int.check(Schema.isBetween({ minimum: 1, maximum: 65535 }))),
  path: Schema.optionalKey(Schema.NonEmptyString),
  database: Schema.optionalKey(Schema.NonEmptyString),
  username: Schema.optionalKey(Schema.NonEmptyString),
  password: Schema.optionalKey(Schema.String)
})
/** @since 0.1.0 */
export type Postgres = typeof Postgres.Type

/**
 * Either store.
 *
 * @example
 * ```ts
 * import { Storage } from "@arbor/cluster"
 * import { Schema } from "effect"
 *
 * const fromConfig = Schema.decodeUnknownSync(Storage.Storage)(JSON.parse('{"kind":"sqlite","filename":"cluster.db"}'))
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const Storage = Schema.Union([Sqlite, Postgres])
/** @since 0.1.0 */
export type Storage = typeof Storage.Type

/**
 * The default store: `arbor-cluster.db` in the working directory.
 *
 * @example
 * ```ts
 * import { Storage } from "@arbor/cluster"
 *
 * Storage.defaultStorage.filename // "arbor-cluster.db"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const defaultStorage: Sqlite = { kind: "sqlite", filename: "arbor-cluster.db" }

/**
 * The store in a few words, for messages: the file, or the server without
 * its password.
 *
 * @example
 * ```ts
 * import { Storage } from "@arbor/cluster"
 *
 * Storage.describe({ kind: "postgres", host: "db", database: "app" }) // "postgres db:5432/app"
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export const describe = (storage: Storage): string => {
  if (storage.kind === "sqlite") return `sqlite ${storage.filename}`
  if (storage.url !== undefined) {
    const url = new URL(storage.url)
    return `postgres ${url.host}${url.pathname}`
  }
  const where = storage.path ?? `${storage.host ?? "127.0.0.1"}:${storage.port ?? 5432}`
  return `postgres ${where}/${storage.database ?? storage.username ?? "postgres"}`
}

/**
 * A `SqlClient` for `storage`: built when the layer is (a store that cannot
 * be reached fails the build with its `SqlError`), closed with it. Postgres
 * needs `@effect/sql-pg` installed; without it, the build dies saying so.
 *
 * @example
 * ```ts
 * import { Storage } from "@arbor/cluster"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 *
 * const now = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   return yield* sql`SELECT 1 AS one`
 * }).pipe(Effect.provide(Storage.layer({ kind: "sqlite", filename: "cluster.db" })))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (storage: Storage): Layer.Layer<SqlClient.SqlClient, SqlError.SqlError> => {
  if (storage.kind === "sqlite") {
    return SqliteClient.layer(storage.busyTimeout === undefined ? { filename: storage.filename } : storage)
  }
  return Layer.unwrap(Effect.map(
    Effect.tryPromise({
      try: () => import("@effect/sql-pg"),
      catch: () => "install @effect/sql-pg to keep the cluster in PostgreSQL (npm install @effect/sql-pg)"
    }).pipe(Effect.orDie),
    ({ PgClient }) => {
      const { kind: _kind, url, password, ...parts } = storage
      return PgClient.layer({
        ...parts,
        ...(url === undefined ? {} : { url: Redacted.make(url) }),
        ...(password === undefined ? {} : { password: Redacted.make(password) }),
        connectTimeout: "5 seconds",
        applicationName: "arbor-cluster"
      })
    }
  ))
}
