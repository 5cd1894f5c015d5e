import { defineConfig } from "vitest/config"

export default defineConfig({
  // Workspace packages export their TypeScript sources under the "source" condition.
  resolve: { conditions: ["source"] },
  ssr: { resolve: { conditions: ["source"] } },
  test: {
    include: ["packages/*/test/**/*.test.ts", "examples/**/*.test.ts", "bench/**/*.test.ts"],
    testTimeout: 30_000,
    // Supervision logs are part of what tests check; print them only for a test that fails.
    silent: "passed-only"
  }
})
