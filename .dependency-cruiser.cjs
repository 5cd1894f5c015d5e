// Which module may import which, checked by `npm run imports` (dependency-cruiser), part of `npm test`.
//
// In every package, imports run one way, and never in a circle:
//
//   index.ts → public modules → internal/ (the engine) → shared models
//
// The shared models are the public modules that hold only models (types, schemas, errors, pure functions) and the
// few dependency-free internal helpers they use: the engine reads them, and they import nothing but each other.
// A public module with an engine (Toplevel, HealthGate, ...) documents and re-exports; the engine defines.
// Another package is imported by its name (its index), never by a path into its sources.

/** Each package's shared models, as paths under its src/. */
const models = {
  core: [
    "ChildExit", "Errors", "Lifecycle", "LifecycleEvent", "MainLoop", "Metrics", "Options", "Pool",
    "RestartIntensity", "RestartPolicy", "RestartStrategy", "ShutdownToken", "System", "TreeSnapshot",
    "internal/summary"
  ],
  node: ["WorkerRunner", "internal/workerProtocol", "internal/watchdogProtocol", "internal/processSample"],
  testing: [],
  cluster: []
}

/** The files another package may import: each package's entry points (its package.json `exports`). */
const entries = "^packages/[^/]+/src/index\\.ts$|^packages/node/src/WorkerRunner\\.ts$"

const modelsOf = (pkg) => `^packages/${pkg}/src/(${[...models[pkg], "$^"].join("|")})\\.ts$`

/** The observer's web page: a browser bundle, built from its own sources. */
const ui = "^packages/node/ui/"

const layers = (pkg) => [
  {
    name: `${pkg}: engine-not-up`,
    comment: "The engine (internal/) imports the engine and the shared models, never a public module above it.",
    severity: "error",
    from: { path: `^packages/${pkg}/src/internal/` },
    to: { path: `^packages/${pkg}/src/[^/]+\\.ts$`, pathNot: modelsOf(pkg) }
  },
  {
    name: `${pkg}: models-stay-down`,
    comment: "A shared model imports only other shared models: nothing of the engine or of a public module above.",
    severity: "error",
    from: { path: modelsOf(pkg) },
    to: { path: `^packages/${pkg}/`, pathNot: modelsOf(pkg) }
  }
]

module.exports = {
  forbidden: [
    {
      name: "no-circular",
      comment: "A circle of imports, type-only ones included: move what both sides share below them.",
      severity: "error",
      from: { path: "^packages/" },
      to: { circular: true }
    },
    ...Object.keys(models).flatMap(layers),
    {
      name: "packages-by-entry",
      comment: "A package imports another through one of its entry points, never a file inside it.",
      severity: "error",
      from: { path: "^packages/([^/]+)/", pathNot: ui },
      to: { path: "^packages/", pathNot: [entries, "^packages/$1/"] }
    },
    {
      name: "packages-by-name",
      comment: "A package imports another by its name (\"@arbor/core\"), not by a relative path.",
      severity: "error",
      from: { path: "^packages/([^/]+)/", pathNot: ui },
      to: { path: "^packages/", pathNot: "^packages/$1/", dependencyTypes: ["local"] }
    },
    {
      name: "ui-reads-models",
      comment: "The observer's web page takes from the packages' sources only the types of shared models.",
      severity: "error",
      from: { path: ui },
      to: { path: "^packages/[^/]+/src/", pathNot: Object.keys(models).map(modelsOf) }
    },
    {
      name: "ui-reads-types",
      comment: "The observer's web page takes only types from the packages' sources: none of their code is in the bundle.",
      severity: "error",
      from: { path: ui },
      to: { path: "^packages/[^/]+/src/", dependencyTypesNot: ["type-only"] }
    }
  ],
  options: {
    // dependency-cruiser reads TypeScript with swc here: it cannot use TypeScript 7's compiler yet.
    parser: "swc",
    doNotFollow: { path: "node_modules" },
    exclude: { path: "(^|/)(node_modules|dist)/" },
    enhancedResolveOptions: {
      extensions: [".ts", ".tsx", ".js"],
      conditionNames: ["@arbor/source", "import", "default"],
      exportsFields: ["exports"]
    }
  }
}
