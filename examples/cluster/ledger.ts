/**
 * The example's store: a ledger of invoices in the cluster's own database,
 * fenced. It remembers the highest fencing token it has seen; an owner claims
 * the ledger with its token when it starts, and every write carries the
 * token: a write with a token lower than the ledger's is refused (and
 * recorded, for the curious), so an owner that froze past its lease and
 * resumes cannot issue an invoice beside the new owner.
 */
import { Context, Effect, Schema } from "effect"
import { SqlClient, type SqlError } from "effect/sql"

/** A write carried `fencingToken`, but the ledger has seen `fence`: the writer has lost ownership. */
export class StaleToken extends Schema.TaggedError<StaleToken>()("StaleToken", {
  fencingToken: Schema.Number,
  fence: Schema.Number
}) {
  override get message() {
    return `fencing token ${this.fencingToken} is stale: the ledger has seen ${this.fence}`
  }
}

export class Ledger extends Context.Service<Ledger, {
  /** Raises the ledger's fence to `fencingToken`; fails if a newer owner has claimed it already. */
  readonly claim: (fencingToken: number) => Effect.Effect<void, StaleToken | SqlError.SqlError>
  /** Issues the next invoice, if `fencingToken` is still the ledger's; its number. */
  readonly issue: (fencingToken: number, runner: string) => Effect.Effect<number, StaleToken | SqlError.SqlError>
}>()("example/Ledger") {}

/** The ledger in `sql`'s database (its tables made if missing). */
export const make = (sql: SqlClient.SqlClient): Effect.Effect<Ledger["Service"], SqlError.SqlError> => Effect.gen(function*() {
  yield* sql`CREATE TABLE IF NOT EXISTS ledger_fence (id INTEGER PRIMARY KEY, token INTEGER NOT NULL)`
  yield* sql`INSERT INTO ledger_fence (id, token) VALUES (1, 0) ON CONFLICT (id) DO NOTHING`
  yield* sql`CREATE TABLE IF NOT EXISTS ledger_invoices (
    number INTEGER PRIMARY KEY, token INTEGER NOT NULL, runner TEXT NOT NULL, at BIGINT NOT NULL)`
  yield* sql`CREATE TABLE IF NOT EXISTS ledger_refused (token INTEGER NOT NULL, runner TEXT NOT NULL, at BIGINT NOT NULL)`
  const fence = Effect.map(sql<{ readonly token: number }>`SELECT token FROM ledger_fence WHERE id = 1`, (rows) => Number(rows[0]!.token))
  const refuse = (fencingToken: number, runner: string) =>
    Effect.gen(function*() {
      yield* sql`INSERT INTO ledger_refused (token, runner, at) VALUES (${fencingToken}, ${runner}, ${Date.now()})`
      return yield* new StaleToken({ fencingToken, fence: yield* fence })
    })
  return {
    claim: (fencingToken) =>
      Effect.gen(function*() {
        const raised = yield* sql`UPDATE ledger_fence SET token = ${fencingToken} WHERE id = 1 AND token <= ${fencingToken} RETURNING token`
        if (raised.length === 0) return yield* new StaleToken({ fencingToken, fence: yield* fence })
      }),
    // One statement: the fence is checked where the invoice is written, so nothing slips in between.
    issue: (fencingToken, runner) =>
      Effect.gen(function*() {
        const issued = yield* sql<{ readonly number: number }>`
          INSERT INTO ledger_invoices (number, token, runner, at)
          SELECT COALESCE((SELECT MAX(number) FROM ledger_invoices), 0) + 1,
            CAST(${fencingToken} AS INTEGER), CAST(${runner} AS TEXT), CAST(${Date.now()} AS BIGINT)
          WHERE CAST(${fencingToken} AS INTEGER) >= (SELECT token FROM ledger_fence WHERE id = 1)
          RETURNING number`
        return issued.length > 0 ? Number(issued[0]!.number) : yield* refuse(fencingToken, runner)
      })
  }
})
