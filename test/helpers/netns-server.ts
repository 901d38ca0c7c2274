import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { netnsPath, type Engine } from "../../scripts/docker/engine.ts";
import { waitForHttp } from "../../scripts/engine/private-engine.ts";

/**
 * A server that builds reach: a process in an engine's network namespace. A build's RUN steps
 * reach it at the bridge's gateway (bridgeGateway()), the host's network never does. Tests start
 * it in before() and stop it in after().
 */
export interface NetnsServer {
  port: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Ready when an HTTP GET of `readyPath` on the port answers, or, for a server that speaks only
 * TLS with a certificate the checker does not know, when its log matches `readyLog`.
 */
export async function startNetnsServer(engine: Engine, argv: string[], options: { port: number; logFile: string; readyPath?: string; readyLog?: RegExp; env?: Record<string, string> }): Promise<NetnsServer> {
  const out = openSync(options.logFile, "a");
  const child = spawn("nsenter", [`--net=${netnsPath(engine.netns)}`, ...argv], { detached: true, stdio: ["ignore", out, out], env: { ...process.env, ...options.env } });
  closeSync(out);
  let exited: string | undefined;
  child.on("exit", (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
  const log = () => readFileSync(options.logFile, "utf8");
  const stop = async () => {
    if (exited || !child.pid) return;
    const done = new Promise((resolve) => child.once("exit", resolve));
    process.kill(-child.pid, "SIGTERM");
    await Promise.race([done, new Promise((resolve) => setTimeout(resolve, 5_000))]);
    if (!exited) process.kill(-child.pid, "SIGKILL");
  };
  try {
    if (options.readyLog) await waitForLog(options.readyLog, log, () => exited);
    else await waitForHttp(engine.netns, `http://127.0.0.1:${options.port}${options.readyPath ?? "/"}`, 60_000);
  } catch (error) {
    await stop();
    throw new Error(`${argv.join(" ")} did not answer on port ${options.port}${exited ? ` (${exited})` : ""}: ${(error as Error).message}\n--- its log ---\n${log().slice(-3000)}`);
  }
  return { port: options.port, logFile: options.logFile, log, stop };
}

/** The static file server (static-server.mjs), serving `dir` on `port`, over TLS with `tls`. */
export function staticServerArgv(dir: string, port: number, tls?: { key: string; cert: string }): string[] {
  return [process.execPath, new URL("./static-server.mjs", import.meta.url).pathname, dir, String(port), ...(tls ? [tls.key, tls.cert] : [])];
}

/** The forward HTTP proxy (http-proxy.mjs), on `port`. */
export function httpProxyArgv(port: number): string[] {
  return [process.execPath, new URL("./http-proxy.mjs", import.meta.url).pathname, String(port)];
}

async function waitForLog(pattern: RegExp, log: () => string, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!pattern.test(log())) {
    if (exited() || Date.now() > deadline) throw new Error(`its log never matched ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
