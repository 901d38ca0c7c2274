/**
 * Host-side helpers shared by the private engines and the stand-in base images: environment
 * errors, Debian packages, the Debian mirror, a state-dir lock and log tails. Nothing here talks
 * to the network except apt-get (to the mirror the host is configured with).
 */
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { ProblemsError } from "../../generator/errors.ts";

/**
 * A problem with the machine (not a bug): an environment problem like any other, so every
 * command's edge (generator/run-cli.ts) prints it with its hint and exits with 3. The details
 * (a log tail) follow the message.
 */
export class EngineEnvironmentError extends ProblemsError {
  constructor(message: string, hint: string, details?: string) {
    super([{ kind: "environment", message: details ? `${message}\n${details}` : message, hint }]);
    this.name = "EngineEnvironmentError";
  }
}

export function requireRoot(what: string): void {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    throw new EngineEnvironmentError(`${what} needs root (network namespaces, dockerd, debootstrap)`, "run it as root (for example with sudo)");
  }
}

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Last `n` lines of a text file ("" when it is missing). */
export function tailFile(file: string, n = 20): string {
  try {
    const lines = fs.readFileSync(file, "utf8").split("\n");
    if (lines.at(-1) === "") lines.pop();
    return lines.slice(-n).join("\n");
  } catch {
    return "";
  }
}

// ---------------------------------------------------------------------------------------------
// Debian packages

/** What each needed command comes from. */
export const HOST_TOOLS: ReadonlyArray<{ path: string; pkg: string }> = [
  { path: "/usr/sbin/dockerd", pkg: "docker.io" },
  { path: "/usr/bin/docker", pkg: "docker.io" },
  { path: "/usr/sbin/debootstrap", pkg: "debootstrap" },
  { path: "/usr/sbin/ip", pkg: "iproute2" },
  { path: "/usr/bin/nsenter", pkg: "util-linux" },
  // The buildx engines' registry (CNCF distribution 2.8).
  { path: "/usr/bin/docker-registry", pkg: "docker-registry" },
];

let aptUpdated = false;

async function aptGet(args: string[], log: (line: string) => void): Promise<void> {
  // Another apt-get (for example a provisioning step) may hold the lock: wait for it.
  for (let attempt = 1; ; attempt++) {
    const result = await execa("apt-get", ["-o", "DPkg::Lock::Timeout=600", ...args], {
      reject: false,
      all: true,
      env: { DEBIAN_FRONTEND: "noninteractive", NEEDRESTART_MODE: "l" },
    });
    if (result.exitCode === 0) return;
    const out = String(result.all ?? "");
    if (/Could not get lock|is locked by|Unable to lock/i.test(out) && attempt < 60) {
      log(`[engine] apt is busy (another apt-get is running); waiting…`);
      await sleep(10_000);
      continue;
    }
    throw new EngineEnvironmentError(
      `apt-get ${args.join(" ")} failed (exit ${result.exitCode})`,
      "check that the Debian mirror in /etc/apt/sources.list.d/debian.sources is reachable, then retry",
      out.split("\n").slice(-20).join("\n"),
    );
  }
}

/** `apt-get update` once per process, then install what is missing (no recommends). */
export async function aptInstall(pkgs: string[], log: (line: string) => void): Promise<void> {
  if (pkgs.length === 0) return;
  requireRoot("installing packages");
  // Keep package scripts from starting a host-network docker service: only the private,
  // namespaced daemon may run. Respect a policy-rc.d that is already there.
  const policy = "/usr/sbin/policy-rc.d";
  const ownPolicy = !fs.existsSync(policy);
  if (ownPolicy) fs.writeFileSync(policy, "#!/bin/sh\n# added by iopaint scripts/engine during apt-get install\nexit 101\n", { mode: 0o755 });
  try {
    if (!aptUpdated) {
      log(`[engine] apt-get update`);
      await aptGet(["update"], log);
      aptUpdated = true;
    }
    log(`[engine] apt-get install ${pkgs.join(" ")}`);
    await aptGet(["install", "-y", "--no-install-recommends", ...pkgs], log);
  } finally {
    if (ownPolicy) fs.rmSync(policy, { force: true });
  }
}

/** Install docker.io, debootstrap, iproute2 and docker-registry when any of their commands is missing. */
export function ensureHostPackages(log: (line: string) => void): Promise<void> {
  return ensureHostTools(HOST_TOOLS, log);
}

/** Install the Debian packages of the `tools` (commands by absolute path) that are missing. */
export async function ensureHostTools(tools: ReadonlyArray<{ path: string; pkg: string }>, log: (line: string) => void): Promise<void> {
  const missing = [...new Set(tools.filter((t) => !fs.existsSync(t.path)).map((t) => t.pkg))];
  if (missing.length > 0) {
    await aptInstall(missing, log);
    const still = tools.filter((t) => !fs.existsSync(t.path));
    if (still.length > 0) {
      throw new EngineEnvironmentError(
        `still missing after apt-get install: ${still.map((t) => t.path).join(", ")}`,
        `install ${[...new Set(still.map((t) => t.pkg))].join(", ")} from Debian bookworm by hand and retry`,
      );
    }
  }
}

/**
 * Fetches into `dir` the .deb files apt would install on another system, whose dpkg status file
 * is `status`, with this host's sources and keys; the host's own caches and locks stay untouched.
 */
export async function aptDownloadFor(status: string, packages: string[], dir: string): Promise<void> {
  fs.mkdirSync(path.join(dir, "partial"), { recursive: true });
  const result = await execa(
    "apt-get",
    [
      "install",
      "--download-only",
      "--no-install-recommends",
      "-y",
      "-q",
      "-o",
      `Dir::State::status=${status}`,
      "-o",
      `Dir::Cache::archives=${dir}/`,
      "-o",
      "Dir::Cache::pkgcache=",
      "-o",
      "Dir::Cache::srcpkgcache=",
      "-o",
      "Debug::NoLocking=1",
      ...packages,
    ],
    { reject: false, all: true, env: { DEBIAN_FRONTEND: "noninteractive" } },
  );
  if (result.exitCode !== 0) {
    throw new EngineEnvironmentError(
      `apt-get could not fetch ${packages.join(" ")}: ${String(result.all).trim().split("\n").slice(-3).join(" / ")}`,
      "check that the host's apt sources (Debian bookworm) are reachable, then run it again",
    );
  }
  fs.rmSync(path.join(dir, "partial"), { recursive: true, force: true });
  fs.rmSync(path.join(dir, "lock"), { force: true });
}

/** A .deb's control fields (`dpkg-deb --field`), as the text of a Packages stanza. */
export async function debControlFields(file: string): Promise<string> {
  return String((await execa("dpkg-deb", ["--field", file])).stdout).trimEnd();
}

/** Whether Debian's package index (as apt on this host sees it) has a package. */
export async function aptHasPackage(pkg: string, log: (line: string) => void): Promise<boolean> {
  const probe = async () => {
    const r = await execa("apt-cache", ["show", "--no-all-versions", pkg], { reject: false });
    return r.exitCode === 0 && /^Package:/m.test(String(r.stdout));
  };
  if (await probe()) return true;
  // Empty lists (a fresh machine) say "no" for everything: refresh once and ask again.
  if (!aptUpdated) {
    requireRoot("apt-get update");
    log(`[engine] apt-get update`);
    await aptGet(["update"], log);
    aptUpdated = true;
    return probe();
  }
  return false;
}

// ---------------------------------------------------------------------------------------------
// The Debian mirror, read at run time (never written into the repository)

function firstUri(text: string): string | undefined {
  return text.split(/\s+/).find((u) => /^(https?|file):/.test(u));
}

/** Mirror URI for `suite` from debian.sources (deb822), or sources.list as a fallback. */
export function readDebianMirror(suite = "bookworm"): string {
  const deb822 = "/etc/apt/sources.list.d/debian.sources";
  if (fs.existsSync(deb822)) {
    const stanzas = fs.readFileSync(deb822, "utf8").split(/\n\s*\n/);
    for (const stanza of stanzas) {
      const fields = new Map<string, string>();
      let last = "";
      for (const line of stanza.split("\n")) {
        if (line.startsWith("#")) continue;
        const m = /^([A-Za-z-]+):\s*(.*)$/.exec(line);
        if (m) {
          last = m[1]!.toLowerCase();
          fields.set(last, m[2]!.trim());
        } else if (/^\s+\S/.test(line) && last) fields.set(last, `${fields.get(last) ?? ""} ${line.trim()}`);
      }
      const suites = (fields.get("suites") ?? "").split(/\s+/);
      const types = (fields.get("types") ?? "deb").split(/\s+/);
      const enabled = (fields.get("enabled") ?? "yes").toLowerCase() !== "no";
      const uri = firstUri(fields.get("uris") ?? "");
      if (enabled && types.includes("deb") && suites.includes(suite) && uri) return uri;
    }
  }
  const list = "/etc/apt/sources.list";
  if (fs.existsSync(list)) {
    for (const raw of fs.readFileSync(list, "utf8").split("\n")) {
      const line = raw.replace(/#.*/, "").trim();
      if (!line.startsWith("deb ")) continue;
      const words = line
        .replace(/\[[^\]]*\]/, " ")
        .split(/\s+/)
        .filter(Boolean);
      // deb URI SUITE COMPONENTS...
      if (words[2] === suite && words[1]) return words[1];
    }
  }
  throw new EngineEnvironmentError(
    `no Debian ${suite} mirror found in /etc/apt/sources.list.d/debian.sources or /etc/apt/sources.list`,
    `add a "${suite}" source for apt (Types: deb, URIs: <mirror>, Suites: ${suite})`,
  );
}

// ---------------------------------------------------------------------------------------------
// A lock in the state dir, so that two processes do not start two daemons or build one image twice

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function withStateLock<T>(stateDir: string, name: string, fn: () => Promise<T>, timeoutMs = 30 * 60_000): Promise<T> {
  fs.mkdirSync(stateDir, { recursive: true });
  const lock = path.join(stateDir, `${name}.lock`);
  const started = Date.now();
  let said = false;
  for (;;) {
    try {
      fs.mkdirSync(lock);
      fs.writeFileSync(path.join(lock, "pid"), String(process.pid));
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== "EEXIST") throw e;
      let holder = 0;
      let age = 0;
      try {
        age = Date.now() - fs.statSync(lock).mtimeMs;
        holder = Number.parseInt(fs.readFileSync(path.join(lock, "pid"), "utf8"), 10) || 0;
      } catch {
        // The holder is between mkdir and writing its pid, or has just released the lock.
      }
      if (holder && !pidAlive(holder)) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (!holder && age > 10_000) {
        fs.rmSync(lock, { recursive: true, force: true });
        continue;
      }
      if (Date.now() - started > timeoutMs) {
        throw new EngineEnvironmentError(`timed out waiting for ${lock} (held by pid ${holder})`, "wait for the other run to finish, or remove the lock if that process is gone");
      }
      if (!said) {
        process.stderr.write(`[engine] waiting for another run (pid ${holder}) holding ${lock}…\n`);
        said = true;
      }
      await sleep(500);
    }
  }
  try {
    return await fn();
  } finally {
    fs.rmSync(lock, { recursive: true, force: true });
  }
}

/** Mount points strictly inside `dir` (deepest first), from /proc/self/mountinfo. */
export function mountsUnder(dir: string): string[] {
  const prefix = `${dir}/`;
  return fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .map((line) => line.split(" ")[4])
    .filter((m): m is string => Boolean(m))
    .map((m) => m.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(Number.parseInt(oct, 8))))
    .filter((m) => m.startsWith(prefix))
    .sort((a, b) => b.length - a.length);
}

/** Mount points at `dir` itself or inside it (deepest first). */
export function mountsAtOrUnder(dir: string): string[] {
  const at = fs
    .readFileSync("/proc/self/mountinfo", "utf8")
    .split("\n")
    .some((line) => line.split(" ")[4] === dir);
  return [...mountsUnder(dir), ...(at ? [dir] : [])];
}

/** The pid a pidfile names, if it holds one. */
export function readPid(pidfile: string): number | undefined {
  try {
    const pid = Number.parseInt(fs.readFileSync(pidfile, "utf8").trim(), 10);
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The pid a pidfile names, when that process is alive and its command line holds every one of
 * `markers`: ours, not another that took the number since.
 */
export function livePid(pidfile: string, ...markers: string[]): number | undefined {
  const pid = readPid(pidfile);
  if (!pid || !pidAlive(pid)) return undefined;
  const cmdline = fs.existsSync(`/proc/${pid}/cmdline`) ? fs.readFileSync(`/proc/${pid}/cmdline`, "utf8") : "";
  return markers.every((marker) => cmdline.includes(marker)) ? pid : undefined;
}

/** SIGTERM, then SIGKILL after `graceMs`; returns once the process is gone (or a zombie). */
export async function terminate(pid: number, graceMs: number): Promise<void> {
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

export { pidAlive, sleep };

/**
 * The time of a git checkout's last commit, in seconds since the epoch (SOURCE_DATE_EPOCH, as
 * reproducible-builds.org defines it); undefined when the directory is not in a git work tree or
 * git is not installed.
 */
export async function lastCommitTime(dir: string): Promise<string | undefined> {
  const result = await execa("git", ["-C", dir, "log", "-1", "--format=%ct"], { reject: false, stdin: "ignore" }).catch(() => undefined);
  const seconds = result?.exitCode === 0 ? String(result.stdout).trim() : "";
  return /^\d+$/.test(seconds) ? seconds : undefined;
}
