/**
 * Debian's Chromium for the browser tests: installed with apt on first use
 * (as root, as CI runs), found at once afterwards. No browser is downloaded
 * by a test tool: Playwright drives the system's Chromium.
 *
 *   node scripts/chromium.ts        (installs it if missing; prints its version)
 */
import { execFileSync } from "node:child_process"
import { existsSync } from "node:fs"

/** Where Debian's `chromium` package puts the browser. */
export const executablePath = "/usr/bin/chromium"

/**
 * Headless, as root, on a machine whose only network is loopback: without the
 * background-networking flags Chromium keeps opening connections that are refused.
 */
export const launchOptions = {
  executablePath,
  headless: true,
  args: [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync"
  ]
}

const apt = (args: ReadonlyArray<string>) =>
  execFileSync("apt-get", ["-o", "DPkg::Lock::Timeout=300", ...args], {
    env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" },
    stdio: ["ignore", "pipe", "pipe"],
    timeout: 600_000
  })

/**
 * Makes sure Chromium is installed, installing Debian's package if it is not
 * (another apt run holding the lock is waited for). Throws, saying what to
 * install, when it cannot: not root, no apt, or apt failed.
 */
export const ensureChromium = (): string => {
  if (existsSync(executablePath)) return executablePath
  const help = `install it with \`apt-get install -y chromium\` (Debian) so that ${executablePath} exists`
  if (process.getuid?.() !== 0) throw new Error(`Chromium is missing and only root can install it here: ${help}`)
  try {
    try {
      apt(["install", "-y", "--no-install-recommends", "chromium"])
    } catch {
      // Package lists not fetched yet (a fresh machine): fetch them once, then try again.
      apt(["update"])
      apt(["install", "-y", "--no-install-recommends", "chromium"])
    }
  } catch (error) {
    const detail = error instanceof Error && "stderr" in error ? String(error.stderr).trim().split("\n").slice(-3).join("; ") : String(error)
    throw new Error(`Chromium is missing and apt-get could not install it (${detail}): ${help}`)
  }
  if (!existsSync(executablePath)) throw new Error(`apt-get installed chromium but ${executablePath} is missing: ${help}`)
  return executablePath
}

if (import.meta.main) {
  ensureChromium()
  console.log(execFileSync(executablePath, ["--version"], { encoding: "utf8" }).trim())
}
