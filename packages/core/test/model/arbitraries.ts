/**
 * fast-check generators for trees (depth up to 3, mixed strategies, policies,
 * budgets, intensities and backoffs, pools, startups that take time, start
 * timeouts and liveness deadlines) and command sequences.
 *
 * Settle budgets are multiples of 100 ms, backoff delays end in 37 ms,
 * startups in 13 ms, start timeouts in 59 ms and liveness deadlines in 71 ms,
 * so that two of them started together never end at the same instant.
 */
import fc from "fast-check"
import type { AutoShutdown, BackoffSpec, ChildSpec, Command, Policy, PoolSpec, Strategy, SystemSpec } from "./spec.ts"

const policy = fc.constantFrom<Policy>("permanent", "transient", "temporary")
const strategy = fc.constantFrom<Strategy>("one_for_all", "rest_for_one", "one_for_one")
const autoShutdown = fc.oneof(
  { weight: 4, arbitrary: fc.constant<AutoShutdown>("never") },
  { weight: 1, arbitrary: fc.constantFrom<AutoShutdown>("anySignificant", "allSignificant") }
)
const budgetMillis = fc.integer({ min: 1, max: 30 }).map((n) => n * 100)
const backoff: fc.Arbitrary<BackoffSpec> = fc.record({
  kind: fc.constantFrom<BackoffSpec["kind"]>("spaced", "exponential"),
  base: fc.integer({ min: 0, max: 8 }).map((n) => n * 100 + 37),
  times: fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined, freq: 2 })
})

/** Most startups return at once; some take up to 813 ms. */
export const startMillis = fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: 0, max: 8 }).map((n) => n * 100 + 13) })
const startTimeout = fc.option(fc.integer({ min: 0, max: 9 }).map((n) => n * 100 + 59), { nil: undefined, freq: 4 })
const deadline = fc.option(fc.integer({ min: 1, max: 20 }).map((n) => n * 100 + 71), { nil: undefined, freq: 4 })
const childBudget = fc.oneof({ weight: 1, arbitrary: fc.constant("brutal" as const) }, { weight: 3, arbitrary: budgetMillis })

interface RawWorker {
  readonly kind: "worker"
  readonly policy: Policy
  readonly shutdown: "brutal" | number
  readonly significant: boolean
  readonly startMillis: number
  readonly startTimeout: number | undefined
  readonly deadline: number | undefined
}
type RawPool = Omit<PoolSpec, "name">
interface RawSystem extends Omit<SystemSpec, "name" | "children"> {
  readonly children: ReadonlyArray<RawWorker | RawSystem | RawPool>
}

const worker: fc.Arbitrary<RawWorker> = fc.record({
  kind: fc.constant("worker" as const),
  policy,
  shutdown: childBudget,
  significant: fc.boolean(),
  startMillis,
  startTimeout,
  deadline
})

const pool: fc.Arbitrary<RawPool> = fc.record({
  kind: fc.constant("pool" as const),
  policy: fc.constant("permanent" as const),
  shutdown: fc.constant("infinity" as const),
  significant: fc.constant(false as const),
  maxChildren: fc.option(fc.integer({ min: 0, max: 4 }), { nil: undefined, freq: 2 }),
  child: fc.record({ policy, shutdown: childBudget, startTimeout, deadline }),
  maxRestarts: fc.integer({ min: 0, max: 4 }),
  within: fc.integer({ min: 1, max: 50 }).map((n) => n * 100),
  backoff: fc.option(backoff, { nil: undefined, freq: 3 })
})

const system = (level: number): fc.Arbitrary<RawSystem> =>
  fc.record({
    kind: fc.constant("system" as const),
    policy,
    shutdown: fc.oneof({ weight: 4, arbitrary: fc.constant("infinity" as const) }, { weight: 1, arbitrary: budgetMillis }),
    significant: fc.boolean(),
    strategy,
    maxRestarts: fc.integer({ min: 0, max: 4 }),
    within: fc.integer({ min: 1, max: 50 }).map((n) => n * 100),
    backoff: fc.option(backoff, { nil: undefined, freq: 3 }),
    autoShutdown,
    children: fc.array(
      level >= 3
        ? fc.oneof({ weight: 4, arbitrary: worker }, { weight: 1, arbitrary: pool })
        : fc.oneof({ weight: 6, arbitrary: worker }, { weight: 2, arbitrary: system(level + 1) }, { weight: 1, arbitrary: pool }),
      { minLength: 1, maxLength: level === 1 ? 4 : 3 }
    )
  })

/** Names children `a`, `b`, ... and keeps `significant` only where it is valid (transient or temporary, under autoShutdown). */
const finish = (raw: RawSystem, name: string, parent: AutoShutdown): SystemSpec => ({
  ...raw,
  name,
  significant: raw.significant && raw.policy !== "permanent" && parent !== "never",
  children: raw.children.map((child, i): ChildSpec => {
    const childName = String.fromCharCode(97 + i)
    if (child.kind === "system") return finish(child, childName, raw.autoShutdown)
    if (child.kind === "pool") return { ...child, name: childName }
    return { ...child, name: childName, significant: child.significant && child.policy !== "permanent" && raw.autoShutdown !== "never" }
  })
})

/**
 * Makes every liveness deadline in the tree differ from the others: children started together (a group
 * restart) with equal deadlines would be taken for hung at the same instant, in an order not defined.
 */
const distinctDeadlines = (root: SystemSpec): SystemSpec => {
  const taken = new Set<number>()
  const distinct = (deadline: number | undefined): number | undefined => {
    if (deadline === undefined) return undefined
    while (taken.has(deadline)) deadline += 100
    taken.add(deadline)
    return deadline
  }
  const walk = (system: SystemSpec): SystemSpec => ({
    ...system,
    children: system.children.map((child): ChildSpec =>
      child.kind === "system"
        ? walk(child)
        : child.kind === "pool"
        ? { ...child, child: { ...child.child, deadline: distinct(child.child.deadline) } }
        : { ...child, deadline: distinct(child.deadline) }
    )
  })
  return walk(root)
}

export const tree: fc.Arbitrary<SystemSpec> = system(1).map((raw) =>
  distinctDeadlines(finish({ ...raw, policy: "permanent", shutdown: "infinity" }, "app", "never"))
)

const target = fc.nat({ max: 63 })

export const command: fc.Arbitrary<Command> = fc.oneof(
  {
    weight: 18,
    arbitrary: fc.record({
      _tag: fc.constant("Crash" as const),
      target,
      exit: fc.constantFrom("normal" as const, "failure" as const, "defect" as const, "interrupted" as const),
      via: fc.constantFrom("self" as const, "exitChild" as const)
    })
  },
  { weight: 6, arbitrary: fc.record({ _tag: fc.constant("IgnoreSettle" as const), target, ignore: fc.oneof({ weight: 3, arbitrary: fc.constant(true) }, { weight: 1, arbitrary: fc.constant(false) }) }) },
  { weight: 5, arbitrary: fc.record({ _tag: fc.constant("FailNextStart" as const), target }) },
  {
    weight: 12,
    arbitrary: fc.record({
      _tag: fc.constant("Advance" as const),
      millis: fc.oneof({ weight: 4, arbitrary: fc.integer({ min: 1, max: 1500 }) }, { weight: 1, arbitrary: fc.integer({ min: 1500, max: 12000 }) })
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Terminate" as const), target }) },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Restart" as const), target }) },
  {
    weight: 8,
    arbitrary: fc.record({
      _tag: fc.constant("Spawn" as const),
      target,
      task: fc.boolean(),
      name: fc.oneof({ weight: 4, arbitrary: fc.constant(undefined) }, { weight: 1, arbitrary: fc.constantFrom("x", "1") }),
      startMillis
    })
  },
  { weight: 3, arbitrary: fc.record({ _tag: fc.constant("Feed" as const), target }) },
  { weight: 1, arbitrary: fc.constant({ _tag: "Shutdown" as const }) }
)

export const commands: fc.Arbitrary<ReadonlyArray<Command>> = fc.array(command, { minLength: 4, maxLength: 40, size: "medium" })
