/**
 * Which docker client builds, and how: buildx bake when a client has buildx 0.12+, else the
 * fallback (one BuildKit `docker build` per target) with a client older than 23, which builds
 * with BuildKit without buildx. The choice is a pure function of what was probed, so its rules
 * are unit-tested (test/unit/docker-discovery.test.ts); only the probing runs commands.
 */
import { realpathSync } from "node:fs";
import { compareReleases } from "../../generator/compat/table.ts";
import { fail, type Problem } from "../../generator/errors.ts";
import { onPath } from "../on-path.ts";
import { Docker } from "./docker.ts";
import type { Engine } from "./engine.ts";

/** Oldest buildx whose bake understands `cwd://` in dockerfile paths (added in buildx 0.12.0). */
export const MIN_BUILDX = "0.12.0";

/** This machine's platform, which a local daemon builds for without emulation. */
export const HOST_PLATFORM = `linux/${process.arch === "x64" ? "amd64" : process.arch}`;

export type BuildPath = "buildx" | "docker-build";
export type Preference = "auto" | BuildPath;

export interface DockerTools {
  /** The docker client to run. */
  client: string;
  clientVersion: string;
  /** buildx bake, or the fallback: one `docker build` (BuildKit) per target. */
  mode: BuildPath;
  buildxVersion?: string;
  /** Why the fallback was chosen, for the message that says so. */
  reason?: string;
}

/** What one candidate client said about itself. */
export interface ClientProbe {
  client: string;
  /** `docker --version`'s number ("26.1.5"). */
  version: string;
  /** `docker buildx version`'s number, when the plugin answers. */
  buildx?: string;
}

/** Pure: the build path for these probes and this preference, or the problem that stops the build. */
export function chooseBuildPath(probes: readonly ClientProbe[], prefer: Preference): { tools: DockerTools } | { problem: Problem } {
  const withBuildx = probes.find((p) => p.buildx && compareReleases(p.buildx, MIN_BUILDX) >= 0);
  const oldBuildx = probes.find((p) => p.buildx && compareReleases(p.buildx, MIN_BUILDX) < 0);
  const builtinBuildKit = probes.find((p) => Number(p.version.split(".")[0]) < 23);
  if (prefer !== "docker-build" && withBuildx) {
    return { tools: { client: withBuildx.client, clientVersion: withBuildx.version, mode: "buildx", buildxVersion: withBuildx.buildx } };
  }
  if (prefer === "buildx") {
    return {
      problem: {
        kind: "environment",
        message: oldBuildx ? `buildx ${oldBuildx.buildx} is older than ${MIN_BUILDX}, which docker-bake.hcl needs (cwd:// paths)` : "buildx is not installed",
        hint: "install the docker-buildx-plugin package or a buildx release from https://github.com/docker/buildx/releases",
      },
    };
  }
  if (builtinBuildKit) {
    const reason = prefer === "docker-build" ? "--engine docker-build" : oldBuildx ? `buildx ${oldBuildx.buildx} is older than ${MIN_BUILDX}` : "buildx is not installed";
    return { tools: { client: builtinBuildKit.client, clientVersion: builtinBuildKit.version, mode: "docker-build", reason } };
  }
  return {
    problem: {
      kind: "environment",
      message: `docker ${probes.map((p) => p.version).join(", ")} has no buildx ${MIN_BUILDX}+ and cannot build with BuildKit without it`,
      hint: "install the docker-buildx-plugin package, or set DOCKER_CLI to a Docker 20.10 client (Debian: apt-get install docker.io → /usr/bin/docker)",
    },
  };
}

type Env = Record<string, string | undefined>;

/** The engine that `env` (DOCKER_HOST, DOCKER_CONFIG) reaches, driven by `tools`' client. */
export function hostEngine(env: Env, tools: DockerTools): Engine {
  const pass = Object.fromEntries(["DOCKER_HOST", "DOCKER_CONFIG", "DOCKER_CONTEXT"].filter((k) => env[k]).map((k) => [k, env[k]!]));
  return {
    name: "host",
    dockerHost: env.DOCKER_HOST ?? "unix:///var/run/docker.sock",
    client: tools.client,
    netns: "",
    // Docker 20.10 builds with BuildKit only when asked; its legacy builder rejects RUN --mount.
    env: { ...pass, ...(tools.mode === "docker-build" ? { DOCKER_BUILDKIT: "1" } : {}) },
    describe: `docker ${tools.clientVersion} (${tools.mode === "buildx" ? `buildx ${tools.buildxVersion}` : "no buildx"})`,
  };
}

/**
 * Probes the candidates ($DOCKER_CLI alone when set, else `docker` on PATH and Debian's
 * /usr/bin/docker) and returns the chosen tools with a Docker for them.
 */
export async function findDocker(env: Env, prefer: Preference = "auto"): Promise<{ tools: DockerTools; docker: Docker }> {
  const candidates = env.DOCKER_CLI ? [env.DOCKER_CLI] : defaultCandidates(env);
  const probes: ClientProbe[] = [];
  for (const client of candidates) {
    const probe = new Docker({ name: "host", dockerHost: "", client, netns: "", env: {}, describe: client });
    const version = /Docker version (\d+\.\d+\.\d+)/.exec((await probe.run(["--version"], { env })).stdout)?.[1];
    if (!version) continue;
    probes.push({ client, version, buildx: await probe.buildxVersion(env) });
  }
  if (!probes.length) {
    fail({
      kind: "environment",
      message: env.DOCKER_CLI ? `DOCKER_CLI=${env.DOCKER_CLI} is not a working docker client` : "docker was not found on PATH",
      hint: "install Docker (https://docs.docker.com/engine/install/) with the buildx plugin; on Debian: apt-get install docker.io",
    });
  }
  const choice = chooseBuildPath(probes, prefer);
  if ("problem" in choice) fail(choice.problem);
  return { tools: choice.tools, docker: new Docker(hostEngine(env, choice.tools)) };
}

function defaultCandidates(env: Env): string[] {
  const first = onPath("docker", env.PATH);
  const found = [...(first ? [first] : []), "/usr/bin/docker"];
  const seen = new Set<string>();
  return found.filter((client) => {
    let real: string;
    try {
      real = realpathSync(client);
    } catch {
      return false;
    }
    if (seen.has(real)) return false;
    seen.add(real);
    return true;
  });
}

/** The daemon's version, or an environment problem that says where the client looked. */
export async function daemonVersion(docker: Docker): Promise<string> {
  const { version, problem } = await docker.serverVersion();
  if (version) return version;
  const where = docker.engine.env.DOCKER_HOST ? `DOCKER_HOST=${docker.engine.env.DOCKER_HOST}` : "the default socket (/var/run/docker.sock)";
  fail({
    kind: "environment",
    // The client's own words repeat the address we already name; keep only the reason.
    message: `cannot reach the Docker daemon at ${where}: ${/^Cannot connect to the Docker daemon/i.test(problem) ? "nothing answers there" : problem.replace(/^error during connect: ?/i, "")}`,
    hint: 'start Docker (systemctl start docker) or fix DOCKER_HOST; for this project\'s private engine: eval "$(npm run -s engine -- env)"',
  });
}
