// Runs the real LivePage binary for browser tests: demo mode (no API key), a fresh SQLite
// database in a temporary folder, an OS-chosen port read back from the "listening" log line.

import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";

/** The repository's root. */
export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../..");

const STARTUP_TIMEOUT_MS = 30_000;

/**
 * Starts the binary (env `LIVEPAGE_BIN`, default target/debug/livepage) and resolves once it
 * listens.
 * @param {Record<string, string>} [env] extra or overriding environment variables
 * @returns {Promise<{url: string, logs: () => string, stop: () => Promise<void>}>}
 */
export async function startServer(env = {}) {
  const bin = path.resolve(ROOT, process.env.LIVEPAGE_BIN ?? "target/debug/livepage");
  const dir = await mkdtemp(path.join(tmpdir(), "livepage-browser-"));
  const childEnv = {
    ...process.env,
    LIVEPAGE_ADDR: "127.0.0.1:0",
    DATABASE_URL: `sqlite://${path.join(dir, "livepage.db")}`,
    LIVEPAGE_DEMO_PACE: "4ms",
    // Tests start many generations from one address within a minute.
    LIVEPAGE_RATE_LIMIT_PER_IP: "0",
    LIVEPAGE_RATE_LIMIT_PER_EMAIL: "0",
    // Stopping should not wait for a generation a test left running.
    LIVEPAGE_SHUTDOWN_GRACE: "1s",
    LIVEPAGE_LOG_FORMAT: "text",
    NO_COLOR: "1",
    RUST_LOG: "info",
    ...env,
  };
  for (const name of ["OPENROUTER_API_KEY", "PUBLIC_URL", "PAGES_URL", "ADMIN_TOKEN"]) {
    if (!(name in env)) delete childEnv[name];
  }

  const child = spawn(bin, [], { env: childEnv, stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  let listening = false;
  const exited = new Promise((resolve) => child.once("exit", resolve));
  // Whatever happens to the test process, the server does not outlive it.
  const killOnExit = () => child.kill("SIGKILL");
  process.once("exit", killOnExit);

  const url = await new Promise((resolve, reject) => {
    const timer = setTimeout(
      () => fail(new Error(`${bin} did not log "listening" within ${STARTUP_TIMEOUT_MS} ms`)),
      STARTUP_TIMEOUT_MS,
    );
    function fail(err) {
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(new Error(`${err.message}\n--- server output ---\n${output}`));
    }
    const read = (chunk) => {
      output += chunk;
      if (listening) return;
      // Strip colour codes in case the log is coloured anyway.
      const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
      const found = /listening.*?addr=(\S+)/.exec(plain);
      if (found) {
        listening = true;
        clearTimeout(timer);
        resolve(`http://${found[1]}/`);
      }
    };
    child.stdout.setEncoding("utf8").on("data", read);
    child.stderr.setEncoding("utf8").on("data", read);
    child.once("error", (err) => fail(new Error(`cannot start ${bin}: ${err.message}`)));
    child.once("exit", (code, signal) => {
      if (!listening) fail(new Error(`${bin} exited early (code ${code}, signal ${signal})`));
    });
  });

  return {
    url,
    logs: () => output,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
        await exited;
        clearTimeout(timer);
      }
      process.removeListener("exit", killOnExit);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
