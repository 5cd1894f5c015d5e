/**
 * Failover with PostgreSQL as the store, the way runners on several machines
 * share it: three runner processes and a server of the test's own (Debian's
 * `postgresql`, installed when missing), which the last fault stops for
 * longer than the lease (see failover.ts for the rest).
 */
import { describe, expect, it } from "@effect/vitest"
import { afterAll, beforeAll } from "vitest"
import { awaitNoOwner, awaitNotReady, awaitOwner, checkLedger, failoverScenario, lease, readLedger, tree } from "./failover.ts"
import { type Postgres, startPostgres } from "./postgres.ts"

describe("three runners on PostgreSQL, as real processes on loopback", () => {
  let postgres: Postgres | undefined
  beforeAll(async () => {
    postgres = await startPostgres()
  }, 300_000)
  afterAll(() => postgres?.remove())
  const url = () => postgres!.url

  failoverScenario(url, () => ({ kind: "postgres", url: url() }), (cluster) => {
    it("the store stopped for longer than the lease: the tree stops everywhere, then runs on one runner, with a new token", async () => {
      const { runners, measured } = cluster()
      const owner = await awaitOwner(runners)
      const before = (await tree(owner))!.cluster!.fencingToken!
      const stopped = Date.now()
      postgres!.stop()
      let restarted = 0
      try {
        await awaitNoOwner(runners, lease + 5_000)
        measured["store stopped to tree stopped"] = Date.now() - stopped
        for (const runner of runners) {
          expect((await awaitNotReady(runner)).reason).toMatch(/the cluster's store is unavailable: PgConnection/)
        }
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, stopped + 2 * lease - Date.now())))
      } finally {
        restarted = Date.now()
        postgres!.start()
      }
      const next = await awaitOwner(runners)
      measured["store back to tree running"] = Date.now() - restarted
      expect((await tree(next))!.cluster!.fencingToken).toBeGreaterThan(before)
      expect(checkLedger((await readLedger({ kind: "postgres", url: url() })).invoices)).toEqual([])
    }, 60_000)
  })
})
