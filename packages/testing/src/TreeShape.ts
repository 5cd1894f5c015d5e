/**
 * Tree shapes: a compact description of a tree — which children, in which
 * order, in which state — to compare with a snapshot.
 *
 * A shape is written as the tree looks: an object per system or pool, whose
 * keys are its children's names in start order; a string per child saying
 * its state, optionally with its restart count.
 *
 * ```ts no-check
 * {
 *   db: "running",
 *   api: { http: "running restarts=1", grpc: "restarting" },
 *   jobs: {}
 * }
 * ```
 *
 * A string checks a node's state (and restart count if given), whatever its
 * kind; an object checks the children of a system or pool, by name and in
 * order, and not the state of the system itself. A mismatch is reported as a
 * line diff of the two trees.
 *
 * Pool children named by the pool's counter (`"1"`, `"2"`, ...) are integer
 * keys, which JavaScript orders numerically: in start order, as the pool
 * started them. A snapshot lists at most the toplevel's `snapshotPoolLimit`
 * children of a pool (default 100).
 *
 * @since 0.1.0
 */
import type { Toplevel, TreeSnapshot } from "@arbor/core"
import * as Effect from "effect/Effect"
import * as Schema from "effect/Schema"
import { diff } from "./internal/diff.ts"

/**
 * A node's state, optionally with how many times it was restarted:
 * `"running"`, `"stopped"`, `"running restarts=2"`.
 *
 * @example
 * ```ts
 * import type { TreeShape } from "@arbor/testing"
 *
 * const leaves: Array<TreeShape.Leaf> = ["running", "restarting", "running restarts=3"]
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Leaf = Toplevel.ChildState | `${Toplevel.ChildState} restarts=${number}`

/**
 * A system's or pool's children, by name, in start order.
 *
 * @example
 * ```ts
 * import type { TreeShape } from "@arbor/testing"
 *
 * const api: TreeShape.Branch = { http: "running", grpc: "running" }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export interface Branch {
  readonly [name: string]: Shape
}

/**
 * The expected shape of a node: a {@link Leaf} checks its state, a
 * {@link Branch} its children.
 *
 * @example
 * ```ts
 * import type { TreeShape } from "@arbor/testing"
 *
 * const shape: TreeShape.Shape = { db: "running", api: { http: "running restarts=1", grpc: "running" } }
 * ```
 *
 * @category models
 * @since 0.1.0
 */
export type Shape = Leaf | Branch

/**
 * The shape of a snapshot node: its children as a {@link Branch} if it is a
 * running system or pool, its state otherwise. Print it to start writing an
 * expectation.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 * import { TreeShape } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const printed = Effect.map(toplevel.snapshot, (snapshot) => TreeShape.format(TreeShape.of(snapshot.root)))
 * ```
 *
 * @category constructors
 * @since 0.1.0
 */
export const of = (node: TreeSnapshot.Node): Shape =>
  node.children === undefined
    ? node.state
    : Object.fromEntries(node.children.map((child) => [child.name, of(child)]))

/**
 * A shape as indented lines: `name: state` for a leaf, `name:` and its
 * children below for a branch.
 *
 * @example
 * ```ts
 * import { TreeShape } from "@arbor/testing"
 *
 * TreeShape.format({ db: "running", api: { http: "running" } })
 * // "db: running\napi:\n  http: running"
 * ```
 *
 * @category formatting
 * @since 0.1.0
 */
export const format = (shape: Shape): string => lines(shape, "").join("\n")

const lines = (shape: Shape, indent: string): Array<string> =>
  typeof shape === "string"
    ? [`${indent}${shape}`]
    : Object.entries(shape).flatMap(([name, child]) =>
      typeof child === "string" ? [`${indent}${name}: ${child}`] : [`${indent}${name}:`, ...lines(child, `${indent}  `)]
    )

/**
 * The node's shape with the detail of `expected`: restart counts where the
 * expected leaf has one, children where it expects a branch (and the node has
 * children), the bare state elsewhere, so that only what the test states is
 * compared.
 */
const project = (node: TreeSnapshot.Node, expected: Shape | undefined): Shape => {
  if (typeof expected === "object" && node.children !== undefined) {
    return Object.fromEntries(node.children.map((child) => [child.name, project(child, expected[child.name])]))
  }
  return typeof expected === "string" && expected.includes(" restarts=") ? `${node.state} restarts=${node.restarts}` : node.state
}

/**
 * The node at `path` does not have the expected shape. `diff` shows the two
 * trees line by line: `-` expected, `+` actual.
 *
 * @example
 * ```ts
 * import { TreeShape } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * declare const check: Effect.Effect<void, TreeShape.ShapeMismatch>
 * const report = check.pipe(Effect.catchTag("ShapeMismatch", (e) => Effect.logError(e.diff)))
 * ```
 *
 * @category errors
 * @since 0.1.0
 */
export class ShapeMismatch extends Schema.TaggedError<ShapeMismatch>()("ShapeMismatch", {
  path: Schema.String,
  diff: Schema.String
}) {
  override get message(): string {
    return `${this.path}: the tree's shape differs (- expected, + actual):\n${this.diff}`
  }
}

/**
 * Compares `node` (from a snapshot) with the `expected` shape; fails with
 * {@link ShapeMismatch} and a line diff when they differ.
 *
 * @example
 * ```ts
 * import type { Toplevel } from "@arbor/core"
 * import { TreeShape } from "@arbor/testing"
 * import { Effect } from "effect"
 *
 * declare const toplevel: Toplevel.Toplevel<never>
 * const check = Effect.flatMap(toplevel.snapshot, (snapshot) =>
 *   TreeShape.expect(snapshot.root, { db: "running", api: { http: "running" } })
 * )
 * ```
 *
 * @category comparing
 * @since 0.1.0
 */
export const expect = (node: TreeSnapshot.Node, expected: Shape): Effect.Effect<void, ShapeMismatch> =>
  Effect.suspend(() => {
    const want = lines(expected, "")
    const got = lines(project(node, expected), "")
    const changes = diff(want, got, (a, b) => a === b)
    if (changes.every((line) => line._tag === "Both")) return Effect.void
    const report = changes.map((line) =>
      line._tag === "Both" ? `  ${line.actual}` : line._tag === "Expected" ? `- ${line.expected}` : `+ ${line.actual}`
    )
    return Effect.fail(new ShapeMismatch({ path: node.path, diff: report.join("\n") }))
  })
