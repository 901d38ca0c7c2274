/**
 * A real OCI registry (Debian's docker-registry, CNCF distribution 2.8) inside an engine's
 * network namespace, for the release path: pushes, multi-platform indexes and registry caches.
 * It listens on 127.0.0.1 there, which dockerd treats as an insecure (plain HTTP) registry
 * without any setup, and is unreachable from the host network. Clients that talk to it
 * themselves (buildx imagetools, skopeo, our HTTP checks) run inside the namespace too.
 *
 * Its storage is in the engine's state directory, so pushed images survive an engine restart.
 * The engine starter starts the main one (port 5000) with each buildx engine and stops every
 * registry with it; tests may start more beside it (a read-only one, for a refused push).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { netnsPath, type Engine } from "../docker/engine.ts";
import { EngineEnvironmentError, livePid, sleep, tailFile, terminate } from "./host.ts";

export const REGISTRY_PORT = 5000;
const REGISTRY_PROGRAM = "/usr/bin/docker-registry";

export interface Registry {
  /** `127.0.0.1:5000`: image references start with it (`127.0.0.1:5000/iopaint-fixture:cpu-latest`). */
  address: string;
  /** Where the registry answers, inside the engine's network namespace. */
  url: string;
  dir: string;
  readOnly: boolean;
}

export interface RegistryOptions {
  port?: number;
  /** distribution's maintenance read-only mode: pulls work, every push is refused. */
  readOnly?: boolean;
  log?: (line: string) => void;
}

export function registryDir(engineStateDir: string, port = REGISTRY_PORT): string {
  return path.join(engineStateDir, `registry-${port}`);
}

/** distribution's configuration (YAML is a superset of JSON, so JSON is written). */
export function registryConfig(dataDir: string, port: number, readOnly: boolean): string {
  const config = {
    version: 0.1,
    log: { level: "info", accesslog: { disabled: true } },
    storage: {
      filesystem: { rootdirectory: dataDir },
      delete: { enabled: true },
      ...(readOnly ? { maintenance: { readonly: { enabled: true } } } : {}),
    },
    http: { addr: `127.0.0.1:${port}`, headers: { "X-Content-Type-Options": ["nosniff"] } },
  };
  return `${JSON.stringify(config, null, 2)}\n`;
}

/** The pid in the registry's pidfile, if that process is alive and is a docker-registry serving from `dir`. */
function registryPid(dir: string): number | undefined {
  return livePid(path.join(dir, "registry.pid"), "docker-registry", dir);
}

/** Starts the registry on `port` in the engine's namespace, or reuses the one running there. */
export async function ensureRegistry(engine: Engine, engineStateDir: string, answers: (url: string) => Promise<boolean>, opts: RegistryOptions = {}): Promise<Registry> {
  const port = opts.port ?? REGISTRY_PORT;
  const readOnly = opts.readOnly ?? false;
  const dir = registryDir(engineStateDir, port);
  const registry: Registry = { address: `127.0.0.1:${port}`, url: `http://127.0.0.1:${port}/v2/`, dir, readOnly };
  const configFile = path.join(dir, "config.yml");
  const config = registryConfig(path.join(dir, "data"), port, readOnly);
  const running = registryPid(dir);
  if (running && fs.readFileSync(configFile, "utf8") === config && (await answers(registry.url))) return registry;
  if (running) await stopRegistryIn(dir);

  if (!fs.existsSync(REGISTRY_PROGRAM)) {
    throw new EngineEnvironmentError(`${REGISTRY_PROGRAM} is missing`, "install Debian's docker-registry package (npm run engine -- start installs it)");
  }
  fs.mkdirSync(path.join(dir, "data"), { recursive: true });
  fs.writeFileSync(configFile, config);
  const logFile = path.join(dir, "registry.log");
  const out = fs.openSync(logFile, "w");
  const child = spawn("nsenter", [`--net=${netnsPath(engine.netns)}`, REGISTRY_PROGRAM, "serve", configFile], { detached: true, stdio: ["ignore", out, out] });
  fs.closeSync(out);
  let exited: string | undefined;
  child.on("exit", (code, signal) => (exited = signal ? `signal ${signal}` : `exit code ${code}`));
  child.unref();
  fs.writeFileSync(path.join(dir, "registry.pid"), `${child.pid}\n`);
  const deadline = Date.now() + 20_000;
  while (Date.now() < deadline && !exited) {
    if (await answers(registry.url)) {
      opts.log?.(`[engine] registry ${registry.address}${readOnly ? " (read-only)" : ""} in namespace ${engine.netns}, storage in ${path.join(dir, "data")}`);
      return registry;
    }
    await sleep(200);
  }
  if (!exited && child.pid) process.kill(child.pid, "SIGKILL");
  throw new EngineEnvironmentError(
    `the registry on ${registry.address} did not start${exited ? ` (${exited})` : " within 20 s"}`,
    `read ${logFile}; is another program listening on port ${port} in namespace ${engine.netns}?`,
    tailFile(logFile, 20),
  );
}

async function stopRegistryIn(dir: string): Promise<void> {
  const pid = registryPid(dir);
  if (pid) await terminate(pid, 5_000);
  fs.rmSync(path.join(dir, "registry.pid"), { force: true });
}

/** Stops the engine's registry on `port`; its storage stays. */
export function stopRegistry(engineStateDir: string, port: number): Promise<void> {
  return stopRegistryIn(registryDir(engineStateDir, port));
}

/** Stops every registry of the engine; their storage stays. */
export async function stopRegistries(engineStateDir: string): Promise<void> {
  if (!fs.existsSync(engineStateDir)) return;
  for (const name of fs.readdirSync(engineStateDir)) if (/^registry-\d+$/.test(name)) await stopRegistryIn(path.join(engineStateDir, name));
}
