import { defineConfig } from "vitest/config"

export default defineConfig({
  // Workspace packages export their TypeScript sources under "@arbor/source": a condition name of the project's own,
  // so that a consumer's own "source" condition never picks up Arbor's sources from node_modules.
  resolve: { conditions: ["@arbor/source"] },
  ssr: { resolve: { conditions: ["@arbor/source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts", "bench/**/*.test.ts", "scripts/**/*.test.ts"],
    testTimeout: 30_000,
    // Supervision logs are part of what tests check; print them only for a test that fails.
    silent: "passed-only"
  }
})
