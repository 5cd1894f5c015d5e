/**
 * `npm run bench`: Arbor beside raw Effect fibers, measured in the same run;
 * worker and process children beside raw `new Worker` and `child_process.spawn`.
 *
 * Prints a table (medians, p99 where it applies, and the ratio to the floor:
 * lower is always better) and writes bench/results/latest.json.
 * BENCH_QUICK=1 runs smaller sizes and fewer repeats, to try it out (its
 * figures are not comparable with the full run's in docs/performance.md);
 * BENCH_SMOKE=1 tiny ones, only to check that every case runs (the test suite
 * does that). BENCH_OUT names another file for the JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import * as cases from "./cases.ts"
import * as children from "./children.ts"
import type { CaseResult } from "./harness.ts"
import { median, progressHeader, progressRow, repeat, repeatLatencies, result, table } from "./harness.ts"

const smoke = process.env["BENCH_SMOKE"] === "1"
const quick = smoke || process.env["BENCH_QUICK"] === "1"
const repeats = smoke ? 1 : quick ? 2 : 5
const big = smoke ? 2_000 : quick ? 20_000 : 100_000
const small = smoke ? 1_000 : 10_000
const crashes = smoke ? 200 : quick ? 2_000 : 10_000

const summary = (values: ReadonlyArray<number>) => ({ median: median(values) })
const atMost = (limit: number) => ({ text: `<= ${limit}x floor`, met: (ratio: number) => ratio <= limit })

const results: Array<CaseResult> = []
const record = (entry: CaseResult) => {
  results.push(entry)
  console.log(progressRow(entry))
}

// Smaller sizes and fewer repeats change the figures themselves, not only their noise.
const quickNote = quick
  ? `${smoke ? "BENCH_SMOKE" : "BENCH_QUICK"}: smaller sizes and ${repeats === 1 ? "1 repeat" : `${repeats} repeats`}, a quick look; ` +
    "these figures are not comparable with docs/performance.md (a full run: npm run bench)"
  : undefined

console.log(`node ${process.version}; ${repeats} repeats per case after a warm-up`)
if (quickNote !== undefined) console.log(quickNote)
console.log(`\n${progressHeader()}`)

for (const n of [small, big]) {
  const floor = summary(await repeat(repeats, () => cases.floorStart(n)))
  record(result(`start ${n} static`, "us", summary(await repeat(repeats, () => cases.arborStartStatic(n))), floor, atMost(1.5)))
  record(result(`start ${n} pool`, "us", summary(await repeat(repeats, () => cases.arborStartPool(n))), floor, atMost(1.5)))
}

{
  const floor = summary(await repeat(repeats, () => cases.floorMemory(big)))
  const arbor = summary(await repeat(repeats, () => cases.arborMemory(big)))
  record(result(`memory per idle child (${big})`, "bytes", arbor, floor, {
    text: "<= 2048 bytes",
    met: (_, a) => a.median <= 2048
  }))
}

{
  const floor = await repeatLatencies(repeats, () => cases.floorRestart(crashes))
  const alone = await repeatLatencies(repeats, () => cases.arborRestart(crashes, 0))
  const crowded = await repeatLatencies(repeats, () => cases.arborRestart(crashes, big))
  record(result(`restart latency (${crashes} crashes)`, "us", alone, floor, {
    text: "p50 <= 2x floor, p99 < 100us",
    met: (ratio, a) => ratio <= 2 && (a.p99 ?? Infinity) < 100
  }))
  const beside = result(`restart latency, ${big} idle siblings`, "us", crowded, alone, {
    text: "<= 1.2x with no siblings",
    met: (ratio) => ratio <= 1.2
  })
  record(beside)
}

{
  const floor = summary(await repeat(repeats, () => cases.floorShutdown(big)))
  record(result(`shutdown ${big} pool children`, "ms", summary(await repeat(repeats, () => cases.arborShutdown(big))), floor, atMost(2)))
}

{
  const floor = summary(await repeat(repeats, () => cases.floorChurn(big)))
  const arbor = summary(await repeat(repeats, () => cases.arborChurn(big)))
  record(result("churn: short-lived pool tasks", "per_s", arbor, floor, {
    text: ">= 300000 per s",
    met: (_, a) => a.median >= 300_000
  }, true))
}

{
  // The floor here is Arbor itself: the same callers and tasks through a pool without a limit.
  const callers = 16
  const limit = 64
  const unlimited = summary(await repeat(repeats, () => cases.arborChurnCallers(big, callers)))
  const waiting = summary(await repeat(repeats, () => cases.arborChurnCallers(big, callers, limit)))
  record(result(`churn, ${callers} callers waiting on ${limit} slots`, "per_s", waiting, unlimited, {
    text: ">= 0.5x without a limit",
    met: (ratio) => ratio <= 2
  }, true))
}

{
  // Real threads and processes: a sample takes `times` raw and `times` Arbor measurements in turns, so that both
  // sides meet the same load; each side's median over the samples. A process starts in a few milliseconds, so a
  // sample takes four times as many of them, against the noise of a shared machine.
  const times = smoke ? 2 : quick ? 5 : 15
  const inTurns = async (name: string, sample: (times: number) => Promise<children.Sample>, turns: number) => {
    const samples = await repeat(repeats, () => sample(turns))
    record(result(name, "ms", summary(samples.map((s) => s.arbor)), summary(samples.map((s) => s.floor)), atMost(1.5)))
  }
  await inTurns("worker child start", children.workerStart, times)
  await inTurns("worker child restart", children.workerRestart, times)
  await inTurns("process child start", children.processStart, smoke ? times : 4 * times)
}

console.log(`\n${table(results)}`)
if (quickNote !== undefined) console.log(`\n${quickNote}`)

const require = createRequire(import.meta.url)
const effectVersion = (require("effect/package.json") as { version: string }).version
const out = process.env["BENCH_OUT"] ?? fileURLToPath(new URL("./results/latest.json", import.meta.url))
mkdirSync(dirname(out), { recursive: true })
writeFileSync(out, `${JSON.stringify({ node: process.version, effect: effectVersion, quick, cases: results }, null, 2)}\n`)
console.log(`\nwritten to ${out}`)
