/**
 * The `SqlClient` over `node:sqlite`, on its own: statements, values,
 * transactions, errors classified, and two clients (two processes' worth)
 * sharing one file.
 */
import { SqliteClient } from "@arbor/cluster"
import { describe, expect, it } from "@effect/vitest"
import { type Duration, Effect, Exit, Layer } from "effect"
import { Reactivity } from "effect/reactivity"
import { SqlClient } from "effect/sql"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"

const file = () => join(mkdtempSync(join(tmpdir(), "arbor-sqlite-")), "test.db")

const client = (filename: string, busyTimeout?: Duration.Input) =>
  SqliteClient.make(busyTimeout === undefined ? { filename } : { filename, busyTimeout }).pipe(Effect.provide(Reactivity.layer))

describe("SqliteClient", () => {
  it.effect("runs statements with parameters, returns rows as objects or values, and keeps the data in the file", () =>
    Effect.gen(function*() {
      const filename = file()
      yield* Effect.scoped(Effect.gen(function*() {
        const sql = yield* client(filename)
        yield* sql`CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL, done INTEGER NOT NULL, data BLOB)`
        yield* sql`INSERT INTO items ${sql.insert([{ id: 1, name: "one", done: true, data: new Uint8Array([1, 2]) }, { id: 2, name: "two", done: false, data: null }])}`
        expect(yield* sql`SELECT id, name, done FROM items WHERE done = ${true}`).toEqual([{ id: 1, name: "one", done: 1 }])
        expect(yield* sql`SELECT id, name FROM items ORDER BY id`.values).toEqual([[1, "one"], [2, "two"]])
        expect(yield* sql`UPDATE items SET name = ${"uno"} WHERE id = ${1} RETURNING name`).toEqual([{ name: "uno" }])
      }))
      const again = yield* Effect.scoped(Effect.flatMap(client(filename), (sql) => sql`SELECT name FROM items ORDER BY id`))
      expect(again).toEqual([{ name: "uno" }, { name: "two" }])
    }))

  it.effect("a transaction commits all or nothing; one process's statements wait for its transaction to end", () =>
    Effect.scoped(Effect.gen(function*() {
      const sql = yield* client(file())
      yield* sql`CREATE TABLE counter (n INTEGER NOT NULL)`
      yield* sql`INSERT INTO counter (n) VALUES (0)`
      const failed = yield* Effect.exit(sql.withTransaction(Effect.gen(function*() {
        yield* sql`UPDATE counter SET n = n + 1`
        return yield* Effect.fail("abort")
      })))
      expect(failed).toEqual(Exit.fail("abort"))
      expect(yield* sql`SELECT n FROM counter`).toEqual([{ n: 0 }])
      // Ten transactions at once, each reading then writing: none sees another's half-done work.
      yield* Effect.forEach(Array.from({ length: 10 }), () =>
        sql.withTransaction(Effect.gen(function*() {
          const [row] = yield* sql<{ readonly n: number }>`SELECT n FROM counter`
          yield* Effect.yieldNow
          yield* sql`UPDATE counter SET n = ${row!.n + 1}`
        })), { concurrency: "unbounded", discard: true })
      expect(yield* sql`SELECT n FROM counter`).toEqual([{ n: 10 }])
    })))

  it.effect("errors are SqlErrors classified by SQLite's code: a file that cannot open, a unique key, a syntax error", () =>
    Effect.scoped(Effect.gen(function*() {
      const open = yield* Effect.flip(client("/nonexistent/dir/x.db"))
      expect(open.reason._tag).toBe("ConnectionError")
      expect(open.message).toMatch(/^cannot open \/nonexistent\/dir\/x\.db: /)
      const sql = yield* client(file())
      yield* sql`CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, n INTEGER CHECK (n > 0))`
      yield* sql`INSERT INTO t (id, name, n) VALUES (1, 'a', 1)`
      const duplicate = yield* Effect.flip(sql`INSERT INTO t (id, name, n) VALUES (2, 'a', 1)`)
      expect(duplicate.reason._tag).toBe("UniqueViolation")
      const check = yield* Effect.flip(sql`INSERT INTO t (id, name, n) VALUES (3, 'b', 0)`)
      expect(check.reason._tag).toBe("ConstraintError")
      const syntax = yield* Effect.flip(sql`SELEC 1`)
      expect(syntax.reason._tag).toBe("UnknownError")
      expect(syntax.message).toBe(`near "SELEC": syntax error (in SELEC 1)`)
    })))

  it.effect("two clients on one file: a writer waits for the other's write lock up to busyTimeout, then fails with LockTimeoutError", () =>
    Effect.scoped(Effect.gen(function*() {
      const filename = file()
      const first = yield* client(filename)
      const second = yield* client(filename, "50 millis")
      yield* first`CREATE TABLE t (n INTEGER)`
      const blocked = yield* first.withTransaction(Effect.gen(function*() {
        yield* first`INSERT INTO t (n) VALUES (1)`
        // node:sqlite is synchronous: the second client waits its whole busyTimeout here, then gives up.
        return yield* Effect.flip(second`INSERT INTO t (n) VALUES (2)`)
      }))
      expect(blocked.reason._tag).toBe("LockTimeoutError")
      yield* second`INSERT INTO t (n) VALUES (2)`
      expect(yield* first`SELECT n FROM t ORDER BY n`.values).toEqual([[1], [2]])
    })))

  it.effect("as a layer it provides SqlClient, opened when built and closed with it", () =>
    Effect.gen(function*() {
      const rows = yield* Effect.gen(function*() {
        const sql = yield* SqlClient.SqlClient
        return yield* sql`SELECT 42 AS answer`
      }).pipe(Effect.provide(SqliteClient.layer({ filename: file() })))
      expect(rows).toEqual([{ answer: 42 }])
      const failed = yield* Effect.flip(Layer.build(SqliteClient.layer({ filename: "/nonexistent/dir/x.db" })).pipe(Effect.scoped))
      expect(failed.reason._tag).toBe("ConnectionError")
    }))
})
