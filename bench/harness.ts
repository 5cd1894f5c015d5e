/**
 * The benchmark harness: repeats a measurement, summarises it, and sets each
 * Arbor figure beside its raw-Effect floor measured in the same run and, with
 * `--otp`, beside the same work on Erlang/OTP's supervisor.
 */

/** What one case reports, as written to bench/results/latest.json. */
export interface CaseResult {
  readonly name: string
  readonly unit: "us" | "bytes" | "ms" | "per_s"
  readonly arbor: Summary
  readonly floor: Summary
  /** arbor / floor, or floor / arbor for throughput: lower is always better. */
  readonly ratio: number
  readonly target: string
  readonly met: boolean
  /** The same case on Erlang/OTP (`npm run bench:otp`), for the cases OTP's supervisor has. */
  readonly otp?: Versus
}

export interface Summary {
  readonly median: number
  readonly p99?: number
}

/** Another side's figures, Arbor's ratio to them (lower is better) and the target on that ratio. */
export interface Versus extends Summary {
  readonly ratio: number
  readonly target: string
  readonly met: boolean
}

/** A target on a ratio: its text, and whether a ratio meets it (given both sides' figures). */
export interface Target {
  readonly text: string
  readonly met: (ratio: number, arbor: Summary, other: Summary) => boolean
}

/** Runs the collector and the heap settles, when node runs with --expose-gc. */
export const gc = async (): Promise<void> => {
  const collect = (globalThis as { gc?: () => void }).gc
  if (collect === undefined) throw new Error("run the benchmarks with --expose-gc (npm run bench does)")
  for (let i = 0; i < 3; i++) {
    collect()
    await new Promise((resolve) => setImmediate(resolve))
  }
}

export const median = (values: ReadonlyArray<number>): number => quantile(values, 0.5)

export const quantile = (values: ReadonlyArray<number>, q: number): number => {
  const sorted = [...values].sort((a, b) => a - b)
  if (sorted.length === 0) return Number.NaN
  const position = (sorted.length - 1) * q
  const low = Math.floor(position)
  const high = Math.ceil(position)
  return sorted[low]! + (sorted[high]! - sorted[low]!) * (position - low)
}

/**
 * Runs each sampler once to warm up, then `repeats` rounds in which each
 * takes one sample in turn, after a GC; resumes with each sampler's
 * measurements. Taking turns lets both sides of a comparison meet the same
 * load on a shared machine.
 */
export const inTurns = async <A>(repeats: number, samplers: ReadonlyArray<() => Promise<A>>): Promise<Array<Array<A>>> => {
  for (const sample of samplers) await sample()
  const values = samplers.map((): Array<A> => [])
  for (let i = 0; i < repeats; i++) {
    for (const [at, sample] of samplers.entries()) {
      await gc()
      values[at]!.push(await sample())
    }
  }
  return values
}

/** Runs `sample` once to warm up, then `repeats` times; resumes with the measurements. */
export const repeat = async <A>(repeats: number, sample: () => Promise<A>): Promise<Array<A>> =>
  (await inTurns(repeats, [sample]))[0]!

/** The median of the samples. */
export const summary = (values: ReadonlyArray<number>): Summary => ({ median: median(values) })

/** For a case that measures many latencies per sample: the median over the samples of each one's p50 and p99. */
export const latencies = (samples: ReadonlyArray<ReadonlyArray<number>>): Summary => ({
  median: median(samples.map((sample) => median(sample))),
  p99: median(samples.map((sample) => quantile(sample, 0.99)))
})

/** `repeat` for a case that measures many latencies per sample, summarised by `latencies`. */
export const repeatLatencies = async (repeats: number, sample: () => Promise<ReadonlyArray<number>>): Promise<Summary> =>
  latencies(await repeat(repeats, sample))

/** Arbor's ratio to another side's figure: arbor / other, or other / arbor for throughput; lower is better. */
const ratioTo = (arbor: Summary, other: Summary, higherIsBetter: boolean): number =>
  higherIsBetter ? other.median / arbor.median : arbor.median / other.median

/**
 * Builds a case's result; `higherIsBetter` for throughput, whose ratio is floor / arbor; `otp` with OTP's
 * figures for the same case and the target on Arbor's ratio to them.
 */
export const result = (
  name: string,
  unit: CaseResult["unit"],
  arbor: Summary,
  floor: Summary,
  target: Target,
  higherIsBetter = false,
  otp?: { readonly summary: Summary; readonly target: Target }
): CaseResult => {
  const ratio = ratioTo(arbor, floor, higherIsBetter)
  const base = { name, unit, arbor, floor, ratio, target: target.text, met: target.met(ratio, arbor, floor) }
  if (otp === undefined) return base
  const versus = ratioTo(arbor, otp.summary, higherIsBetter)
  return { ...base, otp: { ...otp.summary, ratio: versus, target: otp.target.text, met: otp.target.met(versus, arbor, otp.summary) } }
}

const format = (value: number | undefined): string =>
  value === undefined ? "" : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

const header = ["case", "unit", "arbor p50", "arbor p99", "floor p50", "floor p99", "ratio", "target", "met"]
const otpHeader = ["otp p50", "otp p99", "otp ratio", "otp target", "otp met"]

const verdict = (met: boolean): string => met ? "yes" : "NO"

const cells = (r: CaseResult, withOtp: boolean): Array<string> => [
  r.name,
  r.unit,
  format(r.arbor.median),
  format(r.arbor.p99),
  format(r.floor.median),
  format(r.floor.p99),
  r.ratio.toFixed(2),
  r.target,
  verdict(r.met),
  ...(!withOtp ? [] : r.otp === undefined ? otpHeader.map(() => "") : [
    format(r.otp.median),
    format(r.otp.p99),
    r.otp.ratio.toFixed(2),
    r.otp.target,
    verdict(r.otp.met)
  ])
]

const columns = (withOtp: boolean): Array<string> => withOtp ? [...header, ...otpHeader] : header

const line = (row: ReadonlyArray<string>, widths: ReadonlyArray<number>): string =>
  row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()

/** Prints the results as an aligned table; `withOtp` adds OTP's columns. */
export const table = (results: ReadonlyArray<CaseResult>, withOtp = false): string => {
  const rows = [columns(withOtp), ...results.map((r) => cells(r, withOtp))]
  const widths = rows[0]!.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => line(row, widths)).join("\n")
}

/**
 * Rows printed one at a time while the cases run, in columns wide enough for
 * every case of `npm run bench`, so that they line up under `progressHeader`.
 */
const progressWidths = [40, 5, 9, 9, 9, 9, 5, 28, 3, 9, 9, 9, 26, 7]

export const progressHeader = (withOtp = false): string => line(columns(withOtp), progressWidths)

export const progressRow = (result: CaseResult, withOtp = false): string => line(cells(result, withOtp), progressWidths)
