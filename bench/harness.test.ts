/**
 * What `npm run bench:otp` adds to a case, without Erlang: Arbor's ratio to OTP's figures, the target on it, and
 * OTP's columns in the printed rows. (The Erlang side itself runs only in `npm run bench:otp`.)
 */
import { describe, expect, it } from "@effect/vitest"
import type { Target } from "./harness.ts"
import { latencies, progressHeader, progressRow, result, table } from "./harness.ts"

const atMost = (limit: number): Target => ({ text: `<= ${limit}x`, met: (ratio) => ratio <= limit })
const p99Within = (limit: number): Target => ({
  text: `p99 <= ${limit}x`,
  met: (_, arbor, other) => arbor.p99! <= limit * other.p99!
})

describe("a case beside OTP", () => {
  it("takes Arbor's ratio to OTP's median, and OTP's to Arbor's for throughput", () => {
    const time = result("start", "us", { median: 6 }, { median: 2 }, atMost(4), false, {
      summary: { median: 4 },
      target: atMost(1)
    })
    expect(time.ratio).toBe(3)
    expect(time.met).toBe(true)
    expect(time.otp).toEqual({ median: 4, ratio: 1.5, target: "<= 1x", met: false })
    const rate = result("churn", "per_s", { median: 300 }, { median: 600 }, atMost(4), true, {
      summary: { median: 200 },
      target: atMost(1)
    })
    expect(rate.otp).toMatchObject({ ratio: 200 / 300, met: true })
  })

  it("hands the target both sides' figures", () => {
    const restart = (otpP99: number) =>
      result("restart", "us", { median: 10, p99: 40 }, { median: 1 }, atMost(20), false, {
        summary: { median: 10, p99: otpP99 },
        target: p99Within(2)
      }).otp!.met
    expect(restart(20)).toBe(true)
    expect(restart(19)).toBe(false)
  })

  it("has no OTP figures where OTP did not run", () => {
    expect(result("start", "us", { median: 6 }, { median: 2 }, atMost(4))).not.toHaveProperty("otp")
  })

  it("summarises latency samples as the medians of their p50s and p99s", () => {
    const sample = (offset: number) => Array.from({ length: 101 }, (_, i) => i + offset)
    expect(latencies([sample(0), sample(10), sample(20)])).toEqual({ median: 60, p99: 109 })
  })
})

describe("the printed rows with OTP's columns", () => {
  const withOtp = result("start 100000 static", "us", { median: 15.6 }, { median: 1.9 }, atMost(1.5), false, {
    summary: { median: 6.7 },
    target: atMost(1)
  })
  const without = result("worker child start", "ms", { median: 70 }, { median: 64 }, atMost(1.5))

  it("line up under the header, OTP's columns empty for a case OTP does not have", () => {
    const rows = [progressHeader(true), progressRow(withOtp, true), progressRow(without, true)]
    const otpColumn = progressHeader(true).indexOf("otp p50")
    expect(otpColumn).toBeGreaterThan(0)
    expect(rows[1]!.slice(otpColumn)).toMatch(/^6\.70\s+2\.33\s+<= 1x\s+NO$/)
    expect(rows[2]!.length).toBeLessThanOrEqual(otpColumn)
  })

  it("are left out of a run without OTP", () => {
    expect(progressHeader()).not.toContain("otp")
    expect(table([withOtp])).not.toContain("6.70")
    expect(table([withOtp], true)).toContain("6.70")
  })
})
