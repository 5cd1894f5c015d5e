/**
 * An `effect/sql` `SqlClient` over Node's built-in `node:sqlite`: the
 * embedded store of a cluster whose runners are processes on one machine,
 * sharing one database file. No server, no native package to install.
 *
 * It opens one connection in WAL mode, so readers never wait for the writer,
 * and runs every statement and transaction of the process on it, one at a
 * time. Transactions begin `IMMEDIATE`: they take the file's write lock at
 * once, so two processes never deadlock upgrading a read to a write. A
 * process waiting for another's write lock waits up to `busyTimeout`, then
 * fails with a `LockTimeoutError`.
 *
 * `node:sqlite` calls are synchronous: each statement blocks the event loop
 * while it runs (microseconds for the small statements a cluster makes), and
 * while it waits for another process's write lock.
 *
 * Errors are `SqlError`s classified by SQLite's result code: a file that
 * cannot be opened is a `ConnectionError`, a lock held too long a
 * `LockTimeoutError`, a full disk (`SQLITE_FULL`) an `UnknownError` whose
 * message says so.
 *
 * @since 0.1.0
 */
import * as Duration from "effect/Duration"
import * as Effect from "effect/Effect"
import * as Layer from "effect/Layer"
import type * as Scope from "effect/Scope"
import * as Semaphore from "effect/Semaphore"
import * as Stream from "effect/Stream"
import { Reactivity } from "effect/reactivity"
import { SqlClient, SqlError, Statement } from "effect/sql"
import type { SqlConnection } from "effect/sql"
import { DatabaseSync, type SQLInputValue, type StatementSync } from "node:sqlite"

/**
 * Options of {@link make}: the database `filename` (created if missing; its
 * directory must exist), and how long to wait for another process's write
 * lock (`busyTimeout`, default 1 second).
 *
 * @example
 * ```ts
 * import type { SqliteClient } from "@arbor/cluster"
 *
 * const options: SqliteClient.Options = { filename: "/var/lib/app/cluster.db", busyTimeout: "2 seconds" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Options {
  readonly filename: string
  readonly busyTimeout?: Duration.Input
}

/** Statements kept prepared; the SQL a cluster makes repeats, apart from a few lists of shards. */
const preparedLimit = 64

/**
 * Opens the database and makes a `SqlClient` over it, closed with the scope.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@arbor/cluster"
 * import { Effect } from "effect"
 * import { Reactivity } from "effect/reactivity"
 *
 * const rows = Effect.scoped(Effect.gen(function*() {
 *   const sql = yield* SqliteClient.make({ filename: "app.db" })
 *   return yield* sql<{ readonly answer: number }>`SELECT 42 AS answer`
 * })).pipe(Effect.provide(Reactivity.layer))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const make = (options: Options): Effect.Effect<SqlClient.SqlClient, SqlError.SqlError, Scope.Scope | Reactivity.Reactivity> =>
  Effect.gen(function*() {
    const timeout = Duration.toMillis(Duration.fromInputUnsafe(options.busyTimeout ?? "1 second"))
    const db = yield* Effect.acquireRelease(
      Effect.try({
        try: () => {
          const db = new DatabaseSync(options.filename, { timeout })
          db.exec("PRAGMA journal_mode = WAL")
          return db
        },
        catch: (cause) => sqlError(cause, `cannot open ${options.filename}`, "open", true)
      }),
      (db) => Effect.sync(() => db.close())
    )
    const prepared = new Map<string, StatementSync>()
    const prepare = (sql: string): StatementSync => {
      let statement = prepared.get(sql)
      if (statement !== undefined) {
        // Most recently used last: the first entry is the one to drop.
        prepared.delete(sql)
      } else {
        statement = db.prepare(sql)
        if (prepared.size >= preparedLimit) prepared.delete(prepared.keys().next().value!)
      }
      prepared.set(sql, statement)
      return statement
    }
    const run = <A>(sql: string, operation: string, f: () => A): Effect.Effect<A, SqlError.SqlError> =>
      Effect.try({ try: f, catch: (cause) => sqlError(cause, `in ${compact(sql)}`, operation) })
    const rows = (statement: StatementSync, params: ReadonlyArray<unknown>, arrays: boolean) => {
      statement.setReturnArrays(arrays)
      return statement.all(...params.map(toSqlite))
    }
    const connection: SqlConnection.Connection = {
      execute: (sql, params, transformRows) =>
        run(sql, "execute", () => {
          const result = rows(prepare(sql), params, false)
          return transformRows === undefined ? result : transformRows(result)
        }),
      executeRaw: (sql, params) => run(sql, "execute", () => prepare(sql).run(...params.map(toSqlite))),
      executeValues: (sql, params) => run(sql, "execute", () => rows(prepare(sql), params, true) as unknown as Array<Array<unknown>>),
      executeValuesUnprepared: (sql, params) =>
        run(sql, "execute", () => rows(db.prepare(sql), params, true) as unknown as Array<Array<unknown>>),
      executeUnprepared: (sql, params, transformRows) =>
        run(sql, "execute", () => {
          const result = rows(db.prepare(sql), params, false)
          return transformRows === undefined ? result : transformRows(result)
        }),
      executeStream: (sql, params, transformRows) =>
        Stream.unwrap(Effect.map(connection.execute(sql, params, transformRows), Stream.fromIterable))
    }
    // One statement or transaction at a time: a transaction keeps the connection until it ends.
    const lock = yield* Semaphore.make(1)
    const acquirer = Effect.as(Effect.acquireRelease(lock.take(1), () => lock.release(1)), connection)
    return yield* SqlClient.make({
      acquirer,
      compiler: Statement.makeCompilerSqlite(),
      driver: "node:sqlite",
      spanAttributes: [["db.system.name", "sqlite"], ["db.namespace", options.filename]],
      beginTransaction: "BEGIN IMMEDIATE",
      isTransaction: () => db.isTransaction
    })
  })

/**
 * The client as a layer providing `SqlClient`: the database opens when the
 * layer is built (an unopenable file fails the build) and closes with it.
 *
 * @example
 * ```ts
 * import { SqliteClient } from "@arbor/cluster"
 * import { Effect } from "effect"
 * import { SqlClient } from "effect/sql"
 *
 * const count = Effect.gen(function*() {
 *   const sql = yield* SqlClient.SqlClient
 *   yield* sql`CREATE TABLE IF NOT EXISTS visits (at INTEGER NOT NULL)`
 *   yield* sql`INSERT INTO visits (at) VALUES (${Date.now()})`
 *   return yield* sql<{ readonly n: number }>`SELECT count(*) AS n FROM visits`
 * }).pipe(Effect.provide(SqliteClient.layer({ filename: "visits.db" })))
 * ```
 *
 * @category layers
 * @since 0.1.0
 */
export const layer = (options: Options): Layer.Layer<SqlClient.SqlClient, SqlError.SqlError> =>
  Layer.effect(SqlClient.SqlClient)(make(options)).pipe(Layer.provide(Reactivity.layer))

/** `node:sqlite` binds numbers, bigints, strings, bytes and null only. */
const toSqlite = (value: unknown): SQLInputValue => {
  switch (typeof value) {
    case "boolean":
      return value ? 1 : 0
    case "undefined":
      return null
    case "number":
    case "bigint":
    case "string":
      return value
    default:
      if (value === null) return null
      if (value instanceof Uint8Array) return value
      return value instanceof Date ? value.toISOString() : JSON.stringify(value)
  }
}

/** A statement on one line, cut short: for messages. */
const compact = (sql: string): string => {
  const line = sql.replace(/\s+/g, " ").trim()
  return line.length > 80 ? `${line.slice(0, 77)}...` : line
}

/**
 * `node:sqlite` puts SQLite's result code in `errcode`; Effect's classifier reads `errno`. The message says what
 * SQLite said (`database or disk is full`), then where: the file (`before`) or the statement.
 */
const sqlError = (cause: unknown, where: string, operation: string, before = false): SqlError.SqlError => {
  const errcode = typeof cause === "object" && cause !== null && "errcode" in cause ? cause.errcode : undefined
  const said = cause instanceof Error ? cause.message : String(cause)
  const detail = before ? `${where}: ${said}` : `${said} (${where})`
  const classified = SqlError.classifySqliteError(
    typeof errcode === "number" ? Object.assign(cause as object, { errno: errcode }) : cause,
    { message: detail, operation }
  )
  return new SqlError.SqlError({ reason: classified })
}
