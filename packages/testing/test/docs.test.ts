import { describe, expect, it } from "@effect/vitest"
import { readFileSync } from "node:fs"

const read = (path: string) => readFileSync(new URL(path, import.meta.url), "utf8")

describe("docs/testing.md", () => {
  it("its worked example is example.test.ts, which runs in the suite", () => {
    const example = /```ts\n([\s\S]*?)```/.exec(read("../../../docs/testing.md"))?.[1]
    const test = read("./example.test.ts")
    expect(example?.trim()).toBe(test.slice(test.indexOf("import {")).trim())
  })
})
