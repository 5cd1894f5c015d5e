/**
 * The packages as a user gets them from npm: `npm pack` of each workspace
 * (its `prepack` builds it), installed with `effect` and
 * `@effect/platform-node` into a project outside the repository from the
 * local npm cache only, compiled there by `tsc` (NodeNext, strict) and run
 * with plain `node`.
 *
 * The scratch project gets a lockfile made from the repository's own, so
 * `npm ci --offline` needs no registry: every tarball it installs is one the
 * repository's `npm ci` put in the cache.
 */
import { describe, expect, it } from "@effect/vitest"
import { execFileSync } from "node:child_process"
import { copyFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs"
import { tmpdir } from "node:os"
import { join } from "node:path"
import { freePort } from "../packages/cluster/test/postgres.ts"
import { positions, run } from "../packages/node/test/process.ts"

const root = join(import.meta.dirname, "..")
const workspaces = ["core", "node", "testing", "cluster"] as const

interface Packed {
  readonly name: string
  readonly version: string
  readonly filename: string
  readonly integrity: string
  readonly files: ReadonlyArray<{ readonly path: string }>
}

interface LockEntry {
  readonly version?: string
  readonly dependencies?: Record<string, string>
  readonly optionalDependencies?: Record<string, string>
  readonly peerDependencies?: Record<string, string>
  readonly peerDependenciesMeta?: Record<string, { readonly optional?: boolean }>
  readonly [key: string]: unknown
}

const npm = (args: ReadonlyArray<string>, cwd: string): string =>
  execFileSync("npm", [...args, "--no-audit", "--no-fund", "--loglevel=error"], { cwd, encoding: "utf8" })

/**
 * The lockfile entries of `names` and of everything they depend on, as the
 * repository's lockfile resolved them (hoisted to the top, as there), without
 * the repository's dev flags; optional peers it never installed are left out.
 */
const lockedClosure = (names: ReadonlyArray<string>): Record<string, LockEntry> => {
  const lock = JSON.parse(readFileSync(join(root, "package-lock.json"), "utf8")) as { packages: Record<string, LockEntry> }
  const closure: Record<string, LockEntry> = {}
  const visit = (name: string) => {
    const key = `node_modules/${name}`
    if (closure[key] !== undefined) return
    const entry = lock.packages[key]
    if (entry === undefined) throw new Error(`${name} is not in package-lock.json`)
    const { dev: _dev, devOptional: _devOptional, peer: _peer, ...kept } = entry
    closure[key] = kept
    const optionalPeers = new Set(Object.entries(entry.peerDependenciesMeta ?? {}).filter(([, meta]) => meta.optional).map(([peer]) => peer))
    for (const dependency of Object.keys({ ...entry.dependencies, ...entry.optionalDependencies, ...entry.peerDependencies })) {
      if (!(optionalPeers.has(dependency) && lock.packages[`node_modules/${dependency}`] === undefined)) visit(dependency)
    }
  }
  names.forEach(visit)
  return closure
}

/** Installs the tarballs in `dir` with the given registry packages, from the cache only. */
const install = (dir: string, packed: ReadonlyArray<Packed>, registry: ReadonlyArray<string>) => {
  const locked = lockedClosure(registry)
  const dependencies = Object.fromEntries([
    ...packed.map((p) => [p.name, `file:${p.filename}`]),
    ...registry.map((name) => [name, locked[`node_modules/${name}`]!.version!])
  ])
  const manifests = packed.map((p) =>
    JSON.parse(execFileSync("tar", ["-xzOf", join(dir, p.filename), "package/package.json"], { encoding: "utf8" }))
  )
  const entries = packed.map((p, i) => [`node_modules/${p.name}`, {
    version: p.version,
    resolved: `file:${p.filename}`,
    integrity: p.integrity,
    license: manifests[i].license,
    dependencies: manifests[i].dependencies,
    peerDependencies: manifests[i].peerDependencies,
    peerDependenciesMeta: manifests[i].peerDependenciesMeta,
    engines: manifests[i].engines
  }] as const)
  writeFileSync(join(dir, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module", dependencies }, null, 2))
  writeFileSync(join(dir, "package-lock.json"), JSON.stringify({
    name: "consumer",
    lockfileVersion: 3,
    requires: true,
    packages: { "": { name: "consumer", dependencies }, ...Object.fromEntries(entries), ...locked }
  }, null, 2))
  npm(["ci", "--offline"], dir)
  return manifests
}

describe("the packed packages", () => {
  it("pack with their build, install from the cache into a project of their own, typecheck and run from plain node", async () => {
    const dir = mkdtempSync(join(tmpdir(), "arbor-packed-"))
    try {
      const packed: ReadonlyArray<Packed> = JSON.parse(
        npm(["pack", ...workspaces.flatMap((name) => ["--workspace", `packages/${name}`]), "--pack-destination", dir, "--json"], root)
      )
      expect(packed.map((p) => p.name)).toEqual(["@arbor/core", "@arbor/node", "@arbor/testing", "@arbor/cluster"])
      for (const { files } of packed) {
        const paths = files.map((file) => file.path)
        expect(paths).toEqual(expect.arrayContaining(["LICENSE", "README.md", "package.json", "dist/index.js", "dist/index.d.ts"]))
        expect(paths.filter((path) => path.includes("tsbuildinfo"))).toEqual([])
      }
      // The web observer's page is built into the package: its users need no build step.
      expect(packed[1]!.files.map((file) => file.path)).toContain("dist/observer.html")

      const manifests = install(dir, packed, ["effect", "@effect/platform-node", "@types/node"])
      for (const manifest of manifests) {
        // A consumer's own `source` condition must not pick Arbor's TypeScript sources in node_modules.
        for (const conditions of Object.values(manifest.exports)) expect(Object.keys(conditions as object)).not.toContain("source")
        if (manifest.name !== "@arbor/core") expect(manifest.dependencies).toEqual({ "@arbor/core": "^0.1.0" })
      }

      copyFileSync(join(root, "scripts/consumer/main.ts"), join(dir, "main.ts"))
      copyFileSync(join(root, "scripts/consumer/cluster.ts"), join(dir, "cluster.ts"))
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({
        compilerOptions: {
          target: "ES2022",
          module: "NodeNext",
          moduleResolution: "NodeNext",
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          // The consumer's monorepo condition, the one that used to resolve to Arbor's .ts sources (TS5097).
          customConditions: ["source"],
          skipLibCheck: false,
          types: ["node"]
        },
        files: ["main.ts", "cluster.ts"]
      }))
      execFileSync(join(root, "node_modules/.bin/tsc"), ["-p", dir], { encoding: "utf8" })

      // Plain node on the emitted JavaScript, with the consumer's own `source` condition on.
      const program = run(join(dir, "main.js"), [], {}, [], { conditions: ["source"] })
      await program.waitFor("last ready")
      const url = /observer listening on (http:\/\/127\.0\.0\.1:\d+)/.exec(program.output())![1]!
      expect(await (await fetch(`${url}/healthz`)).json()).toEqual({ status: "ok", tree: "running", checks: { eventLoop: { lastStall: null } } })
      const page = await fetch(`${url}/`, { headers: { accept: "text/html" } })
      expect([page.status, page.headers.get("content-type")]).toEqual([200, "text/html; charset=utf-8"])
      expect(await page.text()).toContain("<div id=\"app\"></div>")
      program.child.kill("SIGINT")
      expect(await program.exited()).toBe(0)
      const [last, first] = positions(program.output(), ["last settled", "first settled"])
      expect(last).toBeGreaterThan(0)
      expect(first).toBeGreaterThan(last!)

      // A cluster singleton on the embedded store, from the packed @arbor/cluster.
      const cluster = run(join(dir, "cluster.js"), [String(await freePort()), join(dir, "cluster.db")], {}, [], { conditions: ["source"] })
      expect(await cluster.exited()).toBe(0)
      expect(cluster.output()).toContain("scheduler runs with fencing token 1")
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  }, 180_000)
})
