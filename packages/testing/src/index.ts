/**
 * @arbor/testing: test supervision trees deterministically, under Effect's `TestClock`.
 *
 * @since 0.1.0
 */

/** Lifecycle events as one-line strings, and the patterns a test expects them to match. */
export * as EventLine from "./EventLine.ts"
/** A tree under test: started in the test's scope, driven by path, stopped at its end. */
export * as TestTree from "./TestTree.ts"
/** Compact descriptions of a tree's shape, compared with its snapshot. */
export * as TreeShape from "./TreeShape.ts"
