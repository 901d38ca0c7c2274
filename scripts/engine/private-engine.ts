// A private Docker engine for tests: Debian's dockerd 20.10 running inside a network namespace
// of its own, so that containers are never reachable from (or routed to) the host network.
// It outlives the process that starts it; later runs find it by its pidfile and reuse it.
//
// Recipe and pitfalls: /work/shared/docker-engine-here.md (use nsenter, not `ip netns exec`).
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { EngineEnvironmentError, ensureHostPackages, mountsAtOrUnder, pidAlive, requireRoot, sleep, tailFile, withStateLock } from "./host.js";

export { EngineEnvironmentError } from "./host.js";

export interface Engine {
  /** `unix://<state dir>/docker.sock` */
  dockerHost: string;
  /** The Docker 20.10 client (`/usr/bin/docker`, or `$DOCKER_CLI`): it builds with BuildKit without buildx. */
  client: string;
  /** Name of the network namespace the daemon runs in (`/var/run/netns/<name>`). */
  netns: string;
  /** `{ DOCKER_HOST, DOCKER_BUILDKIT: "1" }`, to merge into a child process's environment. */
  env: Record<string, string>;
}

export interface EngineOptions {
  /** Default: `$IOPAINT_ENGINE_DIR` or `/var/tmp/iopaint-engine`. */
  stateDir?: string;
  /** Default: `$IOPAINT_ENGINE_NETNS` or `iopaint-engine`. */
  netns?: string;
  /** How long to wait for the daemon to answer. Default 60 s. */
  readyTimeoutMs?: number;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
}

export const DEFAULT_NETNS = "iopaint-engine";
export const DEFAULT_CLIENT = "/usr/bin/docker";

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

export function engineStateDir(opts: Pick<EngineOptions, "stateDir"> = {}): string {
  return path.resolve(opts.stateDir ?? process.env.IOPAINT_ENGINE_DIR ?? "/var/tmp/iopaint-engine");
}

/** The client to drive the engine with: `$DOCKER_CLI`, else Debian's 20.10 client (not the first `docker` on PATH). */
export function dockerClientPath(): string {
  return process.env.DOCKER_CLI || DEFAULT_CLIENT;
}

function enginePaths(stateDir: string) {
  return {
    stateDir,
    socket: path.join(stateDir, "docker.sock"),
    pidfile: path.join(stateDir, "dockerd.pid"),
    log: path.join(stateDir, "dockerd.log"),
    dataRoot: path.join(stateDir, "root"),
    execRoot: path.join(stateDir, "exec"),
    /** The storage driver that worked last time (images live per driver, so stick to it). */
    driverFile: path.join(stateDir, "storage-driver"),
    /** The namespace the daemon runs in (its name). */
    netnsFile: path.join(stateDir, "netns"),
    /** Present when this code created that namespace (so `stopEngine` may delete it). */
    netnsCreatedFile: path.join(stateDir, "netns.created"),
  };
}

function netnsPath(name: string): string {
  return `/var/run/netns/${name}`;
}

function makeEngine(stateDir: string, netns: string): Engine {
  const dockerHost = `unix://${enginePaths(stateDir).socket}`;
  return { dockerHost, client: dockerClientPath(), netns, env: { DOCKER_HOST: dockerHost, DOCKER_BUILDKIT: "1" } };
}

function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidfile, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/** The pid in our pidfile, if that process is alive and is a dockerd serving our socket. */
function ourDaemonPid(stateDir: string): number | undefined {
  const p = enginePaths(stateDir);
  const pid = readPid(p.pidfile);
  if (!pid || !pidAlive(pid)) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (!cmdline.some((a) => path.basename(a) === "dockerd")) return undefined;
    if (!cmdline.some((a) => a.includes(p.socket))) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

async function serverVersion(engine: Engine, timeoutMs = 10_000): Promise<string | undefined> {
  const r = await execa(engine.client, ["version", "--format", "{{.Server.Version}}"], {
    env: engine.env,
    reject: false,
    timeout: timeoutMs,
  });
  return r.exitCode === 0 ? String(r.stdout).trim() || undefined : undefined;
}

async function ensureNetns(name: string, stateDir: string, log: (line: string) => void): Promise<void> {
  const nsPath = netnsPath(name);
  if (!fs.existsSync(nsPath)) {
    const r = await execa("ip", ["netns", "add", name], { reject: false, all: true });
    if (r.exitCode !== 0) {
      throw new EngineEnvironmentError(
        `could not create network namespace ${name}: ${String(r.all).trim()}`,
        "run as root on a machine that allows network namespaces (CAP_SYS_ADMIN)",
      );
    }
    fs.writeFileSync(enginePaths(stateDir).netnsCreatedFile, `${name}\n`);
    log(`[engine] created network namespace ${name}`);
  }
  const up = await execa("nsenter", [`--net=${nsPath}`, "ip", "link", "set", "lo", "up"], { reject: false, all: true });
  if (up.exitCode !== 0) {
    throw new EngineEnvironmentError(`could not bring up lo in namespace ${name}: ${String(up.all).trim()}`, "run as root; check `ip netns list`");
  }
}

type StartResult = { ok: true } | { ok: false; exited: boolean; why: string };

async function startDaemon(
  engine: Engine,
  stateDir: string,
  driver: string,
  timeoutMs: number,
): Promise<StartResult> {
  const p = enginePaths(stateDir);
  for (const d of [p.dataRoot, p.execRoot]) fs.mkdirSync(d, { recursive: true, mode: 0o711 });
  // A daemon that died leaves its pidfile and socket; dockerd refuses to start over a pidfile.
  fs.rmSync(p.pidfile, { force: true });
  fs.rmSync(p.socket, { force: true });
  if (fs.existsSync(p.log)) fs.renameSync(p.log, `${p.log}.prev`);
  const out = fs.openSync(p.log, "a");
  const args = [
    `--net=${netnsPath(engine.netns)}`,
    "dockerd",
    `--storage-driver=${driver}`,
    "--iptables=false",
    "--ip6tables=false",
    `--data-root=${p.dataRoot}`,
    `--exec-root=${p.execRoot}`,
    `--pidfile=${p.pidfile}`,
    `--host=unix://${p.socket}`,
  ];
  // nsenter execs dockerd (no fork for a net namespace), so the child pid is dockerd's pid.
  const child = spawn("nsenter", args, { detached: true, stdio: ["ignore", out, out], env: { ...process.env, DOCKER_HOST: "" } });
  fs.closeSync(out);
  let exited: string | undefined;
  child.on("exit", (code, signal) => {
    exited = signal ? `signal ${signal}` : `exit code ${code}`;
  });
  child.on("error", (e) => {
    exited = e.message;
  });
  child.unref();

  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (exited) {
      const key = keyLogLine(p.log);
      return { ok: false, exited: true, why: `dockerd stopped (${exited})${key ? `: ${key}` : ""}` };
    }
    if (fs.existsSync(p.socket) && (await serverVersion(engine, 5_000))) return { ok: true };
    await sleep(250);
  }
  // Not ready in time: do not leave a half-started daemon behind.
  if (child.pid && !exited) await terminate(child.pid, 10_000);
  return { ok: false, exited: false, why: `dockerd did not answer within ${Math.round(timeoutMs / 1000)} s` };
}

/** The line of dockerd's log that says why it stopped, if there is one. */
function keyLogLine(file: string): string | undefined {
  const lines = tailFile(file, 300).split("\n").reverse();
  const line = lines.find((l) => /^failed to start daemon|level=fatal/.test(l)) ?? lines.find((l) => /level=error/.test(l));
  if (!line) return undefined;
  return (/msg="((?:[^"\\]|\\.)*)"/.exec(line)?.[1] ?? line).slice(0, 300);
}

async function terminate(pid: number, graceMs: number): Promise<void> {
  try {
    process.kill(pid, "SIGTERM");
  } catch {
    return;
  }
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    if (!pidAlive(pid) || isZombie(pid)) return;
    await sleep(200);
  }
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    /* already gone */
  }
  for (let i = 0; i < 25 && pidAlive(pid) && !isZombie(pid); i++) await sleep(200);
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(fs.readFileSync(`/proc/${pid}/stat`, "utf8").replace(/^.*\)/, ""));
  } catch {
    return false;
  }
}

/**
 * Start the private engine, or reuse the one a previous run started. Idempotent.
 * Installs docker.io, debootstrap and iproute2 when they are missing.
 */
export async function ensureEngine(opts: EngineOptions = {}): Promise<Engine> {
  const log = opts.log ?? defaultLog;
  const stateDir = engineStateDir(opts);
  const netns = opts.netns ?? process.env.IOPAINT_ENGINE_NETNS ?? DEFAULT_NETNS;
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  const p = enginePaths(stateDir);
  if (`unix://${p.socket}`.length > 100 || path.join(p.execRoot, "containerd", "containerd.sock.ttrpc").length > 100) {
    throw new EngineEnvironmentError(`state dir path ${stateDir} is too long for unix sockets`, "set IOPAINT_ENGINE_DIR to a shorter path");
  }

  // Fast path, without root checks or locks: a daemon of ours that answers (in the namespace it was started in).
  const running = makeEngine(stateDir, currentNetns(stateDir));
  if (ourDaemonPid(stateDir) && (await serverVersion(running))) return running;
  const engine = makeEngine(stateDir, netns);

  requireRoot("starting the private Docker engine");
  return withStateLock(stateDir, "engine", async () => {
    // Another process may have started it while we waited for the lock.
    const pid = ourDaemonPid(stateDir);
    if (pid) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await serverVersion(running)) return running;
        if (!ourDaemonPid(stateDir)) break;
        await sleep(500);
      }
      if (ourDaemonPid(stateDir)) {
        throw new EngineEnvironmentError(
          `dockerd (pid ${pid}) is running but does not answer on ${p.socket}`,
          `stop it with \`npm run engine -- stop\` and start again; see ${p.log}`,
          `last lines of ${p.log}:\n${tailFile(p.log, 20)}`,
        );
      }
    }

    await ensureHostPackages(log);
    if (!fs.existsSync(engine.client)) {
      throw new EngineEnvironmentError(`Docker client ${engine.client} not found`, "unset DOCKER_CLI or point it at a Docker 20.10 client");
    }
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o711 });
    await ensureNetns(netns, stateDir, log);
    fs.writeFileSync(p.netnsFile, `${netns}\n`);

    const remembered = fs.existsSync(p.driverFile) ? fs.readFileSync(p.driverFile, "utf8").trim() : "";
    // IOPAINT_ENGINE_STORAGE_DRIVER: one driver, or a comma-separated list to try in order.
    const forced = (process.env.IOPAINT_ENGINE_STORAGE_DRIVER ?? "").split(",").map((d) => d.trim()).filter(Boolean);
    const drivers = forced.length > 0 ? forced : remembered ? [remembered] : ["overlay2", "vfs"];
    const started = Date.now();
    let last: StartResult = { ok: false, exited: false, why: "not started" };
    for (const [i, driver] of drivers.entries()) {
      log(`[engine] starting dockerd (${driver}) in network namespace ${netns}, state in ${stateDir}`);
      last = await startDaemon(engine, stateDir, driver, timeoutMs);
      if (last.ok) {
        fs.writeFileSync(p.driverFile, `${driver}\n`);
        log(`[engine] ready in ${((Date.now() - started) / 1000).toFixed(1)} s: DOCKER_HOST=${engine.dockerHost} (client ${engine.client})`);
        return engine;
      }
      const next = drivers[i + 1];
      if (next && last.exited) {
        log(`[engine] dockerd would not start with ${driver} (${last.why}); falling back to ${next}, which is slower and uses more disk`);
        continue;
      }
      break;
    }
    throw new EngineEnvironmentError(
      `the private Docker engine did not start: ${last.why}`,
      `read ${p.log}; \`npm run engine -- stop\` cleans up before a retry`,
      `last 20 lines of ${p.log}:\n${tailFile(p.log, 20)}`,
    );
  });
}

export interface EngineStatus {
  running: boolean;
  pid?: number;
  dockerHost: string;
  netns: string;
  storageDriver?: string;
  serverVersion?: string;
  stateDir: string;
}

export async function engineStatus(opts: Pick<EngineOptions, "stateDir" | "netns"> = {}): Promise<EngineStatus> {
  const stateDir = engineStateDir(opts);
  const p = enginePaths(stateDir);
  const netns = opts.netns ?? currentNetns(stateDir);
  const engine = makeEngine(stateDir, netns);
  const pid = ourDaemonPid(stateDir);
  const version = pid ? await serverVersion(engine) : undefined;
  const driver = fs.existsSync(p.driverFile) ? fs.readFileSync(p.driverFile, "utf8").trim() : undefined;
  return {
    running: Boolean(pid && version),
    dockerHost: engine.dockerHost,
    netns,
    stateDir,
    ...(pid ? { pid } : {}),
    ...(driver ? { storageDriver: driver } : {}),
    ...(version ? { serverVersion: version } : {}),
  };
}

/** Stop the daemon by the pid in its pidfile (SIGTERM, SIGKILL after 20 s) and remove the namespace this code made. */
export async function stopEngine(opts: Pick<EngineOptions, "stateDir" | "log"> = {}): Promise<void> {
  const log = opts.log ?? defaultLog;
  const stateDir = engineStateDir(opts);
  const p = enginePaths(stateDir);
  await withStateLock(stateDir, "engine", async () => {
    const pid = ourDaemonPid(stateDir);
    if (pid) {
      log(`[engine] stopping dockerd (pid ${pid})`);
      await terminate(pid, 20_000);
    }
    // After a SIGKILL the daemon's own containerd is left behind: stop it by its pidfile too.
    const containerdPidfile = path.join(p.execRoot, "containerd", "containerd.pid");
    const cpid = readPid(containerdPidfile);
    if (cpid && pidAlive(cpid)) {
      const cmd = fs.existsSync(`/proc/${cpid}/cmdline`) ? fs.readFileSync(`/proc/${cpid}/cmdline`, "utf8") : "";
      if (cmd.includes("containerd") && cmd.includes(p.execRoot)) await terminate(cpid, 10_000);
    }
    fs.rmSync(p.pidfile, { force: true });
    if (!ourDaemonPid(stateDir)) await releaseDataRootMount(p.dataRoot, log);
    if (fs.existsSync(p.netnsCreatedFile)) {
      const name = fs.readFileSync(p.netnsCreatedFile, "utf8").trim();
      if (name && fs.existsSync(netnsPath(name))) {
        const r = await execa("ip", ["netns", "delete", name], { reject: false, all: true });
        if (r.exitCode !== 0) log(`[engine] could not delete network namespace ${name}: ${String(r.all).trim()}`);
        else log(`[engine] deleted network namespace ${name}`);
      }
      fs.rmSync(p.netnsCreatedFile, { force: true });
    }
  });
}

/**
 * dockerd bind-mounts its data root onto itself (to make it a shared mount) and may leave that
 * mount behind when it exits. Undo it once the daemon is gone, unless something (a container
 * left running by a SIGKILLed daemon) still has mounts inside it.
 */
async function releaseDataRootMount(dataRoot: string, log: (line: string) => void): Promise<void> {
  const mounts = mountsAtOrUnder(dataRoot);
  if (mounts.length === 0) return;
  if (mounts.length > 1 || mounts[0] !== dataRoot) {
    log(`[engine] leaving ${mounts.length} mounts under ${dataRoot} in place (containers of a killed daemon?)`);
    return;
  }
  const r = await execa("umount", [dataRoot], { reject: false, all: true });
  if (r.exitCode !== 0) log(`[engine] could not unmount ${dataRoot}: ${String(r.all).trim()}`);
}

/** The namespace the engine in `stateDir` was started in. */
function currentNetns(stateDir: string): string {
  try {
    return fs.readFileSync(enginePaths(stateDir).netnsFile, "utf8").trim() || DEFAULT_NETNS;
  } catch {
    return process.env.IOPAINT_ENGINE_NETNS ?? DEFAULT_NETNS;
  }
}

// ---------------------------------------------------------------------------------------------
// HTTP from inside the engine's namespace (published ports exist only there)

export interface NetnsFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
  /** Namespace to run in. Default: the engine's. */
  netns?: string;
}

export interface NetnsFetchResponse {
  status: number;
  headers: Record<string, string>;
  /** The body decoded as UTF-8. */
  body: string;
  /** The raw body (for images and other binary answers). */
  bodyBytes: Buffer;
}

/** A request failed before any HTTP answer (refused, reset, timed out): `code` says which. */
export class NetnsFetchError extends Error {
  readonly code: string;
  constructor(message: string, code: string) {
    super(message);
    this.name = "NetnsFetchError";
    this.code = code;
  }
}

const FETCH_SCRIPT = `
let input = "";
process.stdin.setEncoding("utf8");
process.stdin.on("data", (c) => { input += c; });
process.stdin.on("end", async () => {
  const req = JSON.parse(input);
  try {
    const res = await fetch(req.url, {
      method: req.method,
      headers: req.headers,
      body: req.body === null ? undefined : Buffer.from(req.body, "base64"),
      redirect: "manual",
      signal: AbortSignal.timeout(req.timeoutMs),
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    process.stdout.write(JSON.stringify({ status: res.status, headers: Object.fromEntries(res.headers), body: bytes.toString("base64") }));
  } catch (e) {
    const cause = e && e.cause;
    const code = (cause && cause.code) || (e && e.name === "TimeoutError" ? "ETIMEDOUT" : (e && e.name) || "ERROR");
    process.stdout.write(JSON.stringify({ error: String((cause && cause.message) || (e && e.message) || e), code }));
  }
});
`;

/** An HTTP request made from inside the engine's network namespace, where published ports listen. */
export async function fetchInEngineNetwork(url: string, init: NetnsFetchInit = {}): Promise<NetnsFetchResponse> {
  const netns = init.netns ?? currentNetns(engineStateDir());
  const timeoutMs = init.timeoutMs ?? 10_000;
  const body = init.body === undefined ? null : Buffer.from(init.body).toString("base64");
  const request = { url, method: init.method ?? (body === null ? "GET" : "POST"), headers: init.headers ?? {}, body, timeoutMs };
  const env: Record<string, string | undefined> = { ...process.env, NODE_OPTIONS: undefined, HTTP_PROXY: undefined, HTTPS_PROXY: undefined, http_proxy: undefined, https_proxy: undefined };
  const r = await execa("nsenter", [`--net=${netnsPath(netns)}`, process.execPath, "-e", FETCH_SCRIPT], {
    input: JSON.stringify(request),
    reject: false,
    timeout: timeoutMs + 10_000,
    env,
    extendEnv: false,
    maxBuffer: 512 * 1024 * 1024,
  });
  if (r.exitCode !== 0) {
    throw new NetnsFetchError(`fetch ${url} inside namespace ${netns} could not run: ${String(r.stderr).trim() || r.shortMessage}`, "NSENTER");
  }
  const out = JSON.parse(String(r.stdout)) as { status: number; headers: Record<string, string>; body: string } | { error: string; code: string };
  if ("error" in out) throw new NetnsFetchError(`fetch ${request.method} ${url} inside namespace ${netns}: ${out.error} (${out.code})`, out.code);
  const bytes = Buffer.from(out.body, "base64");
  return { status: out.status, headers: out.headers, body: bytes.toString("utf8"), bodyBytes: bytes };
}

/** Poll `url` from inside the namespace until it answers 2xx or 3xx. */
export async function waitForHttp(url: string, timeoutMs: number, init: Omit<NetnsFetchInit, "timeoutMs"> = {}): Promise<NetnsFetchResponse> {
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  for (;;) {
    const left = deadline - Date.now();
    try {
      const res = await fetchInEngineNetwork(url, { ...init, timeoutMs: Math.max(1_000, Math.min(5_000, left)) });
      if (res.status >= 200 && res.status < 400) return res;
      last = `HTTP ${res.status}`;
    } catch (e) {
      last = e instanceof NetnsFetchError ? e.code : String(e);
    }
    if (Date.now() + 500 >= deadline) {
      throw new Error(`waitForHttp: ${url} gave no 2xx/3xx answer within ${Math.round(timeoutMs / 1000)} s (last: ${last})`);
    }
    await sleep(500);
  }
}
