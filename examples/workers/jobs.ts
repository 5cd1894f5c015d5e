/**
 * The CPU jobs of examples/workers, run in each worker of the pool. `render`
 * hits a bug on the scene "mirror-maze": it loops forever.
 */
import * as WorkerRunner from "@arbor/node/WorkerRunner"

/** The bug: two mirrors facing each other, traced until the light runs out, which it never does. */
function traceReflections(scene: string): number {
  let bounces = 0
  while (scene === "mirror-maze") bounces = (bounces + 1) % 1_000_000
  return bounces
}

const fib = (n: number): number => (n < 2 ? n : fib(n - 1) + fib(n - 2))

const handlers = {
  render: (scene: string): string => {
    const bounces = traceReflections(scene)
    return `${scene}: ${fib(24) + bounces} rays traced`
  }
}

export type Jobs = typeof handlers

WorkerRunner.serve(handlers)
