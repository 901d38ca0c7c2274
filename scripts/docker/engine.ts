/**
 * An engine as a value: which daemon (socket), which client drives it, and what that client can
 * do. Everything that talks to Docker (the runner, the bench, the tests, the demo) receives one
 * of these and passes it to scripts/docker/docker.ts; nothing picks a client on its own.
 */

/**
 * This project's private engines (scripts/engine/): Docker 28.5 with buildx 0.29 on the containerd
 * and the classic image store, Docker 26.1 with buildx 0.13.1, and Docker 20.10 without buildx.
 */
export type EngineName = "newest" | "newest-classic" | "trixie" | "legacy";

export interface Engine {
  /** A private engine's name, or "host" for whatever DOCKER_HOST (or the default socket) reaches. */
  name: EngineName | "host";
  /** `unix:///…/docker.sock` */
  dockerHost: string;
  /** The docker client to run (an absolute path, or a name looked up on PATH). */
  client: string;
  /** The network namespace the daemon runs in (`/var/run/netns/<name>`), where published ports listen; "" for the host's. */
  netns: string;
  /** Merged into every child's environment: DOCKER_HOST, and DOCKER_CONFIG (plugins) or DOCKER_BUILDKIT=1 (20.10's BuildKit). */
  env: Record<string, string>;
  /** A one-line description for logs: "Docker 28.5.2, buildx 0.29.1, Compose 2.40.3 (Debian forky), containerd image store". */
  describe: string;
}

/** Where a named network namespace is mounted (`ip netns add`), for `nsenter --net=…`. */
export function netnsPath(netns: string): string {
  return `/var/run/netns/${netns}`;
}
