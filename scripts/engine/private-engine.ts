/**
 * This project's private Docker engines, each in a network namespace of its own so that
 * containers are never reachable from (or routed to) the host network, each with its own state
 * directory under one root ($IOPAINT_ENGINE_DIR, default /var/tmp/iopaint-engine):
 *
 * - `newest`: Docker 28.5 from Debian forky with the containerd image store, buildx 0.29 and
 *   Compose 2.40 as CLI plugins: the path users take today (`docker buildx bake`, `docker compose`).
 * - `newest-classic`: the same programs on the classic image store (overlay2), the Linux default
 *   up to Docker 28: no attestations and no cache export with the docker driver.
 * - `trixie`: Docker 26.1 from Debian trixie (containerd image store) with buildx 0.13.1, the
 *   oldest buildx supported (Debian 13's own).
 * - `legacy`: Debian bookworm's Docker 20.10, which builds with BuildKit without buildx: the
 *   oldest engine users run, and the runner's fallback path.
 *
 * An engine outlives the process that starts it; later runs find it by its pidfile and reuse it.
 * Recipes and pitfalls: /work/shared/docker-engine-here.md (use nsenter, not `ip netns exec`).
 */
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { Docker } from "../docker/docker.ts";
import { netnsPath, type Engine, type EngineName } from "../docker/engine.ts";
import { EngineEnvironmentError, ensureHostPackages, livePid, mountsAtOrUnder, pidAlive, readPid, requireRoot, sleep, tailFile, terminate, withStateLock } from "./host.ts";
import { ensureRegistry, stopRegistries, stopRegistry, type Registry, type RegistryOptions } from "./registry.ts";
import { ensureSuitePrograms, type DockerSuite } from "./suite-packages.ts";

export { EngineEnvironmentError } from "./host.ts";
export type { Engine, EngineName } from "../docker/engine.ts";

export const ENGINE_NAMES: readonly EngineName[] = ["newest", "newest-classic", "trixie", "legacy"];
/** What `npm test`, `npm run demo` and `npm run engine` use unless told otherwise. */
export const DEFAULT_ENGINE: EngineName = "newest";
const LEGACY_CLIENT = "/usr/bin/docker";

export interface EngineOptions {
  /** Default: `$IOPAINT_ENGINE_DIR` or `/var/tmp/iopaint-engine`; each engine has a directory inside. */
  stateRoot?: string;
  /** How long to wait for the daemon to answer. Default 60 s. */
  readyTimeoutMs?: number;
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

export function engineStateRoot(opts: Pick<EngineOptions, "stateRoot"> = {}): string {
  return path.resolve(opts.stateRoot ?? process.env.IOPAINT_ENGINE_DIR ?? "/var/tmp/iopaint-engine");
}

export function isEngineName(name: string): name is EngineName {
  return (ENGINE_NAMES as readonly string[]).includes(name);
}

function enginePaths(root: string, name: EngineName) {
  const stateDir = path.join(root, name);
  return {
    stateDir,
    /** Shared by every engine: the unpacked programs of each Debian suite, in a directory per suite. */
    programsDir: path.join(root, "programs"),
    socket: path.join(stateDir, "docker.sock"),
    pidfile: path.join(stateDir, "dockerd.pid"),
    log: path.join(stateDir, "dockerd.log"),
    daemonConfig: path.join(stateDir, "daemon.json"),
    /** DOCKER_CONFIG for the engine's client: its cli-plugins hold buildx and Compose (the legacy engine's nothing). */
    clientConfig: path.join(stateDir, "client-config"),
    dataRoot: path.join(stateDir, "root"),
    execRoot: path.join(stateDir, "exec"),
    /** The storage driver that worked last time (images live per driver, so stick to it). */
    driverFile: path.join(stateDir, "storage-driver"),
    /** Present when this code created the namespace (so `stopEngine` may delete it). */
    netnsCreatedFile: path.join(stateDir, "netns.created"),
  };
}

type EnginePaths = ReturnType<typeof enginePaths>;

/** `iopaint-newest`, `iopaint-legacy`, … ($IOPAINT_ENGINE_NETNS_PREFIX replaces "iopaint", for a second set of engines beside the first). */
export function engineNetns(name: EngineName): string {
  return `${process.env.IOPAINT_ENGINE_NETNS_PREFIX || "iopaint"}-${name}`;
}

/** How each engine's programs are found and its daemon is started. */
interface EngineRecipe {
  /** Storage drivers to try in order when none worked before (the first is the fast one). */
  drivers: readonly string[];
  programs(paths: EnginePaths, log: (line: string) => void): Promise<{ dockerd: string; client: string; pathPrefix: string[]; describe: string }>;
  /** dockerd's arguments after `nsenter --net=…`. */
  daemonArgs(paths: EnginePaths, driver: string): string[];
  clientEnv(paths: EnginePaths): Record<string, string>;
  /** Whether a registry (127.0.0.1:5000 in the namespace) starts and stops with the daemon. */
  registry: boolean;
}

/**
 * An engine whose dockerd, client, containerd, buildx and Compose come from a later Debian suite,
 * on one image store: "containerd" (the containerd image store: attestations, cache export with
 * the docker driver) or "classic" (the overlay2 graph driver, which Docker 28 and older use on
 * Linux unless configured otherwise).
 */
function buildxRecipe(suite: DockerSuite, store: "containerd" | "classic"): EngineRecipe {
  return {
    // With the containerd image store, the storage driver names a containerd snapshotter.
    drivers: store === "containerd" ? ["overlayfs", "native"] : ["overlay2", "vfs"],
    async programs(p, log) {
      const programs = await ensureSuitePrograms(suite, path.join(p.programsDir, suite), log);
      // The client finds its plugins in $DOCKER_CONFIG/cli-plugins: links to the unpacked ones,
      // so that no plugin lands in front of the machine's other docker clients.
      const plugins = path.join(p.clientConfig, "cli-plugins");
      fs.mkdirSync(plugins, { recursive: true });
      for (const plugin of ["docker-buildx", "docker-compose"]) {
        const link = path.join(plugins, plugin);
        fs.rmSync(link, { force: true });
        fs.symlinkSync(path.join(programs.pluginsDir, plugin), link);
      }
      // Debian versions ("26.1.5+dfsg1-9+deb13u1+b1") → upstream ones ("26.1.5").
      const v = (pkg: string) => (programs.versions[pkg] ?? "?").replace(/^\d+:/, "").split(/[+~-]/)[0];
      return {
        dockerd: programs.dockerd,
        client: programs.client,
        // dockerd starts containerd and docker-init from PATH: the unpacked ones first (runc is the host's).
        pathPrefix: [path.join(programs.prefix, "usr/bin"), path.join(programs.prefix, "usr/sbin")],
        describe: `Docker ${v("docker.io")}, buildx ${v("docker-buildx")}, Compose ${v("docker-compose")} (Debian ${suite}), ${store === "containerd" ? "containerd image store" : "classic image store (overlay2)"}`,
      };
    },
    daemonArgs: (p, driver) => {
      const config = {
        features: { "containerd-snapshotter": store === "containerd" },
        "storage-driver": driver,
        iptables: false,
        ip6tables: false,
        "data-root": p.dataRoot,
        "exec-root": p.execRoot,
        pidfile: p.pidfile,
        hosts: [`unix://${p.socket}`],
      };
      fs.writeFileSync(p.daemonConfig, `${JSON.stringify(config, null, 2)}\n`);
      return [`--config-file=${p.daemonConfig}`];
    },
    clientEnv: (p) => ({ DOCKER_CONFIG: p.clientConfig }),
    // The release path (push, multi-platform indexes, registry caches) needs one; Docker 20.10's
    // fallback builds push nowhere in the tests.
    registry: true,
  };
}

const RECIPES: Record<EngineName, EngineRecipe> = {
  legacy: {
    drivers: ["overlay2", "vfs"],
    async programs(p) {
      // An empty client config of its own: no buildx plugin from ~/.docker, or from another
      // engine's DOCKER_CONFIG left in a shell, may turn this engine's builds into bake ones.
      fs.mkdirSync(path.join(p.clientConfig, "cli-plugins"), { recursive: true });
      return { dockerd: "/usr/sbin/dockerd", client: LEGACY_CLIENT, pathPrefix: [], describe: "Docker 20.10 (Debian bookworm), BuildKit without buildx" };
    },
    daemonArgs: (p, driver) => [
      `--storage-driver=${driver}`,
      "--iptables=false",
      "--ip6tables=false",
      `--data-root=${p.dataRoot}`,
      `--exec-root=${p.execRoot}`,
      `--pidfile=${p.pidfile}`,
      `--host=unix://${p.socket}`,
    ],
    // Docker 20.10 builds with BuildKit only when asked; its legacy builder rejects RUN --mount.
    clientEnv: (p) => ({ DOCKER_BUILDKIT: "1", DOCKER_CONFIG: p.clientConfig }),
    registry: false,
  },
  newest: buildxRecipe("forky", "containerd"),
  "newest-classic": buildxRecipe("forky", "classic"),
  trixie: buildxRecipe("trixie", "containerd"),
};

function makeEngine(name: EngineName, p: EnginePaths, client: string, describe: string): Engine {
  const dockerHost = `unix://${p.socket}`;
  return { name, dockerHost, client, netns: engineNetns(name), env: { DOCKER_HOST: dockerHost, ...RECIPES[name].clientEnv(p) }, describe };
}

/** The engine as the last start left it (client and description), without starting anything. */
function recordedEngine(name: EngineName, p: EnginePaths): Engine | undefined {
  try {
    const saved = JSON.parse(fs.readFileSync(path.join(p.stateDir, "engine.json"), "utf8")) as { client: string; describe: string };
    return makeEngine(name, p, saved.client, saved.describe);
  } catch {
    return undefined;
  }
}

/** The pid in our pidfile, if that process is alive and is a dockerd started with our state dir. */
function ourDaemonPid(p: EnginePaths): number | undefined {
  const pid = readPid(p.pidfile);
  if (!pid || !pidAlive(pid)) return undefined;
  try {
    const cmdline = fs.readFileSync(`/proc/${pid}/cmdline`, "utf8").split("\0");
    if (!cmdline.some((a) => path.basename(a) === "dockerd")) return undefined;
    if (!cmdline.some((a) => a.includes(`${p.stateDir}/`))) return undefined;
  } catch {
    return undefined;
  }
  return pid;
}

async function serverVersion(engine: Engine, timeoutMs = 10_000): Promise<string | undefined> {
  return (await new Docker(engine).serverVersion(timeoutMs)).version;
}

async function ensureNetns(name: string, p: EnginePaths, log: (line: string) => void): Promise<void> {
  const nsPath = netnsPath(name);
  if (!fs.existsSync(nsPath)) {
    const r = await execa("ip", ["netns", "add", name], { reject: false, all: true });
    if (r.exitCode !== 0) {
      throw new EngineEnvironmentError(`could not create network namespace ${name}: ${String(r.all).trim()}`, "run as root on a machine that allows network namespaces (CAP_SYS_ADMIN)");
    }
    fs.writeFileSync(p.netnsCreatedFile, `${name}\n`);
    log(`[engine] created network namespace ${name}`);
  }
  const up = await execa("nsenter", [`--net=${nsPath}`, "ip", "link", "set", "lo", "up"], { reject: false, all: true });
  if (up.exitCode !== 0) {
    throw new EngineEnvironmentError(`could not bring up lo in namespace ${name}: ${String(up.all).trim()}`, "run as root; check `ip netns list`");
  }
}

type StartResult = { ok: true } | { ok: false; exited: boolean; why: string };

async function startDaemon(engine: Engine, p: EnginePaths, dockerd: string, daemonArgs: string[], pathPrefix: string[], timeoutMs: number): Promise<StartResult> {
  for (const d of [p.dataRoot, p.execRoot]) fs.mkdirSync(d, { recursive: true, mode: 0o711 });
  // A daemon that died leaves its pidfile and socket; dockerd refuses to start over a pidfile.
  fs.rmSync(p.pidfile, { force: true });
  fs.rmSync(p.socket, { force: true });
  if (fs.existsSync(p.log)) fs.renameSync(p.log, `${p.log}.prev`);
  const out = fs.openSync(p.log, "a");
  const env = { ...process.env, DOCKER_HOST: "", PATH: [...pathPrefix, process.env.PATH ?? "/usr/sbin:/usr/bin:/sbin:/bin"].join(":") };
  // nsenter execs dockerd (no fork for a net namespace), so the child pid is dockerd's pid.
  const child = spawn("nsenter", [`--net=${netnsPath(engine.netns)}`, dockerd, ...daemonArgs], { detached: true, stdio: ["ignore", out, out], env });
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

/**
 * Start engine `name`, or reuse the one a previous run started. Idempotent. Installs docker.io
 * (its runc, and 20.10 itself), debootstrap and iproute2 when they are missing; the buildx
 * engines' programs come from Debian forky or trixie on first use.
 */
export async function ensureEngine(name: EngineName = DEFAULT_ENGINE, opts: EngineOptions = {}): Promise<Engine> {
  const engine = await ensureDaemon(name, opts);
  if (RECIPES[name].registry) await engineRegistry(engine, { log: opts.log ?? defaultLog, stateRoot: opts.stateRoot });
  return engine;
}

/**
 * A registry in the engine's namespace: the main one (127.0.0.1:5000, started with a buildx
 * engine) by default, or another on `port` (say a read-only one), started if it is not running.
 */
export function engineRegistry(engine: Engine, opts: RegistryOptions & Pick<EngineOptions, "stateRoot"> = {}): Promise<Registry> {
  const answers = (url: string) =>
    fetchInEngineNetwork(engine.netns, url, { timeoutMs: 2_000 }).then(
      (r) => r.status === 200,
      () => false,
    );
  return ensureRegistry(engine, path.join(engineStateRoot(opts), engine.name), answers, opts);
}

/** Stops the engine's registry on `port` (its storage stays). */
export function stopEngineRegistry(engine: Engine, port: number, opts: Pick<EngineOptions, "stateRoot"> = {}): Promise<void> {
  return stopRegistry(path.join(engineStateRoot(opts), engine.name), port);
}

async function ensureDaemon(name: EngineName, opts: EngineOptions): Promise<Engine> {
  const log = opts.log ?? defaultLog;
  const p = enginePaths(engineStateRoot(opts), name);
  const timeoutMs = opts.readyTimeoutMs ?? 60_000;
  if (`unix://${p.socket}`.length > 100 || path.join(p.execRoot, "containerd", "containerd.sock.ttrpc").length > 100) {
    throw new EngineEnvironmentError(`state dir path ${p.stateDir} is too long for unix sockets`, "set IOPAINT_ENGINE_DIR to a shorter path");
  }

  // Fast path, without root checks or locks: a daemon of ours that answers.
  const recorded = recordedEngine(name, p);
  if (recorded && ourDaemonPid(p) && (await serverVersion(recorded))) return recorded;

  requireRoot(`starting the private Docker engine "${name}"`);
  return withStateLock(p.stateDir, "engine", async () => {
    await ensureHostPackages(log);
    fs.mkdirSync(p.stateDir, { recursive: true, mode: 0o711 });
    const recipe = RECIPES[name];
    const programs = await recipe.programs(p, log);
    const engine = makeEngine(name, p, programs.client, programs.describe);
    const remember = () => fs.writeFileSync(path.join(p.stateDir, "engine.json"), `${JSON.stringify({ client: engine.client, describe: engine.describe }, null, 2)}\n`);

    // Another process may have started it while we waited for the lock.
    const pid = ourDaemonPid(p);
    if (pid) {
      const deadline = Date.now() + timeoutMs;
      while (Date.now() < deadline) {
        if (await serverVersion(engine)) {
          remember();
          return engine;
        }
        if (!ourDaemonPid(p)) break;
        await sleep(500);
      }
      if (ourDaemonPid(p)) {
        throw new EngineEnvironmentError(
          `dockerd (pid ${pid}) is running but does not answer on ${p.socket}`,
          `stop it with \`npm run engine -- stop ${name}\` and start again; see ${p.log}`,
          `last lines of ${p.log}:\n${tailFile(p.log, 20)}`,
        );
      }
    }
    await ensureNetns(engine.netns, p, log);

    const remembered = fs.existsSync(p.driverFile) ? fs.readFileSync(p.driverFile, "utf8").trim() : "";
    // IOPAINT_ENGINE_STORAGE_DRIVER: one driver, or a comma-separated list to try in order.
    const forced = (process.env.IOPAINT_ENGINE_STORAGE_DRIVER ?? "")
      .split(",")
      .map((d) => d.trim())
      .filter(Boolean);
    const drivers = forced.length > 0 ? forced : remembered ? [remembered] : recipe.drivers;
    const started = Date.now();
    let last: StartResult = { ok: false, exited: false, why: "not started" };
    for (const [i, driver] of drivers.entries()) {
      log(`[engine] starting ${name} dockerd (${driver}) in network namespace ${engine.netns}, state in ${p.stateDir}`);
      last = await startDaemon(engine, p, programs.dockerd, recipe.daemonArgs(p, driver), programs.pathPrefix, timeoutMs);
      if (last.ok) {
        fs.writeFileSync(p.driverFile, `${driver}\n`);
        remember();
        log(`[engine] ${name} ready in ${((Date.now() - started) / 1000).toFixed(1)} s: ${engine.describe}; DOCKER_HOST=${engine.dockerHost}`);
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
      `the private Docker engine "${name}" did not start: ${last.why}`,
      `read ${p.log}; \`npm run engine -- stop ${name}\` cleans up before a retry`,
      `last 20 lines of ${p.log}:\n${tailFile(p.log, 20)}`,
    );
  });
}

export interface EngineStatus {
  name: EngineName;
  running: boolean;
  pid?: number;
  dockerHost: string;
  netns: string;
  storageDriver?: string;
  serverVersion?: string;
  describe?: string;
  stateDir: string;
  /** The daemon's log (dockerd and its BuildKit), for diagnostics. */
  daemonLog: string;
}

export async function engineStatus(name: EngineName = DEFAULT_ENGINE, opts: Pick<EngineOptions, "stateRoot"> = {}): Promise<EngineStatus> {
  const p = enginePaths(engineStateRoot(opts), name);
  const engine = recordedEngine(name, p);
  const pid = ourDaemonPid(p);
  const version = pid && engine ? await serverVersion(engine) : undefined;
  const driver = fs.existsSync(p.driverFile) ? fs.readFileSync(p.driverFile, "utf8").trim() : undefined;
  return {
    name,
    running: Boolean(pid && version),
    dockerHost: `unix://${p.socket}`,
    netns: engineNetns(name),
    stateDir: p.stateDir,
    daemonLog: p.log,
    ...(pid ? { pid } : {}),
    ...(driver ? { storageDriver: driver } : {}),
    ...(version ? { serverVersion: version } : {}),
    ...(engine ? { describe: engine.describe } : {}),
  };
}

/** Stop the daemon by the pid in its pidfile (SIGTERM, SIGKILL after 20 s) and remove the namespace this code made. */
export async function stopEngine(name: EngineName = DEFAULT_ENGINE, opts: Pick<EngineOptions, "stateRoot" | "log"> = {}): Promise<void> {
  const log = opts.log ?? defaultLog;
  const p = enginePaths(engineStateRoot(opts), name);
  await withStateLock(p.stateDir, "engine", async () => {
    await stopRegistries(p.stateDir);
    const pid = ourDaemonPid(p);
    if (pid) {
      log(`[engine] stopping ${name} dockerd (pid ${pid})`);
      await terminate(pid, 20_000);
    }
    // After a SIGKILL the daemon's own containerd is left behind: stop it by its pidfile too.
    const cpid = livePid(path.join(p.execRoot, "containerd", "containerd.pid"), "containerd", p.execRoot);
    if (cpid) await terminate(cpid, 10_000);
    fs.rmSync(p.pidfile, { force: true });
    if (!ourDaemonPid(p)) await releaseDataRootMount(p.dataRoot, log);
    if (fs.existsSync(p.netnsCreatedFile)) {
      const netns = fs.readFileSync(p.netnsCreatedFile, "utf8").trim();
      if (netns && fs.existsSync(netnsPath(netns))) {
        const r = await execa("ip", ["netns", "delete", netns], { reject: false, all: true });
        if (r.exitCode !== 0) log(`[engine] could not delete network namespace ${netns}: ${String(r.all).trim()}`);
        else log(`[engine] deleted network namespace ${netns}`);
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

// ---------------------------------------------------------------------------------------------
// HTTP from inside the engine's namespace (published ports exist only there)

export interface NetnsFetchInit {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  /** Per-request timeout. Default 10 s. */
  timeoutMs?: number;
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

/** An HTTP request made from inside an engine's network namespace (`netns`), where published ports listen. */
export async function fetchInEngineNetwork(netns: string, url: string, init: NetnsFetchInit = {}): Promise<NetnsFetchResponse> {
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
export async function waitForHttp(netns: string, url: string, timeoutMs: number, init: Omit<NetnsFetchInit, "timeoutMs"> = {}): Promise<NetnsFetchResponse> {
  const deadline = Date.now() + timeoutMs;
  let last = "no attempt";
  for (;;) {
    const left = deadline - Date.now();
    try {
      const res = await fetchInEngineNetwork(netns, url, { ...init, timeoutMs: Math.max(1_000, Math.min(5_000, left)) });
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
