/**
 * Failover on the embedded store: three runner processes sharing one SQLite
 * file (see failover.ts for the faults and what is checked).
 */
import { describe } from "@effect/vitest"
import { mkdtempSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { failoverScenario } from "./failover.ts"

describe("three runners on the embedded store (SQLite), as real processes on loopback", () => {
  const file = join(mkdtempSync(join(tmpdir(), "arbor-cluster-")), "cluster.db")
  failoverScenario(() => file, () => ({ kind: "sqlite", filename: file }))
})
