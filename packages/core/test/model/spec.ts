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

export interface WorkerSpec {
  readonly kind: "worker"
  readonly name: string
  readonly policy: Policy
  /** Milliseconds, or `"brutal"`. */
  readonly shutdown: "brutal" | number
  readonly significant: boolean
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

export type ChildSpec = WorkerSpec | SystemSpec

export type Command =
  /** Ends a running child: a worker by its own hand (`via: "self"`) or any child through `toplevel.exitChild`. */
  | { readonly _tag: "Crash"; readonly target: number; readonly exit: ExitKind; readonly via: "self" | "exitChild" }
  | { readonly _tag: "IgnoreSettle"; readonly target: number; readonly ignore: boolean }
  | { readonly _tag: "FailNextStart"; readonly target: number }
  | { readonly _tag: "Advance"; readonly millis: number }
  | { readonly _tag: "Terminate"; readonly target: number }
  | { readonly _tag: "Restart"; readonly target: number }
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

const backoffText = (b: BackoffSpec) => `${b.kind}(${b.base}ms)${b.times === undefined ? "" : ` x${b.times}`}`

/** The tree as indented text, one node a line. */
export const showTree = (root: SystemSpec): string => {
  const lines: Array<string> = []
  const systemText = (s: SystemSpec) =>
    `${s.strategy} ${s.maxRestarts} in ${s.within}ms${s.backoff ? ` backoff ${backoffText(s.backoff)}` : ""}` +
    `${s.autoShutdown === "never" ? "" : ` autoShutdown ${s.autoShutdown}`}`
  lines.push(`app: ${systemText(root)}`)
  const walk = (system: SystemSpec, indent: string) => {
    for (const child of system.children) {
      const sig = child.significant ? " significant" : ""
      if (child.kind === "worker") {
        lines.push(`${indent}${child.name}: worker ${child.policy} ${budget(child.shutdown)}${sig}`)
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
    case "Shutdown":
      return "signal shutdown"
  }
}
