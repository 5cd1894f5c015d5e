import { configDefaults, defineConfig } from "vitest/config"

const include = ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts", "bench/**/*.test.ts", "scripts/**/*.test.ts"]
// Chromium and the 10,000-child tree it measures load both cores: run alone, after the rest, they neither slow the
// timing-sensitive tests (the watchdog's) nor get slowed by them.
const browser = ["packages/node/test/WebObserver.test.ts"]

export default defineConfig({
  // Workspace packages export their TypeScript sources under "@arbor/source": a condition name of the project's own,
  // so that a consumer's own "source" condition never picks up Arbor's sources from node_modules.
  resolve: { conditions: ["@arbor/source"] },
  ssr: { resolve: { conditions: ["@arbor/source"] } },
  test: {
    testTimeout: 30_000,
    // Supervision logs are part of what tests check; print them only for a test that fails.
    silent: "passed-only",
    projects: [
      { extends: true, test: { name: "suite", include, exclude: [...configDefaults.exclude, ...browser], sequence: { groupOrder: 0 } } },
      { extends: true, test: { name: "browser", include: browser, sequence: { groupOrder: 1 } } }
    ]
  }
})
