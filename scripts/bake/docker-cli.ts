import { realpathSync } from "node:fs";
import { execa } from "execa";
import { fail } from "../../generator/errors.ts";

/** Oldest buildx whose bake understands `cwd://` in dockerfile paths (added in buildx 0.12.0). */
export const MIN_BUILDX = "0.12.0";

export interface DockerTools {
  /** The docker client to run. */
  client: string;
  clientVersion: string;
  /** buildx bake, or the fallback: one `docker build` (BuildKit) per target. */
  mode: "buildx" | "docker-build";
  buildxVersion?: string;
  /** Why the fallback was chosen, for the message that says so. */
  reason?: string;
}

type Env = Record<string, string | undefined>;

/**
 * Finds a docker client that can build: buildx >= 0.12 if any candidate has it, else a client
 * older than 23 (Docker 20.10 builds with BuildKit without buildx; 23+ clients refuse to). The
 * candidates are $DOCKER_CLI alone when set, else `docker` on PATH and Debian's /usr/bin/docker.
 */
export async function findDocker(env: Env, prefer: "auto" | "buildx" | "docker-build" = "auto"): Promise<DockerTools> {
  const candidates = env.DOCKER_CLI ? [env.DOCKER_CLI] : await defaultCandidates(env);
  const probed: { client: string; version: string; buildx?: string }[] = [];
  for (const client of candidates) {
    const version = await clientVersion(client, env);
    if (version) probed.push({ client, version, buildx: await buildxVersion(client, env) });
  }
  if (!probed.length) {
    fail({
      kind: "environment",
      message: env.DOCKER_CLI ? `DOCKER_CLI=${env.DOCKER_CLI} is not a working docker client` : "docker was not found on PATH",
      hint: "install Docker (https://docs.docker.com/engine/install/) with the buildx plugin; on Debian: apt-get install docker.io",
    });
  }
  const withBuildx = probed.find((p) => p.buildx && compareVersions(p.buildx, MIN_BUILDX) >= 0);
  const oldBuildx = probed.find((p) => p.buildx && compareVersions(p.buildx, MIN_BUILDX) < 0);
  const builtinBuildKit = probed.find((p) => majorOf(p.version) < 23);
  if (prefer !== "docker-build" && withBuildx) {
    return { client: withBuildx.client, clientVersion: withBuildx.version, mode: "buildx", buildxVersion: withBuildx.buildx };
  }
  if (prefer === "buildx") {
    fail({
      kind: "environment",
      message: oldBuildx ? `buildx ${oldBuildx.buildx} is older than ${MIN_BUILDX}, which docker-bake.hcl needs (cwd:// paths)` : "buildx is not installed",
      hint: "install the docker-buildx-plugin package or a buildx release from https://github.com/docker/buildx/releases",
    });
  }
  if (builtinBuildKit) {
    const reason = oldBuildx ? `buildx ${oldBuildx.buildx} is older than ${MIN_BUILDX}` : "buildx is not installed";
    return { client: builtinBuildKit.client, clientVersion: builtinBuildKit.version, mode: "docker-build", reason };
  }
  fail({
    kind: "environment",
    message: `docker ${probed.map((p) => p.version).join(", ")} has no buildx ${MIN_BUILDX}+ and cannot build with BuildKit without it`,
    hint: "install the docker-buildx-plugin package, or set DOCKER_CLI to a Docker 20.10 client (Debian: apt-get install docker.io → /usr/bin/docker)",
  });
}

async function defaultCandidates(env: Env): Promise<string[]> {
  const onPath = await execa("sh", ["-c", "command -v docker"], { env, reject: false });
  const found = [String(onPath.stdout).trim(), "/usr/bin/docker"].filter(Boolean);
  const seen = new Set<string>();
  return found.filter((client) => {
    let real = client;
    try {
      real = realpathSync(client);
    } catch {
      return false;
    }
    return seen.has(real) ? false : (seen.add(real), true);
  });
}

async function clientVersion(client: string, env: Env): Promise<string | undefined> {
  const result = await execa(client, ["--version"], { env, reject: false });
  return /Docker version (\d+\.\d+\.\d+)/.exec(String(result.stdout))?.[1];
}

async function buildxVersion(client: string, env: Env): Promise<string | undefined> {
  const result = await execa(client, ["buildx", "version"], { env, reject: false });
  return result.exitCode === 0 ? /v?(\d+\.\d+\.\d+)/.exec(String(result.stdout))?.[1] : undefined;
}

/** The daemon's version, or an environment problem that says where the client looked. */
export async function daemonVersion(tools: DockerTools, env: Env): Promise<string> {
  const result = await execa(tools.client, ["version", "--format", "{{.Server.Version}}"], { env, reject: false, timeout: 20_000 });
  const version = String(result.stdout).trim();
  if (result.exitCode === 0 && version) return version;
  const where = env.DOCKER_HOST ? `DOCKER_HOST=${env.DOCKER_HOST}` : "the default socket (/var/run/docker.sock)";
  const why = String(result.stderr).split("\n").find((line) => line.trim()) ?? (result.timedOut ? "no answer within 20 s" : "no answer");
  fail({
    kind: "environment",
    // The client's own words repeat the address we already name; keep only the reason.
    message: `cannot reach the Docker daemon at ${where}: ${/^Cannot connect to the Docker daemon/i.test(why) ? "nothing answers there" : why.replace(/^error during connect: ?/i, "")}`,
    hint: "start Docker (systemctl start docker) or fix DOCKER_HOST; for this project's private engine: eval \"$(npm run -s engine -- env)\"",
  });
}

export interface ImageFacts {
  id: string;
  size: number;
  tags: string[];
}

export async function inspectImage(tools: DockerTools, ref: string, env: Env): Promise<ImageFacts | undefined> {
  const result = await execa(tools.client, ["image", "inspect", "--format", "{{json .}}", ref], { env, reject: false });
  if (result.exitCode !== 0) return undefined;
  const image = JSON.parse(String(result.stdout)) as { Id: string; Size: number; RepoTags: string[] | null };
  return { id: image.Id, size: image.Size, tags: image.RepoTags ?? [] };
}

export async function hasNvidiaRuntime(tools: DockerTools, env: Env): Promise<boolean> {
  const result = await execa(tools.client, ["info", "--format", "{{json .Runtimes}}"], { env, reject: false });
  return /"nvidia"/.test(String(result.stdout));
}

export function compareVersions(a: string, b: string): number {
  const [pa, pb] = [a.split(".").map(Number), b.split(".").map(Number)];
  for (let i = 0; i < 3; i++) if ((pa[i] ?? 0) !== (pb[i] ?? 0)) return (pa[i] ?? 0) - (pb[i] ?? 0);
  return 0;
}

function majorOf(version: string): number {
  return Number(version.split(".")[0]);
}
