/**
 * Soak: a crash storm across a 10,000-child tree, with the heap sampled, to
 * show that supervision holds its memory steady under sustained restarts.
 *
 *   npm run soak                       (60 s)
 *   npm run soak -- --duration 5       (seconds)
 *   npm run soak -- --rate 5000        (crashes per second to aim for; default 4000)
 *
 * The tree: 100 subsystems of 100 workers each. Even subsystems are
 * `one_for_one` systems of permanent workers; odd ones hold a pool of 100
 * permanent children (started by a sibling). Every worker forks a helper
 * fiber and holds a finalizer, so a leaked fiber or scope would show.
 * A driver ends random running workers through `toplevel.exitChild`, with a
 * mix of failures, defects, normal exits and outside interruptions, at the
 * target rate. Every log line goes through a logger that only counts.
 *
 * Pass criteria:
 * - every crash injected was handled: the restarts counted in the snapshot
 *   equal the crashes injected, all 10,000 workers run at the end, and no
 *   system escalated;
 * - the heap does not grow once warm: heap samples (`heapUsed` after a full
 *   `gc()`) are taken every max(1 s, duration/30) after a warm-up of a tenth
 *   of the storm, itself after every worker has crashed once (so that what a
 *   first restart creates for good, such as its metric series, exists); the
 *   median of the last third of them must stay within
 *   `first-third median × 1.05 + 2 MB`;
 * - the tree shuts down gracefully.
 *
 * Prints a report and `soak: PASS` (exit code 0) or `soak: FAIL` (exit code 1).
 * Needs `--expose-gc` (the npm script passes it).
 */
import { Lifecycle, MainLoop, type Pool, System, Toplevel, type TreeSnapshot } from "@arbor/core"
import { Effect, Exit, Fiber, Logger, Stream } from "effect"

const argument = (name: string, fallback: number): number => {
  const at = process.argv.indexOf(`--${name}`)
  const value = at < 0 ? undefined : Number(process.argv[at + 1])
  if (value === undefined) return fallback
  if (!Number.isFinite(value) || value <= 0) throw new Error(`--${name} must be a positive number`)
  return value
}

const durationSeconds = argument("duration", 60)
const rate = argument("rate", 4_000)
const SYSTEMS = 100
const WORKERS = 100

const gc = (globalThis as { gc?: () => void }).gc
if (gc === undefined) {
  console.error("soak: run with --expose-gc (npm run soak does)")
  process.exit(2)
}

const pad = (n: number) => String(n).padStart(2, "0")

/** A worker: a helper fiber and a finalizer in its scope, a main loop that ends when asked to settle. */
const worker = Effect.gen(function*() {
  const state = new Array<number>(16).fill(0)
  yield* Effect.forkChild(Effect.never)
  yield* Effect.addFinalizer(() => Effect.sync(() => state.fill(1)))
  return yield* MainLoop.spawn(Lifecycle.settling)
})

const generous = { maxRestarts: 100_000, within: "1 second" } as const

const workerSystem = System.make((scope) =>
  Effect.forEach(Array.from({ length: WORKERS }, (_, i) => `w${pad(i)}`), (name) => scope.child(name, worker), { discard: true })
)

const poolSystem = System.make((scope) =>
  Effect.gen(function*() {
    const pool: Pool.Pool = yield* scope.pool("pool", { restart: "permanent", intensity: generous, shutdown: "5 seconds" })
    yield* scope.child("filler", MainLoop.spawn(Effect.andThen(
      Effect.forEach(Array.from({ length: WORKERS }, (_, i) => `w${pad(i)}`), (name) => pool.spawn(worker, { name }), { discard: true }),
      Lifecycle.settling
    )))
  })
)

const root = System.make((scope) =>
  Effect.forEach(Array.from({ length: SYSTEMS }, (_, i) => i), (i) =>
    i % 2 === 0
      ? scope.system(`s${pad(i)}`, workerSystem, { strategy: "one_for_one", intensity: generous })
      : scope.system(`p${pad(i)}`, poolSystem, { strategy: "one_for_all", intensity: generous }), { discard: true })
)

/** Every worker's path. */
const paths: Array<string> = []
for (let i = 0; i < SYSTEMS; i++) {
  for (let w = 0; w < WORKERS; w++) {
    paths.push(i % 2 === 0 ? `soak/s${pad(i)}/w${pad(w)}` : `soak/p${pad(i)}/pool/w${pad(w)}`)
  }
}

/** A deterministic pseudo-random sequence (mulberry32), so runs are comparable. */
let seed = 42
const random = () => {
  seed = (seed + 0x6d2b79f5) | 0
  let t = seed
  t = Math.imul(t ^ (t >>> 15), t | 1)
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
  return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296
}

const injected = { failure: 0, defect: 0, normal: 0, interrupt: 0 }
const kindFor = (roll: number): keyof typeof injected =>
  roll < 0.4 ? "failure" : roll < 0.7 ? "defect" : roll < 0.9 ? "normal" : "interrupt"
const exits: Record<keyof typeof injected, () => Exit.Exit<unknown, unknown>> = {
  failure: () => Exit.fail(new Error("soak: injected failure")),
  defect: () => Exit.die(new Error("soak: injected defect")),
  normal: () => Exit.void,
  interrupt: () => Exit.interrupt()
}

const heapMB = () => {
  gc!()
  return process.memoryUsage().heapUsed / 1_048_576
}

const median = (xs: ReadonlyArray<number>) => {
  const sorted = [...xs].sort((a, b) => a - b)
  const mid = sorted.length >> 1
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2
}

const walk = (node: TreeSnapshot.Node, visit: (node: TreeSnapshot.Node) => void): void => {
  visit(node)
  for (const child of node.children ?? []) walk(child, visit)
}

let logLines = 0
const countingLogger = Logger.make(() => {
  logLines++
})

const program = Effect.gen(function*() {
  const toplevel = Toplevel.make("soak", root, { intensity: generous })
  // An observer, as a dashboard would be: it reads every event it can keep up with.
  let events = 0
  yield* Effect.forkChild(Stream.runForEach(toplevel.events, () => Effect.sync(() => void events++)), { startImmediately: true })
  const startedAt = performance.now()
  const run = yield* Effect.forkChild(toplevel.start(), { startImmediately: true })
  while ((yield* toplevel.snapshot).root.state !== "running") yield* Effect.sleep("10 millis")
  // The pools' children are spawned by their fillers once the pools run.
  while ((yield* Effect.forEach(paths.filter((_, i) => i % WORKERS === WORKERS - 1), (path) =>
    Effect.map(Effect.exit(toplevel.whichChildren(path.slice(0, path.lastIndexOf("/")))), (exit) => Exit.isSuccess(exit) && exit.value.length === WORKERS)
  )).some((full) => !full)) yield* Effect.sleep("10 millis")
  const startupMs = performance.now() - startedAt
  console.log(`soak: ${paths.length} workers in ${SYSTEMS} subsystems started in ${startupMs.toFixed(0)} ms; storm of ${rate} crashes/s for ${durationSeconds} s`)

  // Warm-up: every worker crashes once, so that what a first restart creates for good (its metric series, say)
  // exists before the heap is watched.
  const warmUpAt = performance.now()
  let crashes = 0
  let skipped = 0
  for (const path of paths) {
    if (Exit.isSuccess(yield* Effect.exit(toplevel.exitChild(path, Exit.fail(new Error("soak: warm-up")))))) crashes++
    else skipped++
    if (crashes % 500 === 0) yield* Effect.sleep("1 millis")
  }
  const warmUpCrashes = crashes
  console.log(`soak: warm-up: ${warmUpCrashes} crashes, one per worker, in ${(performance.now() - warmUpAt).toFixed(0)} ms`)

  const samples: Array<{ readonly t: number; readonly mb: number }> = []
  const sampleEvery = Math.max(1000, (durationSeconds * 1000) / 30)
  const warmUp = (durationSeconds * 1000) / 10
  // Time spent in gc() for the samples is not storm time: the pace and the rate leave it out.
  let paused = 0
  const begin = performance.now()
  let nextSample = begin + warmUp
  while (true) {
    const now = performance.now()
    const elapsed = now - begin
    if (elapsed >= durationSeconds * 1000) break
    if (now >= nextSample) {
      const mb = heapMB()
      samples.push({ t: elapsed / 1000, mb })
      console.log(`soak: t=${(elapsed / 1000).toFixed(1)}s heap=${mb.toFixed(1)} MB storm crashes so far=${crashes - warmUpCrashes}`)
      const after = performance.now()
      paused += after - now
      nextSample = after + sampleEvery
      continue
    }
    const due = Math.min(Math.floor(((elapsed - paused) / 1000) * rate) - (crashes - warmUpCrashes) - skipped, 500)
    for (let i = 0; i < due; i++) {
      const path = paths[Math.floor(random() * paths.length)]!
      const kind = kindFor(random())
      const exit = yield* Effect.exit(toplevel.exitChild(path, exits[kind]()))
      if (Exit.isSuccess(exit)) {
        crashes++
        injected[kind]++
      } else {
        skipped++
      }
    }
    yield* Effect.sleep("1 millis")
  }
  const stormSeconds = (performance.now() - begin - paused) / 1000

  // Let the last restarts finish, then count.
  let running = 0
  let restarts = 0
  let escalations = 0
  for (let attempt = 0; attempt < 500; attempt++) {
    running = 0
    restarts = 0
    escalations = 0
    walk((yield* toplevel.snapshot).root, (node) => {
      // A subsystem or pool restarted only if one of them gave up.
      if (node.kind !== "worker" || node.name === "filler") return void (escalations += node.restarts)
      if (node.state === "running") running++
      restarts += node.restarts
    })
    if (running === paths.length && restarts === crashes) break
    yield* Effect.sleep("10 millis")
  }

  const stopAt = performance.now()
  toplevel.shutdownToken.signal()
  const exit = yield* Fiber.await(run)
  const shutdownMs = performance.now() - stopAt

  const third = Math.max(1, Math.floor(samples.length / 3))
  const first = median(samples.slice(0, third).map((s) => s.mb))
  const last = median(samples.slice(-third).map((s) => s.mb))
  const allowed = first * 1.05 + 2
  const stormCrashes = crashes - warmUpCrashes
  // Every figure says whether it counts the warm-up: the restarts counted in the snapshot include it.
  const checks: Array<[string, boolean]> = [
    [
      `crashes handled: ${restarts} restarts for ${crashes} crashes injected (${warmUpCrashes} in the warm-up + ${stormCrashes} in the storm)`,
      restarts === crashes && crashes > 0
    ],
    [`workers running at the end: ${running} of ${paths.length}`, running === paths.length],
    [`escalations (subsystems or pools restarted): ${escalations}`, escalations === 0],
    [`heap once warm: last-third median ${last.toFixed(1)} MB <= first-third median ${first.toFixed(1)} MB x 1.05 + 2 MB = ${allowed.toFixed(1)} MB`, last <= allowed],
    [`graceful shutdown in ${shutdownMs.toFixed(0)} ms`, Exit.isSuccess(exit)]
  ]
  console.log(`soak: storm: ${stormCrashes} crashes in ${stormSeconds.toFixed(1)} s = ${(stormCrashes / stormSeconds).toFixed(0)} crashes/s ` +
    `(failure ${injected.failure}, defect ${injected.defect}, normal ${injected.normal}, interrupt ${injected.interrupt}; ` +
    `${skipped} picks skipped: child not running); ${logLines} log lines, ${events} events observed`)
  console.log(`soak: heap samples (MB): ${samples.map((s) => s.mb.toFixed(1)).join(" ")}`)
  for (const [line, ok] of checks) console.log(`soak: ${ok ? "ok  " : "FAIL"} ${line}`)
  const pass = checks.every(([, ok]) => ok)
  console.log(`soak: ${pass ? "PASS" : "FAIL"}`)
  return pass
})

const pass = await Effect.runPromise(program.pipe(Effect.provide(Logger.layer([countingLogger]))))
process.exit(pass ? 0 : 1)
