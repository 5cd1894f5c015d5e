/**
 * A line diff by longest common subsequence: what was expected, what is
 * there, and how one becomes the other. Small inputs only (tests): it is
 * quadratic in time and memory.
 */

/** One line of a diff: in both, only expected, or only actual. */
export type Line<A, B> =
  | { readonly _tag: "Both"; readonly expected: A; readonly actual: B }
  | { readonly _tag: "Expected"; readonly expected: A }
  | { readonly _tag: "Actual"; readonly actual: B }

export const diff = <A, B>(
  expected: ReadonlyArray<A>,
  actual: ReadonlyArray<B>,
  same: (expected: A, actual: B) => boolean
): Array<Line<A, B>> => {
  const n = expected.length
  const m = actual.length
  // lengths[i][j]: the longest common subsequence of expected[i..] and actual[j..].
  const lengths: Array<Uint32Array> = Array.from({ length: n + 1 }, () => new Uint32Array(m + 1))
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      lengths[i]![j] = same(expected[i]!, actual[j]!)
        ? lengths[i + 1]![j + 1]! + 1
        : Math.max(lengths[i + 1]![j]!, lengths[i]![j + 1]!)
    }
  }
  const lines: Array<Line<A, B>> = []
  let i = 0
  let j = 0
  while (i < n && j < m) {
    if (same(expected[i]!, actual[j]!) && lengths[i]![j] === lengths[i + 1]![j + 1]! + 1) {
      lines.push({ _tag: "Both", expected: expected[i++]!, actual: actual[j++]! })
    } else if (lengths[i + 1]![j]! >= lengths[i]![j + 1]!) {
      lines.push({ _tag: "Expected", expected: expected[i++]! })
    } else {
      lines.push({ _tag: "Actual", actual: actual[j++]! })
    }
  }
  while (i < n) lines.push({ _tag: "Expected", expected: expected[i++]! })
  while (j < m) lines.push({ _tag: "Actual", actual: actual[j++]! })
  return lines
}
