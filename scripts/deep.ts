/**
 * `npm run test:deep`: the model-based tests with many cases (20,000 unless
 * ARBOR_MODEL_RUNS says otherwise) from a fresh seed, printed first, so that
 * any run can be replayed: ARBOR_MODEL_SEED=<seed> npm run test:deep. A
 * failure prints the seed and path of its shrunk case too.
 *
 *   npm run test:deep
 *   ARBOR_MODEL_SEED=1223966186 ARBOR_MODEL_RUNS=8200 npm run test:deep
 */
import { spawnSync } from "node:child_process"
import { randomInt } from "node:crypto"
import { join } from "node:path"

const root = join(import.meta.dirname, "..")
const seed = process.env["ARBOR_MODEL_SEED"] ?? String(randomInt(2 ** 31))
const runs = process.env["ARBOR_MODEL_RUNS"] ?? "20000"
console.log(`model-based tests: ${runs} cases from seed ${seed} (replay: ARBOR_MODEL_SEED=${seed} ARBOR_MODEL_RUNS=${runs} npm run test:deep)`)
const vitest = join(root, "node_modules", "vitest", "vitest.mjs")
const result = spawnSync(process.execPath, [vitest, "run", "packages/core/test/model"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, ARBOR_MODEL_SEED: seed, ARBOR_MODEL_RUNS: runs }
})
console.log(`model-based tests: seed ${seed}, ${runs} cases: ${result.status === 0 ? "passed" : "FAILED"}`)
process.exit(result.status ?? 1)
