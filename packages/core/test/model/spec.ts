/**
 * The trees and commands the model-based tests generate, as plain data, and
 * how a failing case prints them.
 */

export type Policy = "permanent" | "transient" | "temporary"
export type Strategy = "one_for_all" | "rest_for_one" | "one_for_one"
export type AutoShutdown = "never" | "anySignificant" | "allSignificant"
export type ExitKind = "normal" | "failure" | "defect" | "interrupted"

/** A backoff schedule: `spaced(base)` or `exponential(base)`, ending after `times` delays if given. */
export interface BackoffSpec {
  readonly kind: "spaced" | "exponential"
  readonly base: number
  readonly times: number | undefined
}

/** How a worker starts and is watched: also each child a pool's `spawn` starts. */
export interface Startup {
  /** How long its startup function takes, in milliseconds: 0 returns at once, more suspends across clock advances. */
  readonly startMillis: number
  /** Its `startTimeout`, in milliseconds. */
  readonly startTimeout: number | undefined
  /** Its liveness deadline, in milliseconds. */
  readonly deadline: number | undefined
}

export interface WorkerSpec extends Startup {
  readonly kind: "worker"
  readonly name: string
  readonly policy: Policy
  /** Milliseconds, or `"brutal"`. */
  readonly shutdown: "brutal" | number
  readonly significant: boolean
}

/** A pool: a permanent child with an unbounded budget, whose own children follow `child`. */
export interface PoolSpec {
  readonly kind: "pool"
  readonly name: string
  readonly policy: "permanent"
  readonly shutdown: "infinity"
  readonly significant: false
  readonly maxChildren: number | undefined
  readonly child: {
    readonly policy: Policy
    /** Milliseconds, or `"brutal"`. */
    readonly shutdown: "brutal" | number
    readonly startTimeout: number | undefined
    readonly deadline: number | undefined
  }
  readonly maxRestarts: number
  readonly within: number
  readonly backoff: BackoffSpec | undefined
}

export interface SystemSpec {
  readonly kind: "system"
  readonly name: string
  readonly policy: Policy
  /** Milliseconds, or `"infinity"`. */
  readonly shutdown: "infinity" | number
  readonly significant: boolean
  readonly strategy: Strategy
  readonly maxRestarts: number
  readonly within: number
  readonly backoff: BackoffSpec | undefined
  readonly autoShutdown: AutoShutdown
  readonly children: ReadonlyArray<ChildSpec>
}

export type ChildSpec = WorkerSpec | SystemSpec | PoolSpec

export type Command =
  /** Ends a running child: a worker by its own hand (`via: "self"`) or any child through `toplevel.exitChild`. */
  | { readonly _tag: "Crash"; readonly target: number; readonly exit: ExitKind; readonly via: "self" | "exitChild" }
  | { readonly _tag: "IgnoreSettle"; readonly target: number; readonly ignore: boolean }
  | { readonly _tag: "FailNextStart"; readonly target: number }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Terminate"; readonly target: number }
  | { readonly _tag: "Restart"; readonly target: number }
  /**
   * A pool's `spawn` (or `run`, for a `task`) of a child named `name` (default: the pool's counter), whose startup
   * takes `startMillis`; through the pool's handle as its system's last declaration handed it out.
   */
  | { readonly _tag: "Spawn"; readonly target: number; readonly task: boolean; readonly name: string | undefined; readonly startMillis: number }
  /** A running worker (or pool child) calls `Lifecycle.feed`. */
  | { readonly _tag: "Feed"; readonly target: number }
  | { readonly _tag: "Shutdown" }

/** Every node of the tree below the root, depth first, with its path. */
export const nodesOf = (root: SystemSpec, rootPath = "app"): Array<{ readonly path: string; readonly spec: ChildSpec }> => {
  const out: Array<{ path: string; spec: ChildSpec }> = []
  const walk = (system: SystemSpec, path: string) => {
    for (const child of system.children) {
      const childPath = `${path}/${child.name}`
      out.push({ path: childPath, spec: child })
      if (child.kind === "system") walk(child, childPath)
    }
  }
  walk(root, rootPath)
  return out
}

const budget = (b: "brutal" | "infinity" | number) => typeof b === "number" ? `${b}ms` : b

const startupText = (s: { readonly startTimeout: number | undefined; readonly deadline: number | undefined }, startMillis = 0) =>
  `${startMillis > 0 ? ` starts in ${startMillis}ms` : ""}${s.startTimeout === undefined ? "" : ` startTimeout ${s.startTimeout}ms`}` +
  `${s.deadline === undefined ? "" : ` deadline ${s.deadline}ms`}`

const limitsText = (s: { readonly maxRestarts: number; readonly within: number; readonly backoff: BackoffSpec | undefined }) =>
  `${s.maxRestarts} in ${s.within}ms${s.backoff ? ` backoff ${backoffText(s.backoff)}` : ""}`

const backoffText = (b: BackoffSpec) => `${b.kind}(${b.base}ms)${b.times === undefined ? "" : ` x${b.times}`}`

/** The tree as indented text, one node a line. */
export const showTree = (root: SystemSpec): string => {
  const lines: Array<string> = []
  const systemText = (s: SystemSpec) =>
    `${s.strategy} ${limitsText(s)}${s.autoShutdown === "never" ? "" : ` autoShutdown ${s.autoShutdown}`}`
  lines.push(`app: ${systemText(root)}`)
  const walk = (system: SystemSpec, indent: string) => {
    for (const child of system.children) {
      const sig = child.significant ? " significant" : ""
      if (child.kind === "worker") {
        lines.push(`${indent}${child.name}: worker ${child.policy} ${budget(child.shutdown)}${sig}${startupText(child, child.startMillis)}`)
      } else if (child.kind === "pool") {
        const max = child.maxChildren === undefined ? "" : ` maxChildren ${child.maxChildren}`
        lines.push(
          `${indent}${child.name}: pool${max} ${limitsText(child)}; children ${child.child.policy} ${budget(child.child.shutdown)}${startupText(child.child)}`
        )
      } else {
        lines.push(`${indent}${child.name}: system ${child.policy} ${budget(child.shutdown)}${sig} ${systemText(child)}`)
        walk(child, indent + "  ")
      }
    }
  }
  walk(root, "  ")
  return lines.join("\n")
}

export const showCommand = (command: Command, pathOf: (target: number) => string): string => {
  switch (command._tag) {
    case "Crash":
      return `crash ${pathOf(command.target)} with ${command.exit} (${command.via})`
    case "IgnoreSettle":
      return `${pathOf(command.target)} ${command.ignore ? "ignores" : "heeds"} settling`
    case "FailNextStart":
      return `${pathOf(command.target)} fails its next startup`
    case "Advance":
      return `advance the clock ${command.millis}ms`
    case "Terminate":
      return `terminateChild ${pathOf(command.target)}`
    case "Restart":
      return `restartChild ${pathOf(command.target)}`
    case "Spawn":
      return `${command.task ? "run" : "spawn"} in ${pathOf(command.target)}${command.name === undefined ? "" : ` named ${command.name}`}` +
        `${command.startMillis > 0 ? `, starting in ${command.startMillis}ms` : ""}`
    case "Feed":
      return `${pathOf(command.target)} feeds its liveness deadline`
    case "Shutdown":
      return "signal shutdown"
  }
}
