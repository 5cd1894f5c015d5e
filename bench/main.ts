/**
 * `npm run bench`: Arbor beside raw Effect fibers, measured in the same run;
 * worker and process children beside raw `new Worker` and `child_process.spawn`.
 * `npm run bench:otp` (`--otp`) also runs the same cases on Erlang/OTP's
 * supervisor (bench/otp.ts), their samples in turns with Arbor's.
 *
 * Prints a table (medians, p99 where it applies, and the ratio to the floor
 * and to OTP: lower is always better) and writes bench/results/latest.json.
 * BENCH_QUICK=1 runs smaller sizes and fewer repeats, to try it out (its
 * figures are not comparable with the full run's in docs/performance.md);
 * BENCH_SMOKE=1 tiny ones, only to check that every case runs (the test suite
 * does that). BENCH_OUT names another file for the JSON.
 */
import { mkdirSync, writeFileSync } from "node:fs"
import { createRequire } from "node:module"
import { loadavg } from "node:os"
import { dirname } from "node:path"
import { fileURLToPath } from "node:url"
import * as cases from "./cases.ts"
import * as children from "./children.ts"
import type { CaseResult, Summary, Target } from "./harness.ts"
import { inTurns, latencies, progressHeader, progressRow, repeat, result, summary, table } from "./harness.ts"
import * as Otp from "./otp.ts"

const smoke = process.env["BENCH_SMOKE"] === "1"
const quick = smoke || process.env["BENCH_QUICK"] === "1"
const repeats = smoke ? 1 : quick ? 2 : 5
const big = smoke ? 2_000 : quick ? 20_000 : 100_000
const small = smoke ? 1_000 : 10_000
// Restarts: that many supervisors in turn, each crashed that many times (see docs/performance.md for why not one).
const supervisors = smoke ? 10 : quick ? 20 : 100
const crashes = smoke ? 20 : 100
const crashesBesideSiblings = smoke ? 50 : quick ? 200 : 1_000

const atMost = (limit: number): Target => ({ text: `<= ${limit}x floor`, met: (ratio) => ratio <= limit })
const otpAtMost = (limit: number): Target => ({ text: `<= ${limit.toFixed(1)}x OTP`, met: (ratio) => ratio <= limit })
const otpRestart: Target = {
  text: "p50 <= 1.0x, p99 <= 2x OTP",
  met: (ratio, arbor, otp) => ratio <= 1 && (arbor.p99 ?? Infinity) <= 2 * (otp.p99 ?? 0)
}

const otp = process.argv.includes("--otp") ? await Otp.start() : undefined
const withOtp = otp !== undefined

/** A case's Arbor samples and, with --otp, OTP's taken in turns with them. */
const beside = async <A>(arbor: () => Promise<A>, otpCase: string, ...args: ReadonlyArray<number>) => {
  const [arbors, otps] = await inTurns(repeats, otp === undefined ? [arbor] : [arbor, () => otp.sample<A>(otpCase, ...args)])
  return { arbor: arbors!, otp: otps }
}

/** OTP's figures for `result`, when OTP ran. */
const versus = <A>(samples: Array<A> | undefined, summarise: (samples: Array<A>) => Summary, target: Target) =>
  samples === undefined ? undefined : { summary: summarise(samples), target }

const results: Array<CaseResult> = []
const record = (entry: CaseResult) => {
  results.push(entry)
  console.log(progressRow(entry, withOtp))
}

// Smaller sizes and fewer repeats change the figures themselves, not only their noise.
const quickNote = quick
  ? `${smoke ? "BENCH_SMOKE" : "BENCH_QUICK"}: smaller sizes and ${repeats === 1 ? "1 repeat" : `${repeats} repeats`}, a quick look; ` +
    "these figures are not comparable with docs/performance.md (a full run: npm run bench)"
  : undefined

const load = () => loadavg().map((value) => value.toFixed(2)).join(" ")
console.log(`node ${process.version}; ${repeats} repeats per case after a warm-up; load average ${load()}`)
if (otp !== undefined) console.log(`erlang: ${otp.vm}; its samples in turns with Arbor's`)
if (quickNote !== undefined) console.log(quickNote)
console.log(`\n${progressHeader(withOtp)}`)

for (const n of [small, big]) {
  const floor = summary(await repeat(repeats, () => cases.floorStart(n)))
  const statics = await beside(() => cases.arborStartStatic(n), "start_static", n)
  record(result(`start ${n} static`, "us", summary(statics.arbor), floor, atMost(1.5), false, versus(statics.otp, summary, otpAtMost(1))))
  const pool = await beside(() => cases.arborStartPool(n), "start_pool", n)
  record(result(`start ${n} pool`, "us", summary(pool.arbor), floor, atMost(1.5), false, versus(pool.otp, summary, otpAtMost(1))))
}

{
  const floor = summary(await repeat(repeats, () => cases.floorMemory(big)))
  const memory = await beside(() => cases.arborMemory(big), "memory", big)
  record(result(`memory per idle child (${big})`, "bytes", summary(memory.arbor), floor, {
    text: "<= 2048 bytes",
    met: (_, a) => a.median <= 2048
  }, false, versus(memory.otp, summary, otpAtMost(1))))
}

{
  const floor = latencies(await repeat(repeats, () => cases.floorRestart(supervisors * crashes)))
  const alone = await beside(() => cases.arborRestart(supervisors, crashes, 0), "restart", supervisors, crashes, 0)
  const crowded = await beside(() => cases.arborRestart(1, crashesBesideSiblings, big), "restart", 1, crashesBesideSiblings, big)
  record(result(`restart latency (${supervisors} x ${crashes} crashes)`, "us", latencies(alone.arbor), floor, {
    text: "p50 <= 2x floor, p99 < 100us",
    met: (ratio, a) => ratio <= 2 && (a.p99 ?? Infinity) < 100
  }, false, versus(alone.otp, latencies, otpRestart)))
  record(result(`restart latency, ${big} idle siblings`, "us", latencies(crowded.arbor), latencies(alone.arbor), {
    text: "<= 1.2x with no siblings",
    met: (ratio) => ratio <= 1.2
  }, false, versus(crowded.otp, latencies, otpRestart)))
}

{
  const floor = summary(await repeat(repeats, () => cases.floorShutdown(big)))
  const shutdown = await beside(() => cases.arborShutdown(big), "shutdown", big)
  record(result(`shutdown ${big} pool children`, "ms", summary(shutdown.arbor), floor, atMost(2), false, versus(shutdown.otp, summary, otpAtMost(1))))
}

{
  const floor = summary(await repeat(repeats, () => cases.floorChurn(big)))
  const churn = await beside(() => cases.arborChurn(big), "churn", big)
  record(result("churn: short-lived pool tasks", "per_s", summary(churn.arbor), floor, {
    text: ">= 300000 per s",
    met: (_, a) => a.median >= 300_000
  }, true, versus(churn.otp, summary, otpAtMost(1))))
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
  const childCase = async (name: string, sample: (times: number) => Promise<children.Sample>, turns: number) => {
    const samples = await repeat(repeats, () => sample(turns))
    record(result(name, "ms", summary(samples.map((s) => s.arbor)), summary(samples.map((s) => s.floor)), atMost(1.5)))
  }
  await childCase("worker child start", children.workerStart, times)
  await childCase("worker child restart", children.workerRestart, times)
  await childCase("process child start", children.processStart, smoke ? times : 4 * times)
}

await otp?.close()
console.log(`\n${table(results, withOtp)}`)
console.log(`\nload average ${load()}`)
if (quickNote !== undefined) console.log(`\n${quickNote}`)

const require = createRequire(import.meta.url)
const effectVersion = (require("effect/package.json") as { version: string }).version
const out = process.env["BENCH_OUT"] ?? fileURLToPath(new URL("./results/latest.json", import.meta.url))
mkdirSync(dirname(out), { recursive: true })
const erlang = otp === undefined ? {} : { erlang: otp.vm }
writeFileSync(out, `${JSON.stringify({ node: process.version, effect: effectVersion, ...erlang, quick, cases: results }, null, 2)}\n`)
console.log(`\nwritten to ${out}`)
