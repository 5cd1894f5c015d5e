import * as Effect from "effect/Effect"
import * as Stream from "effect/Stream"
import { monitorEventLoopDelay } from "node:perf_hooks"
import type { ProcessSample } from "./processSample.ts"


const millis = (nanoseconds: number): number => Math.round(nanoseconds / 10_000) / 100

/**
 * A sample every `interval`, from the moment of subscribing. The event-loop
 * delay is measured only while someone reads the samples: a histogram timer
 * runs meanwhile (every 10 ms), and stops with the stream.
 */
export const processSamples = (interval: number): Stream.Stream<ProcessSample> =>
  Stream.unwrap(Effect.gen(function*() {
    const delay = yield* Effect.acquireRelease(
      Effect.sync(() => {
        const histogram = monitorEventLoopDelay({ resolution: 10 })
        histogram.enable()
        return histogram
      }),
      (histogram) => Effect.sync(() => histogram.disable())
    )
    let cpu = process.cpuUsage()
    let wall = performance.now()
    const sample = Effect.sync((): ProcessSample => {
      const now = performance.now()
      const used = process.cpuUsage(cpu)
      const memory = process.memoryUsage()
      const result: ProcessSample = {
        at: Date.now(),
        heapUsed: memory.heapUsed,
        heapTotal: memory.heapTotal,
        rss: memory.rss,
        eventLoopDelay: {
          p50: millis(delay.percentile(50)),
          p99: millis(delay.percentile(99)),
          max: millis(delay.max)
        },
        cpu: Math.round(((used.user + used.system) / 1000 / Math.max(now - wall, 1)) * 1000) / 10
      }
      cpu = process.cpuUsage()
      wall = now
      delay.reset()
      return result
    })
    return Stream.tick(interval).pipe(Stream.drop(1), Stream.mapEffect(() => sample))
  }))
