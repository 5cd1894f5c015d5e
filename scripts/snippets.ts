/**
 * Typechecks every TypeScript snippet in the docs, the README and the JSDoc
 * of the packages' sources, so that the examples users copy cannot drift
 * from the code. Each ```ts block becomes a module under `.snippets/`; a block
 * fenced as ```ts no-check is a fragment and is skipped. It also checks that
 * every export of a public module has JSDoc with an example.
 *
 *   node scripts/snippets.ts        (part of `npm run typecheck`)
 */
import { execFileSync } from "node:child_process"
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { join, relative } from "node:path"

const root = join(import.meta.dirname, "..")
const out = join(root, ".snippets")

const walk = (dir: string, keep: (file: string) => boolean): Array<string> =>
  readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name)
    if (entry.isDirectory()) return entry.name === "node_modules" || entry.name === "dist" ? [] : walk(path, keep)
    return keep(path) ? [path] : []
  })

const fence = /```ts( no-check)?\n([\s\S]*?)```/g

const blocks = (text: string): Array<string> =>
  [...text.matchAll(fence)].filter((match) => match[1] === undefined).map((match) => match[2]!)

/** JSDoc lines lose their leading ` * ` before their blocks are read. */
const fromJsDoc = (source: string): string =>
  source.split("\n").map((line) => line.replace(/^\s*\* ?/, "")).join("\n")

const sources = [
  join(root, "README.md"),
  ...["core", "node", "testing", "cluster"].map((name) => join(root, "packages", name, "README.md")),
  join(root, "examples", "cluster", "README.md"),
  ...walk(join(root, "docs"), (file) => file.endsWith(".md")),
  ...walk(join(root, "packages"), (file) => /\/src\/.*\.ts$/.test(file))
]

/**
 * Exports of public modules (not `internal/`, not `index.ts`) whose JSDoc has no example. The type of a
 * schema, exported under the schema's name, shares the schema's documentation.
 */
const undocumented = sources
  .filter((file) => file.endsWith(".ts") && !file.includes("/internal/") && !file.endsWith("/index.ts"))
  .flatMap((file) => {
    const lines = readFileSync(file, "utf8").split("\n")
    const values = new Set(lines.map((line) => /^export const (\w+)/.exec(line)?.[1]))
    return lines.flatMap((line, i) => {
      const name = /^export (?:abstract class|class|const|function|interface|type) (\w+)/.exec(line)?.[1]
      if (name === undefined || (line.startsWith("export type") && values.has(name))) return []
      let start = i - 1
      if (lines[start]?.trim() !== "*/") return [`${relative(root, file)}: ${name} has no JSDoc`]
      while (start > 0 && !lines[start]!.trim().startsWith("/**")) start--
      return lines.slice(start, i).some((l) => l.includes("```ts")) ? [] : [`${relative(root, file)}: ${name} has no example`]
    })
  })
if (undocumented.length > 0) {
  console.error(undocumented.join("\n"))
  process.exit(1)
}

rmSync(out, { recursive: true, force: true })
mkdirSync(out)
let count = 0
for (const file of sources) {
  const text = readFileSync(file, "utf8")
  const found = blocks(file.endsWith(".ts") ? fromJsDoc(text) : text)
  found.forEach((block, i) => {
    const name = `${relative(root, file).replace(/[/.]/g, "_")}_${i + 1}.ts`
    // `export {}` makes every snippet a module, so top-level names never clash.
    writeFileSync(join(out, name), `${block}\nexport {}\n`)
    count++
  })
}
writeFileSync(join(out, "tsconfig.json"), JSON.stringify({
  extends: "../tsconfig.base.json",
  compilerOptions: { noEmit: true, composite: false, declaration: false, noUnusedLocals: false, noUnusedParameters: false },
  include: ["*.ts"]
}))
try {
  execFileSync(join(root, "node_modules", ".bin", "tsc"), ["-p", join(out, "tsconfig.json")], { stdio: "inherit" })
} catch {
  console.error(`\nA snippet above does not typecheck: see .snippets/ (${count} snippets).`)
  process.exit(1)
}
console.log(`${count} snippets typecheck`)
