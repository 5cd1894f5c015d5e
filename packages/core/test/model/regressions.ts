/**
 * Cases the model-based runs found, shrunk, kept as fixed cases: each runs
 * on every `npm test`, so that what it found stays fixed.
 */
import type { ChildSpec, Command, Strategy, SystemSpec, WorkerSpec } from "./spec.ts"

const worker = (
  name: string,
  shutdown: WorkerSpec["shutdown"],
  options: Partial<Pick<WorkerSpec, "policy" | "startMillis" | "deadline">> = {}
): WorkerSpec => ({
  kind: "worker",
  name,
  policy: "permanent",
  shutdown,
  significant: false,
  startMillis: 0,
  startTimeout: undefined,
  deadline: undefined,
  ...options
})

const system = (
  name: string,
  options: Partial<Omit<SystemSpec, "kind" | "name" | "children">> & { readonly strategy: Strategy },
  children: ReadonlyArray<ChildSpec>
): SystemSpec => ({
  kind: "system",
  name,
  policy: "permanent",
  shutdown: "infinity",
  significant: false,
  maxRestarts: 3,
  within: 5000,
  backoff: undefined,
  autoShutdown: "never",
  ...options,
  children
})

export interface Regression {
  /** What the case found, as a sentence. */
  readonly name: string
  readonly tree: SystemSpec
  readonly commands: ReadonlyArray<Command>
}

export const regressions: ReadonlyArray<Regression> = [
  {
    // Seed 1223966186, case 8110. app restarts app/a (a subsystem) and then app/c at the same instant. The tree was
    // right: app/a's start ran at once, to its end, before app/c's restart (Effect resumes a waiting fiber at once;
    // OTP would too, as its supervisor waits for a child's start). The model queued app/a's progress behind app/c's
    // restart. Its kernel now resumes waiters at once, and, where a startup suspends, lets the entries of strands
    // that do not know of each other come in either order (docs/restarts.md, "Order").
    name: "a subsystem restarted on its own starts its children concurrently with its parent's next restart",
    tree: system("app", { strategy: "one_for_one", maxRestarts: 1, within: 100, backoff: { kind: "spaced", base: 337, times: undefined } }, [
      system("a", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [
        system("a", { strategy: "one_for_all", maxRestarts: 0, within: 100, autoShutdown: "anySignificant" }, [
          worker("a", 100),
          worker("b", 100)
        ]),
        worker("b", 100)
      ]),
      worker("b", 300),
      worker("c", "brutal"),
      worker("d", 100)
    ]),
    commands: [
      { _tag: "FailNextStart", target: 34 },
      { _tag: "FailNextStart", target: 31 },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" },
      { _tag: "FailNextStart", target: 0 },
      { _tag: "Advance", millis: 436 },
      { _tag: "Crash", target: 14, exit: "normal", via: "self" },
      { _tag: "Advance", millis: 370 },
      { _tag: "Restart", target: 0 },
      { _tag: "IgnoreSettle", target: 45, ignore: true },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" },
      { _tag: "Terminate", target: 53 },
      { _tag: "Advance", millis: 1 },
      { _tag: "FailNextStart", target: 0 },
      { _tag: "Terminate", target: 0 },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" }
    ]
  },
  {
    // Seed 1196538425, case 1127. The model was wrong: its subsystem app/a told the replay waiting for it that it
    // runs before it counted as running, so the next failed replay took it for a child still starting and
    // restarted it. Arbor marks a child running before whoever waits for its startup resumes.
    name: "a subsystem is running before the declaration waiting for it resumes",
    tree: system("app", { strategy: "rest_for_one", maxRestarts: 1, within: 100 }, [
      system("a", { strategy: "one_for_all", maxRestarts: 0, within: 100, autoShutdown: "anySignificant" }, [
        worker("a", 100, { startMillis: 113 })
      ]),
      worker("b", 100, { startMillis: 13 })
    ]),
    commands: [
      { _tag: "Terminate", target: 0 },
      { _tag: "Advance", millis: 7 },
      { _tag: "FailNextStart", target: 15 },
      ...Array.from({ length: 5 }, () => ({ _tag: "Crash", target: 0, exit: "normal", via: "self" } as const)),
      { _tag: "Crash", target: 23, exit: "normal", via: "exitChild" },
      { _tag: "Advance", millis: 1 },
      { _tag: "Advance", millis: 110 },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" }
    ]
  },
  {
    // Seed 863226701, case 1452. The model was wrong: it woke a supervisor waiting for its mailbox at once, where
    // an event offered to a Queue reaches the fiber waiting on it through the scheduler. So app/b handled the end
    // of its failed start before app/b/a had taken its hung child's exit, and escalated first. Both escalations
    // happen at once, in independent supervisors: their order is not defined, and the model no longer pins it.
    name: "a supervisor waiting for its mailbox is woken through the scheduler; escalations of independent supervisors may swap",
    tree: system("app", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [
      worker("a", 100),
      system("b", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [
        system("a", { strategy: "one_for_all", maxRestarts: 0, within: 100, autoShutdown: "anySignificant" }, [
          worker("a", 200),
          worker("b", 100, { startMillis: 13, deadline: 171 })
        ]),
        worker("b", 100),
        system("c", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [worker("a", 100)])
      ])
    ]),
    commands: [
      { _tag: "IgnoreSettle", target: 16, ignore: true },
      { _tag: "FailNextStart", target: 38 },
      { _tag: "Terminate", target: 43 },
      { _tag: "Advance", millis: 1 },
      { _tag: "Spawn", target: 0, task: false, name: undefined, startMillis: 0 },
      { _tag: "Advance", millis: 1 },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" }
    ]
  },
  {
    // Seed 1883740713, case 2869. The model was wrong: a command to end a worker's main loop, chosen while the
    // worker ran, came at the instant its sibling was taken for hung, after the restart had asked it to settle.
    // Its main loop still ran, and ended: the model ignored the command because the worker was no longer running.
    name: "a worker asked to settle still ends its main loop by its own hand",
    tree: system("app", { strategy: "one_for_all", maxRestarts: 1, within: 100 }, [
      worker("a", 100),
      worker("b", 100, { deadline: 571 }),
      worker("c", 100),
      worker("d", 100)
    ]),
    commands: [
      { _tag: "IgnoreSettle", target: 22, ignore: true },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" },
      { _tag: "Advance", millis: 459 },
      { _tag: "Advance", millis: 10276 },
      { _tag: "Crash", target: 54, exit: "normal", via: "self" },
      { _tag: "Crash", target: 0, exit: "normal", via: "self" },
      { _tag: "Restart", target: 0 },
      { _tag: "FailNextStart", target: 0 }
    ]
  },
  {
    // Seed 20261130, case 3031, found when a supervisor's mailbox began to resume it on the poster's stack. The
    // second terminateChild of app/a (whose restart by restartChild was still starting) was handled on its
    // caller's stack before the caller waited: its answer reached the caller only after the answer the handling
    // gave meanwhile to the restartChild, already waiting. Calls now resume the supervisor once their caller waits.
    name: "administration answers reach their callers in the order they were given",
    tree: system("app", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [
      system("a", { strategy: "one_for_all", maxRestarts: 0, within: 100 }, [worker("a", 100, { startMillis: 13 })])
    ]),
    commands: [
      { _tag: "Terminate", target: 0 },
      { _tag: "Restart", target: 0 },
      { _tag: "Terminate", target: 0 }
    ]
  }
]
