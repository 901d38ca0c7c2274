import { spawn } from "node:child_process";
import { closeSync, existsSync, openSync, readFileSync } from "node:fs";
import { execa } from "execa";
import { netnsPath, type Engine } from "../docker/engine.ts";
import { waitForHttp } from "./private-engine.ts";

/**
 * A server that builds reach: a process in an engine's network namespace. A build's RUN steps
 * reach it at the bridge's gateway (bridgeGateway()), the host's network never does. Tests start
 * it in before() and stop it in after(); the bench's real-packages run starts a proxy this way.
 */
export interface NetnsServer {
  port: number;
  logFile: string;
  log(): string;
  stop(): Promise<void>;
}

/**
 * Where a build step reaches a server in the engine's network namespace: the default bridge's
 * address there (docker0), which is the bridge network's gateway. Read from the interface: a new
 * Docker 20.10 daemon leaves the gateway out of `docker network inspect bridge`.
 */
export async function bridgeGateway(engine: Engine): Promise<string> {
  const { stdout } = await execa("nsenter", [`--net=${netnsPath(engine.netns)}`, "ip", "-4", "-o", "addr", "show", "dev", "docker0"]);
  const address = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(stdout)?.[1];
  if (!address) throw new Error(`no IPv4 address on docker0 in namespace ${engine.netns}: ${stdout}`);
  return address;
}

/**
 * Ready when an HTTP GET of `readyPath` on the port answers, or, for a server that speaks only
 * TLS with a certificate the checker does not know, when its log matches `readyLog`.
 */
export async function startNetnsServer(
  engine: Engine,
  argv: string[],
  options: { port: number; logFile: string; readyPath?: string; readyLog?: RegExp; env?: Record<string, string> },
): Promise<NetnsServer> {
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

/** The forward HTTP proxy (http-proxy.mjs), on `port` or a Unix socket. */
export function httpProxyArgv(port: number | string): string[] {
  return [process.execPath, new URL("./http-proxy.mjs", import.meta.url).pathname, String(port)];
}

/** The outbound proxy, and the URL builds in its engine's namespace give as HTTP_PROXY/HTTPS_PROXY. */
export type OutboundProxy = NetnsServer & { url: string };

/**
 * A forward proxy to the outside for builds in an engine's namespace, which has no route out: the
 * proxy runs in the host's namespace on a socket file, and a forwarder in the engine's namespace
 * takes `port` to it. What the host reaches (its package indexes, its mirrors) builds then reach
 * through HTTP_PROXY/HTTPS_PROXY = `url` (http://<bridge gateway>:<port>), and through nothing else.
 */
export async function startOutboundProxy(engine: Engine, port: number, dir: string): Promise<OutboundProxy> {
  const socket = `${dir}/proxy.sock`;
  const logFile = `${dir}/proxy.log`;
  const out = openSync(logFile, "a");
  const [node, ...args] = httpProxyArgv(socket);
  const proxy = spawn(node, args, { detached: true, stdio: ["ignore", out, out] });
  closeSync(out);
  const deadline = Date.now() + 10_000;
  while (!existsSync(socket)) {
    if (Date.now() > deadline || proxy.exitCode !== null) throw new Error(`the proxy did not listen on ${socket}:\n${readFileSync(logFile, "utf8")}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const forwarder = await startNetnsServer(engine, [process.execPath, new URL("./forward.mjs", import.meta.url).pathname, String(port), socket], { port, logFile: `${dir}/forwarder.log` });
  return {
    port,
    url: `http://${await bridgeGateway(engine)}:${port}`,
    logFile,
    log: () => readFileSync(logFile, "utf8"),
    stop: async () => {
      await forwarder.stop();
      // Once stopped, its signalCode is set and exitCode stays null: a second stop() does nothing.
      if (proxy.pid && proxy.exitCode === null && proxy.signalCode === null) process.kill(-proxy.pid, "SIGTERM");
    },
  };
}

async function waitForLog(pattern: RegExp, log: () => string, exited: () => string | undefined): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!pattern.test(log())) {
    if (exited() || Date.now() > deadline) throw new Error(`its log never matched ${pattern}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
