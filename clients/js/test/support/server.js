// Start a real `tessera serve` for the tests: a free port, a temporary data folder.
import { execFile, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../../../..");
export const TESSERA = process.env.TESSERA_BIN ?? join(REPO, ".venv", "bin", "tessera");
export const TEST_PLUGINS = resolve(fileURLToPath(import.meta.url), "../../plugins");
export const EXAMPLE_PLUGINS = join(REPO, "examples", "plugins");

/** A TCP port nobody listens on now. */
export function freePort() {
  return new Promise((done, fail) => {
    const probe = createServer();
    probe.once("error", fail);
    probe.listen(0, "127.0.0.1", () => {
      const { port } = probe.address();
      probe.close(() => done(port));
    });
  });
}

/**
 * `tessera serve --plugins PLUGINS` with `args` added (e.g. ["--ws-ping-interval", "1"]);
 * resolves once /health answers. `stop()` ends it and removes its data folder.
 */
export async function startServer({ plugins = TEST_PLUGINS, args = [] } = {}) {
  const data = mkdtempSync(join(tmpdir(), "tessera-js-"));
  const port = await freePort();
  const child = spawn(
    TESSERA,
    ["serve", "--plugins", plugins, "--data", data, "--port", String(port), ...args],
    { stdio: ["ignore", "ignore", "pipe"], env: { ...process.env, TESSERA_LOG_LEVEL: "warning" } },
  );
  let log = "";
  child.stderr.on("data", (chunk) => (log += chunk));
  const baseUrl = `http://127.0.0.1:${port}`;
  await waitForHealth(baseUrl, child, () => log);
  return {
    baseUrl,
    port,
    data,
    /**
     * A token for `userId` signed with this server's secret (`tessera token`). Not a
     * synchronous call: a blocked event loop lets the server close an idle keep-alive
     * connection unnoticed, and the next request on it fails.
     */
    async token(userId, ...options) {
      const args = ["token", userId, "--data", data, ...options];
      const { stdout } = await promisify(execFile)(TESSERA, args, { encoding: "utf8" });
      return stdout.trim();
    },
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((done) => child.once("exit", done));
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(data, { recursive: true, force: true });
    },
  };
}

async function waitForHealth(baseUrl, child, log) {
  for (let tries = 0; tries < 300; tries++) {
    if (child.exitCode !== null) throw new Error(`tessera serve exited:\n${log()}`);
    try {
      const answer = await fetch(`${baseUrl}/health`);
      if (answer.ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((done) => setTimeout(done, 100));
  }
  child.kill("SIGKILL");
  throw new Error(`tessera serve did not answer /health in 30 s:\n${log()}`);
}
