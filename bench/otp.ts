/**
 * The Erlang/OTP side of `npm run bench:otp`: one Erlang VM running
 * bench/otp/otp_bench.escript, started once and kept warm for the whole run,
 * asked for one sample at a time so that its samples take turns with Arbor's.
 *
 * Erlang comes from Debian's `erlang-base` (OTP 25 on Debian 12), installed
 * here when `escript` is missing and the machine allows it (root, apt-get);
 * otherwise the run fails saying what to install.
 */
import { spawn, spawnSync } from "node:child_process"
import { createInterface } from "node:readline"
import { fileURLToPath } from "node:url"

const script = fileURLToPath(new URL("./otp/otp_bench.escript", import.meta.url))

/** The running VM. */
export interface Otp {
  /** What runs the samples: OTP release, emulator flavour, schedulers. */
  readonly vm: string
  /** One sample of a case of otp_bench.escript, with its arguments. */
  readonly sample: <A>(name: string, ...args: ReadonlyArray<number>) => Promise<A>
  readonly close: () => Promise<void>
}

const found = (command: string): boolean => spawnSync("sh", ["-c", `command -v ${command}`]).status === 0

const missing = "npm run bench:otp needs Erlang/OTP's escript on PATH: on Debian or Ubuntu, as root, apt-get install -y erlang-base"

const apt = (...args: ReadonlyArray<string>): boolean =>
  spawnSync("apt-get", args, { stdio: "inherit", env: { ...process.env, DEBIAN_FRONTEND: "noninteractive" } }).status === 0

/** Installs Debian's erlang-base when escript is missing: as root with apt-get, refreshing the lists if need be. */
const ensureErlang = (): void => {
  if (found("escript")) return
  if (process.getuid?.() !== 0 || !found("apt-get")) throw new Error(missing)
  console.log("escript not found: installing Debian's erlang-base")
  const installed = apt("install", "-y", "erlang-base") || (apt("update") && apt("install", "-y", "erlang-base"))
  if (!installed || !found("escript")) throw new Error(`installing erlang-base failed; ${missing}`)
}

/** Starts the VM; its answers come one line per request, in order. */
export const start = async (): Promise<Otp> => {
  ensureErlang()
  const vm = spawn("escript", [script, "serve"], { stdio: ["pipe", "pipe", "inherit"] })
  const lines = createInterface({ input: vm.stdout })[Symbol.asyncIterator]()
  const ask = async (request: string): Promise<unknown> => {
    vm.stdin.write(`${request}\n`)
    const answer = await lines.next()
    if (answer.done === true) throw new Error(`the Erlang VM ended (exit code ${vm.exitCode}) before answering "${request}"`)
    const [status, ...rest] = answer.value.split(" ")
    if (status !== "ok") throw new Error(`the Erlang VM failed "${request}": ${rest.join(" ")}`)
    return JSON.parse(rest.join(" "))
  }
  const ended = new Promise<void>((resolve) => vm.once("close", () => resolve()))
  return {
    vm: String(await ask("vm")),
    sample: async <A>(name: string, ...args: ReadonlyArray<number>) => (await ask([name, ...args].join(" "))) as A,
    close: async () => {
      vm.stdin.end()
      await ended
    }
  }
}
