/**
 * The benchmark harness: repeats a measurement, summarises it, and sets each
 * Arbor figure beside its raw-Effect floor measured in the same run.
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
}

export interface Summary {
  readonly median: number
  readonly p99?: number
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

/** Runs `sample` once to warm up, then `repeats` times; resumes with the measurements. */
export const repeat = async <A>(repeats: number, sample: () => Promise<A>): Promise<Array<A>> => {
  await sample()
  const values: Array<A> = []
  for (let i = 0; i < repeats; i++) {
    await gc()
    values.push(await sample())
  }
  return values
}

/**
 * `repeat` for a case that measures many latencies per sample: a warm-up,
 * then the median over `repeats` samples of each sample's p50 and p99.
 */
export const repeatLatencies = async (repeats: number, sample: () => Promise<ReadonlyArray<number>>): Promise<Summary> => {
  await sample()
  const p50s: Array<number> = []
  const p99s: Array<number> = []
  for (let i = 0; i < repeats; i++) {
    await gc()
    const latencies = await sample()
    p50s.push(median(latencies))
    p99s.push(quantile(latencies, 0.99))
  }
  return { median: median(p50s), p99: median(p99s) }
}

/** Builds a case's result; `higherIsBetter` for throughput, whose ratio is floor / arbor. */
export const result = (
  name: string,
  unit: CaseResult["unit"],
  arbor: Summary,
  floor: Summary,
  target: { readonly text: string; readonly met: (ratio: number, arbor: Summary) => boolean },
  higherIsBetter = false
): CaseResult => {
  const ratio = higherIsBetter ? floor.median / arbor.median : arbor.median / floor.median
  return { name, unit, arbor, floor, ratio, target: target.text, met: target.met(ratio, arbor) }
}

const format = (value: number | undefined): string =>
  value === undefined ? "" : value >= 100 ? value.toFixed(0) : value >= 10 ? value.toFixed(1) : value.toFixed(2)

const header = ["case", "unit", "arbor p50", "arbor p99", "floor p50", "floor p99", "ratio", "target", "met"]

const cells = (r: CaseResult): Array<string> => [
  r.name,
  r.unit,
  format(r.arbor.median),
  format(r.arbor.p99),
  format(r.floor.median),
  format(r.floor.p99),
  r.ratio.toFixed(2),
  r.target,
  r.met ? "yes" : "NO"
]

const line = (row: ReadonlyArray<string>, widths: ReadonlyArray<number>): string =>
  row.map((cell, column) => cell.padEnd(widths[column]!)).join("  ").trimEnd()

/** Prints the results as an aligned table. */
export const table = (results: ReadonlyArray<CaseResult>): string => {
  const rows = [header, ...results.map(cells)]
  const widths = header.map((_, column) => Math.max(...rows.map((row) => row[column]!.length)))
  return rows.map((row) => line(row, widths)).join("\n")
}

/**
 * Rows printed one at a time while the cases run, in columns wide enough for
 * every case of `npm run bench`, so that they line up under `progressHeader`.
 */
const progressWidths = [40, 5, 9, 9, 9, 9, 5, 28, 3]

export const progressHeader = (): string => line(header, progressWidths)

export const progressRow = (result: CaseResult): string => line(cells(result), progressWidths)
