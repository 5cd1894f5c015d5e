/**
 * Builds the web observer's page: the Preact app in `app/` bundled and
 * minified by esbuild, inlined with its styles into one HTML file,
 * `packages/node/dist/observer.html`, which `NodeObserver` serves at `/`.
 * Users of the package get the built page in its `dist/`: no build step of
 * theirs. In the repository `npm start` and `npm test` run this first; it
 * skips the build when the page is newer than every source.
 *
 *   node packages/node/ui/build.ts [--force]
 */
import { build } from "esbuild"
import { createHash } from "node:crypto"
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from "node:fs"
import { join } from "node:path"

const here = import.meta.dirname
const sources = join(here, "app")
const out = join(here, "..", "dist", "observer.html")

const newestSource = Math.max(
  statSync(import.meta.filename).mtimeMs,
  ...readdirSync(sources).map((file) => statSync(join(sources, file)).mtimeMs)
)
const builtAt = (() => {
  try {
    return statSync(out).mtimeMs
  } catch {
    return 0
  }
})()

if (process.argv.includes("--force") || builtAt < newestSource) {
  const started = performance.now()
  const result = await build({
    entryPoints: [join(sources, "main.tsx")],
    bundle: true,
    minify: true,
    format: "iife",
    target: ["chrome110", "firefox110", "safari16"],
    jsx: "automatic",
    jsxImportSource: "preact",
    write: false,
    legalComments: "none",
    logLevel: "warning"
  })
  // `</script` cannot appear in the bundle's strings, or it would end the inline script early.
  const script = result.outputFiles[0]!.text.replaceAll("</script", "<\\/script")
  const style = readFileSync(join(sources, "style.css"), "utf8")
  const hash = createHash("sha256").update(script).digest("base64")
  // Only this script runs; the page talks to its own server and nothing else.
  const policy = `default-src 'none'; script-src 'sha256-${hash}'; style-src 'unsafe-inline'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'`
  const html = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="${policy}">
<title>Arbor observer</title>
<style>${style}</style>
</head>
<body>
<div id="app"></div>
<script>${script}</script>
</body>
</html>
`
  mkdirSync(join(out, ".."), { recursive: true })
  writeFileSync(out, html)
  // On stderr: `npm pack --json` runs this (prepack) and its stdout must stay JSON.
  console.error(`observer page: ${Math.round(html.length / 1024)} KiB in ${Math.round(performance.now() - started)} ms -> ${out}`)
}
