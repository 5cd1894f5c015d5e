/**
 * The embedded store's disk filling up, for real: the SQLite file on a 2 MB
 * tmpfs of the test's own (mounting it needs root, as CI runs), filled until
 * writes fail with SQLITE_FULL. Reads still answer, but no lease can be
 * renewed: the runner stops its tree and says the store is unavailable; once
 * there is room again, the tree starts again with a new fencing token.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { mkdtempSync, rmSync, rmdirSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { afterAll } from "vitest"
import { awaitNoOwner, awaitNotReady, awaitOwner, checkLedger, readLedger, startRunner, tree } from "./failover.ts"

describe("the embedded store's disk full", () => {
  const dir = mkdtempSync(join(tmpdir(), "arbor-full-"))
  const file = join(dir, "cluster.db")
  const filler = join(dir, "filler")
  let mounted = false
  afterAll(() => {
    if (mounted) execFileSync("umount", ["-l", dir])
    rmdirSync(dir)
  })

  it("stops the tree while no lease can be renewed, says why in /readyz, and starts it again with a new token once there is room", async () => {
    if (process.getuid?.() !== 0) {
      throw new Error("this test mounts a small tmpfs to fill it: run it as root (CI does)")
    }
    execFileSync("mount", ["-t", "tmpfs", "-o", "size=2m", "tmpfs", dir])
    mounted = true
    const runner = await startRunner(file)
    try {
      await awaitOwner([runner])
      const before = (await tree(runner))!.cluster!.fencingToken!
      // Fill what is left of the disk: the write stops at ENOSPC.
      try {
        writeFileSync(filler, Buffer.alloc(4 * 1024 * 1024))
      } catch {
        // full
      }
      await awaitNoOwner([runner], 10_000)
      await runner.program.waitFor("Shard lock storage is unhealthy")
      expect((await awaitNotReady(runner)).reason).toMatch(/the cluster's store is unavailable: .*database or disk is full/)
      rmSync(filler)
      await awaitOwner([runner])
      expect((await tree(runner))!.cluster!.fencingToken).toBeGreaterThan(before)
      expect(checkLedger((await readLedger({ kind: "sqlite", filename: file })).invoices)).toEqual([])
    } finally {
      runner.program.child.kill("SIGKILL")
      await runner.program.exited()
    }
  }, 60_000)
})
