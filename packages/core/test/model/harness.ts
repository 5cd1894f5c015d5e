/**
 * Runs one generated case: the same tree and commands against the reference
 * model and against a real Arbor tree under `TestClock`, comparing them after
 * every command and checking the invariants of ARCHITECTURE.md's "What must
 * never happen" throughout.
 *
 * Every command (but moving the clock) runs 1 ms after the previous one, on a
 * fiber woken by `TestClock.adjust("1 millis")`: `TestClock` then waits until
 * everything that command set off has run, so the real tree is quiescent when
 * it is compared. The model counts that millisecond too.
 */
import { Toplevel } from "@arbor/core"
import type { LifecycleEvent } from "@arbor/core"
import { Cause, Clock, Deferred, Effect, Exit, Fiber, Logger, Metric, References, Stream } from "effect"
import { Metrics } from "@arbor/core"
import { TestClock } from "effect/testing"
import type { Mark } from "./kernel.ts"
import { happensBefore } from "./kernel.ts"
import type { ModelExit, NodeView } from "./model.ts"
import { Model } from "./model.ts"
import { buildSystem, systemOptions, World } from "./real.ts"
import type { Command, ExitKind, SystemSpec } from "./spec.ts"
import { nodesOf, showCommand, showTree } from "./spec.ts"

interface LogLine {
  readonly level: string
  readonly text: string
  readonly path: unknown
}

interface SnapshotNode {
  readonly path: string
  readonly state: string
  readonly restarts: number
  readonly counts?: unknown
  readonly children?: ReadonlyArray<SnapshotNode>
}

export class Mismatch extends Error {}

/** Two timers fired at once in an order Arbor does not define, where the model cannot tell what follows. */
class Undecided extends Error {}

const exitOf = (kind: ExitKind): Exit.Exit<void, unknown> => {
  switch (kind) {
    case "normal":
      return Exit.void
    case "failure":
      return Exit.fail(new Error("injected failure"))
    case "defect":
      return Exit.die(new Error("injected defect"))
    case "interrupted":
      return Exit.interrupt()
  }
}

/** The part of a snapshot the model predicts. */
const project = (node: SnapshotNode, model: NodeView): unknown => {
  const base = { path: node.path, state: node.state, restarts: node.restarts, ...(model.counts === undefined ? {} : { counts: node.counts }) }
  if (model.children === "skip") return { ...base, children: "skip" }
  if (node.children === undefined) return base
  return { ...base, children: node.children.map((child, i) => project(child, (Array.isArray(model.children) ? model.children[i] : undefined) ?? child)) }
}

const showExit = (exit: ModelExit | undefined): string =>
  exit === undefined ? "still running" : exit.kind === "normal" ? "success" : `${exit.error?.tag ?? exit.kind} ${exit.error?.path ?? ""}`.trim()

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b)

/**
 * Matches the real journal's new entries, `actual`, against the model's,
 * `expected` (with their marks): `actual` must hold the same entries in an
 * order the model allows, each after every entry it knows of (see
 * `kernel.ts`). Entries of strands that do not know of each other — a
 * subsystem restarted on its own and its parent's next restart at the same
 * instant, say — may come in either order, as their order is not defined.
 * Resumes with the position in `actual` of the first entry that does not fit,
 * or `undefined` if all fit.
 */
export const fits = (expected: ReadonlyArray<string>, marks: ReadonlyArray<Mark>, actual: ReadonlyArray<string>): number | undefined => {
  const open = expected.map((_, i) => i)
  for (const [position, entry] of actual.entries()) {
    const at = open.findIndex((i, k) => expected[i] === entry && open.slice(0, k).every((j) => !happensBefore(marks[j]!, marks[i]!)))
    if (at < 0) return position
    open.splice(at, 1)
  }
  return open.length === 0 ? undefined : actual.length
}

/** The whole upper bound on a graceful shutdown: the sum of every finite budget in the tree; a pool's children settle together. */
const budgetsOf = (spec: SystemSpec): number =>
  nodesOf(spec).reduce((sum, { spec: node }) => {
    const budget = node.kind === "worker" ? node.shutdown : node.kind === "pool" ? node.child.shutdown : undefined
    return sum + (typeof budget === "number" ? budget : 0)
  }, 0)

export interface CaseStats {
  steps: number
  skipped: number
  /** Cases cut short at an instant where the order of two timers is not defined (see `kernel.ts`). */
  undecided: number
  /** How the generated cases ended, and what they went through: to see that the generators reach the interesting states. */
  readonly seen?: Map<string, number>
}

export const runCase = (spec: SystemSpec, commands: ReadonlyArray<Command>, stats?: CaseStats): Effect.Effect<void, Mismatch> =>
  Effect.gen(function*() {
    const nodes = nodesOf(spec)
    const pools = nodes.filter((node) => node.spec.kind === "pool").map((node) => node.path)
    // A pool's children are named by its counter, or `x`: these are the paths they may have.
    const workers = [...nodes.filter((node) => node.spec.kind === "worker").map((node) => node.path), ...pools.flatMap((pool) => ["1", "2", "x"].map((name) => `${pool}/${name}`))]
    const inPool = (path: string) => pools.some((pool) => path.startsWith(`${pool}/`))
    /** A node of the tree, or one of the pools' children now. */
    const pathOf = (target: number) => {
      const paths = [...nodes.map((node) => node.path), ...model.poolChildren()]
      return paths[target % paths.length]!
    }
    const workerOf = (target: number) => workers[target % workers.length]!
    const poolOf = (target: number) => pools[target % pools.length]!
    const trace: Array<string> = []
    const fail = (what: string, expected: unknown, actual: unknown): Effect.Effect<never, Mismatch> =>
      Effect.fail(
        new Mismatch(
          `model and implementation disagree on ${what}\n\ntree:\n${showTree(spec)}\n\ncommands:\n${trace.map((line, i) => `  ${i + 1}. ${line}`).join("\n")}\n\n` +
            `expected (model): ${typeof expected === "string" ? expected : JSON.stringify(expected, null, 1)}\n` +
            `actual (Arbor):   ${typeof actual === "string" ? actual : JSON.stringify(actual, null, 1)}`
        )
      )

    const world = new World()
    const model = new Model(spec)
    const lines: Array<LogLine> = []
    const toplevel = Toplevel.make("app", buildSystem(world, spec, "app"), systemOptions(spec))
    const escalations: Array<string> = []
    const poolReports: Array<string> = []
    const results: Array<string> = []
    let startExit: Exit.Exit<void, unknown> | undefined
    let stoppedAt: number | undefined
    yield* Effect.forkChild(
      Stream.runForEach(toplevel.events, (event: LifecycleEvent.LifecycleEvent) =>
        Effect.sync(() => {
          if (event._tag === "Escalated") escalations.push(`${event.path} ${event.error}`)
          if (event._tag === "ShutdownCompleted" && pools.includes(event.path)) {
            poolReports.push(`${event.path} ${event.stopped} ${event.forced}`)
          }
        })),
      { startImmediately: true }
    )

    /** Runs `effect` on its own fiber 1 ms from now, and `modelSide` in the model at the same instant. */
    const step = (effect: Effect.Effect<void>, modelSide: () => void) =>
      Effect.gen(function*() {
        yield* Effect.forkChild(Effect.andThen(Effect.sleep("1 millis"), effect), { startImmediately: true })
        model.kernel.timer(1, "command", modelSide)
        model.kernel.advance(1)
        yield* TestClock.adjust("1 millis")
      })

    const answer = (what: string, path: string, effect: Effect.Effect<void, { readonly _tag: string }>) =>
      Effect.matchEffect(effect, {
        onFailure: (error) => Effect.sync(() => results.push(`${what} ${path}: ${error._tag}`)),
        onSuccess: () => Effect.sync(() => results.push(`${what} ${path}: ok`))
      })

    /** What the model and Arbor each wrote, compared entry by entry; a slower-moving part of the state follows. */
    const ledgers = [
      { what: "the journal", model: model.journal, real: world.journal },
      { what: "administration answers", model: model.results, real: results },
      { what: "escalations", model: model.escalations, real: escalations },
      { what: "the pools' shutdown reports (path stopped forced)", model: model.poolReports, real: poolReports }
    ]
    /** How many entries of each ledger matched at the previous comparison: later ones come from later cascades. */
    const matched = ledgers.map(() => 0)
    const compare = Effect.gen(function*() {
      if (model.kernel.undecided !== undefined) return yield* Effect.fail(new Undecided(model.kernel.undecided))
      for (const [i, { what, model: expected, real }] of ledgers.entries()) {
        const from = matched[i]!
        const misfit = fits(expected.entries.slice(from), expected.marks.slice(from), real.slice(from))
        if (misfit !== undefined) {
          return yield* fail(`${what} from entry ${from + misfit + 1} (independent strands may swap)`, expected.entries.slice(from), real.slice(from))
        }
        matched[i] = real.length
      }
      const expected = model.tree()
      const snapshot = (yield* toplevel.snapshot).root as SnapshotNode
      const actual = project(snapshot, expected)
      const predicted = project(expected as SnapshotNode, expected)
      if (!same(actual, predicted)) return yield* fail("the tree", predicted, actual)
      // No fiber of a stopped child runs.
      for (const [id, fibers] of world.incarnations) {
        if (model.live.has(id)) continue
        const running = fibers.filter((fiber) => fiber.pollUnsafe() === undefined).length
        if (running > 0) return yield* fail(`the fibers of ${id}, which has stopped`, "all done", `${running} still running`)
      }
      const outcome = showExit(model.outcome)
      const real = startExit === undefined
        ? "still running"
        : Exit.isSuccess(startExit)
        ? "success"
        : (() => {
          const error = Cause.squash(startExit.cause) as { _tag?: string; path?: string }
          return `${error._tag} ${error.path}`
        })()
      if (outcome !== real) return yield* fail("the result of start()", outcome, real)
      if (stoppedAt !== model.stoppedAt) return yield* fail("when start() ended", model.stoppedAt, stoppedAt)
    })

    const run = Effect.gen(function*() {
      trace.push("start the toplevel")
      yield* step(
        toplevel.start().pipe(
          Effect.exit,
          Effect.flatMap((exit) =>
            Effect.map(Clock.currentTimeMillis, (now) => {
              startExit = exit
              stoppedAt = now
            })
          )
        ),
        () => model.start()
      )
      yield* compare
      let signalledAt: number | undefined
      const all = [...commands, { _tag: "Shutdown" } as const]
      for (const [i, command] of all.entries()) {
        const last = i === commands.length
        if (stats) stats.steps++
        // While a supervisor waits for a settle budget, only the clock moves.
        if (command._tag !== "Advance" && model.blocked && !last) {
          if (stats) stats.skipped++
          continue
        }
        if (last) {
          // The end of every case: wait for whatever is in progress, then shut down and wait for the tree to stop.
          for (let guard = 0; model.blocked && guard < 100; guard++) {
            const next = Math.min(...model.kernel.pendingTimers().map((timer) => timer.due)) - model.kernel.now
            trace.push(`advance the clock ${next}ms`)
            model.kernel.advance(next)
            yield* TestClock.adjust(next)
            yield* compare
          }
        }
        switch (command._tag) {
          case "Crash": {
            const path = pathOf(command.target)
            // A pool's child is a worker too.
            const node = nodes.find((node) => node.path === path)?.spec
            if (command.via === "self" && (node === undefined || node.kind === "worker")) {
              if (model.runningWorker(path) === undefined) {
                if (stats) stats.skipped++
                continue
              }
              trace.push(showCommand(command, pathOf))
              yield* step(
                command.exit === "interrupted"
                  ? Effect.suspend(() => Fiber.interrupt(world.mains.get(path)!))
                  : Effect.suspend(() => Deferred.done(world.triggers.get(path)!, exitOf(command.exit)).pipe(Effect.asVoid)),
                () => model.crashWorker(path, command.exit)
              )
            } else {
              trace.push(showCommand({ ...command, via: "exitChild" }, pathOf))
              yield* step(answer("exitChild", path, toplevel.exitChild(path, exitOf(command.exit))), () => {
                model.answer(`exitChild ${path}: ${model.exitChild(path, command.exit)}`)
              })
            }
            break
          }
          case "IgnoreSettle": {
            const path = workerOf(command.target)
            trace.push(showCommand(command, workerOf))
            if (command.ignore) {
              world.ignoring.add(path)
              model.ignoring.add(path)
            } else {
              world.ignoring.delete(path)
              model.ignoring.delete(path)
            }
            continue
          }
          case "FailNextStart": {
            const path = workerOf(command.target)
            trace.push(showCommand(command, workerOf))
            world.failNext.add(path)
            model.failNext.add(path)
            continue
          }
          case "Advance":
            trace.push(showCommand(command, pathOf))
            model.kernel.advance(command.millis)
            yield* TestClock.adjust(command.millis)
            break
          case "Terminate":
          case "Restart": {
            const path = pathOf(command.target)
            trace.push(showCommand(command, pathOf))
            const what = command._tag === "Terminate" ? "terminate" : "restart"
            yield* step(
              answer(what, path, what === "terminate" ? toplevel.terminateChild(path) : toplevel.restartChild(path)),
              () => model.call(what, path)
            )
            break
          }
          case "Spawn": {
            // Through the handle its system's latest declaration handed out: none before the first.
            if (pools.length === 0 || !model.poolHandles.has(poolOf(command.target))) {
              if (stats) stats.skipped++
              continue
            }
            const path = poolOf(command.target)
            trace.push(showCommand(command, poolOf))
            const body = { task: command.task, startMillis: command.startMillis }
            const options = command.name === undefined ? undefined : { name: command.name }
            const what = `${command.task ? "run" : "spawn"} ${path}`
            yield* step(
              Effect.suspend(() => {
                const pool = world.pools.get(path)
                if (pool === undefined) return Effect.sync(() => results.push(`${what}: no handle`))
                const spawning = command.task ? pool.run(world.task, options) : pool.spawn(world.worker(body), options)
                return Effect.matchEffect(spawning, {
                  onFailure: (error) => Effect.sync(() => results.push(`${what}: ${error._tag}`)),
                  onSuccess: (child) => Effect.sync(() => results.push(`${what}: ok ${child.path}`))
                })
              }),
              () => model.spawn(path, body, command.name)
            )
            break
          }
          case "Feed": {
            const path = pathOf(command.target)
            if (model.runningWorker(path) === undefined) {
              if (stats) stats.skipped++
              continue
            }
            trace.push(showCommand(command, pathOf))
            yield* step(Effect.suspend(() => world.lifecycles.get(path)!.heartbeat), () => model.feed(path))
            break
          }
          case "Shutdown":
            if (signalledAt !== undefined || model.outcome !== undefined) {
              if (!last) continue
            } else {
              trace.push(showCommand(command, pathOf))
              signalledAt = model.kernel.now
              yield* step(Effect.sync(() => toplevel.shutdownToken.signal()), () => model.signal())
            }
            break
        }
        yield* compare
      }
      if (stats?.seen !== undefined) {
        const seen = stats.seen
        const note = (what: string) => seen.set(what, (seen.get(what) ?? 0) + 1)
        note(`outcome ${showExit(model.outcome).split(" ")[0]}`)
        if (model.escalations.entries.length > 0) note("escalated somewhere")
        if (model.results.entries.some((r) => r.startsWith("restart") && r.endsWith(": ok"))) note("restartChild ok")
        if (model.results.entries.some((r) => r.endsWith("Running"))) note("restartChild Running")
        if (model.results.entries.some((r) => r.endsWith("StartupFailed"))) note("restartChild StartupFailed")
        if (model.journal.entries.some((e) => e.startsWith("startfail"))) note("a startup failed")
        if (model.journal.entries.some((e, i) => e.startsWith("settle") && model.journal.entries[i + 1]?.endsWith("interrupted"))) note("a child ignored settling")
        if (model.journal.entries.filter((e) => e.startsWith("declare app/")).length > nodes.filter((n) => n.spec.kind === "system").length) note("a subsystem replayed")
        if ([...model.restartCounts.values()].some((n) => n >= 3)) note("a child restarted 3+ times")
        for (const what of ["PoolFull", "PoolClosed", "DuplicateChild"]) if (model.results.entries.some((r) => r.endsWith(what))) note(`spawn ${what}`)
        if (model.results.entries.some((r) => r.startsWith("spawn") && r.includes(": ok"))) note("spawn ok")
        if (model.results.entries.some((r) => r.startsWith("run") && r.includes(": ok"))) note("run ok")
        if (model.poolReports.entries.some((r) => !r.endsWith(" 0"))) note("a pool shutdown interrupted children")
        if ([...model.restartCounts.keys()].some((path) => pools.includes(path))) note("a pool or pool child restarted")
        if (model.escalations.entries.some((e) => pools.some((pool) => e.startsWith(`${pool} `)))) note("a pool gave up")
        if (model.hung > 0) note("a child was taken for hung")
        if (model.timedOut > 0) note("a startup timed out")
        if (model.suspended > 0) note("a startup suspended")
      }
      // The tree stops within its budgets.
      for (let guard = 0; model.outcome === undefined && guard < 100; guard++) {
        const timers = model.kernel.pendingTimers()
        if (timers.length === 0) break
        const next = Math.min(...timers.map((timer) => timer.due)) - model.kernel.now
        trace.push(`advance the clock ${next}ms`)
        model.kernel.advance(next)
        yield* TestClock.adjust(next)
        yield* compare
      }
      if (model.outcome === undefined || startExit === undefined) return yield* fail("whether the tree stopped", showExit(model.outcome), String(startExit))
      if (signalledAt !== undefined && stoppedAt! - signalledAt > budgetsOf(spec) + 1) {
        return yield* fail("how long the shutdown took", `at most ${budgetsOf(spec) + 1}ms`, `${stoppedAt! - signalledAt}ms`)
      }
      // No leaked fibers.
      for (const [id, fibers] of world.incarnations) {
        if (fibers.some((fiber) => fiber.pollUnsafe() === undefined)) return yield* fail(`the fibers of ${id} after the tree stopped`, "all done", "some still running")
      }
      // Every abnormal exit was logged with its path, and counted.
      const logged = new Map<string, number>()
      const startFailures = new Map<string, number>()
      for (const line of lines) {
        if (line.level === "WARN" && line.text.includes("exited abnormally")) logged.set(String(line.path), (logged.get(String(line.path)) ?? 0) + 1)
        if (line.level === "ERROR" && line.text.endsWith("startup failed")) startFailures.set(String(line.path), (startFailures.get(String(line.path)) ?? 0) + 1)
      }
      const sorted = (map: Map<string, number>) => [...map].sort(([a], [b]) => a.localeCompare(b))
      if (!same(sorted(logged), sorted(model.abnormal))) return yield* fail("the abnormal exits logged", sorted(model.abnormal), sorted(logged))
      const workerFailures = new Map([...startFailures].filter(([path]) => workers.includes(path) || inPool(path)))
      if (!same(sorted(workerFailures), sorted(model.startFailures))) {
        return yield* fail("the failed startups logged", sorted(model.startFailures), sorted(workerFailures))
      }
      for (const { path } of nodes) {
        const restarts = (yield* Metric.value(Metric.withAttributes(Metrics.childRestarts, { path }))).count
        if (restarts !== (model.restartCounts.get(path) ?? 0)) return yield* fail(`the restarts counted for ${path}`, model.restartCounts.get(path) ?? 0, restarts)
      }
      for (const path of ["app", ...nodes.map((node) => node.path)]) {
        const escalated = (yield* Metric.value(Metric.withAttributes(Metrics.escalations, { path }))).count
        if (escalated !== (model.escalationCounts.get(path) ?? 0)) return yield* fail(`the escalations counted for ${path}`, model.escalationCounts.get(path) ?? 0, escalated)
      }
    })

    const logger = Logger.make((options) => {
      lines.push({
        level: options.logLevel.toUpperCase(),
        text: (options.message as ReadonlyArray<unknown>).map(String).join(" "),
        path: options.fiber.getRef(References.CurrentLogAnnotations)["path"]
      })
    })
    return yield* run.pipe(
      Effect.catchIf((error) => error instanceof Undecided, () =>
        Effect.sync(() => {
          if (stats) stats.undecided++
        })),
      Effect.provide(Logger.layer([logger])),
      Effect.provideService(Metric.MetricRegistry, new Map())
    )
  }).pipe(Effect.scoped, Effect.provide(TestClock.layer()))
