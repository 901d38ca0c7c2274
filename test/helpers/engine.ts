import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa } from "execa";
import { resolveBake, type ResolvedTarget } from "../../generator/bake/resolve.ts";
import { prepareGrants } from "../../scripts/bake/grants.ts";
import { bakeArgs, dockerBuildArgs } from "../../scripts/docker/build-args.ts";
import { withContextImages } from "../../scripts/docker/context-images.ts";
import { Docker, type EngineName, type RunResult } from "../../scripts/docker/docker.ts";
import { ensureStandInBaseImages } from "../../scripts/engine/base-images.ts";
import { ensureEngine, fetchInEngineNetwork, isEngineName, waitForHttp, type NetnsFetchInit } from "../../scripts/engine/private-engine.ts";
import { bridgeGateway } from "../../scripts/engine/netns-server.ts";
import { FIXTURE_CONFIG, REPO } from "./compile.ts";

/**
 * The engines the full end-to-end suites run on: `newest` builds through `docker buildx bake`
 * itself (the path users take: Docker 28.5, buildx 0.29, containerd image store), `legacy`
 * through the fallback (one BuildKit `docker build` per target on Docker 20.10). The classic
 * image store and buildx 0.13.1 (`newest-classic`, `trixie`) run test/e2e/engines-smoke.test.ts.
 * IOPAINT_TEST_ENGINES=newest (or legacy) narrows a local run to one.
 */
export const TEST_ENGINES: readonly EngineName[] = (process.env.IOPAINT_TEST_ENGINES ?? "newest,legacy")
  .split(",")
  .map((name) => name.trim())
  .filter(isEngineName);

/** The generated fixture files in a temp dir, and the bake variables its builds use. */
export interface Fixture {
  dir: string;
  /** IOPAINT_SRC and the overrides given to generateFixture. */
  env: Record<string, string>;
  targets: Record<string, ResolvedTarget>;
  resolve: (names: string[]) => Record<string, ResolvedTarget>;
}

/**
 * The end-to-end tests' one handle on a real engine: it starts a private engine and the
 * stand-in base images, builds from generated files (with bake on the buildx engines, with the
 * fallback's docker build on the legacy one), runs containers and removes everything it made
 * (containers, volumes, images, temp dirs) in cleanup(), which tests call from after(), so
 * failures clean up too. Published ports are reached inside the engine's network namespace only.
 */
export class TestEngine {
  private readonly containers = new Set<string>();
  private readonly volumes = new Set<string>();
  private readonly images = new Set<string>();
  private readonly dirs = new Set<string>();
  private constructor(readonly client: Docker) {}

  static async start(name: EngineName = "newest"): Promise<TestEngine> {
    const engine = await ensureEngine(name);
    await ensureStandInBaseImages(engine);
    return new TestEngine(new Docker(engine));
  }

  get engine() {
    return this.client.engine;
  }

  /** Whether builds go through `docker buildx bake` (every engine but legacy) or the fallback. */
  get bakes(): boolean {
    return this.engine.name !== "legacy";
  }

  /** `docker <args>`; a non-zero exit throws unless `reject: false`. */
  docker(args: string[], options: { reject?: boolean; cwd?: string; env?: Record<string, string>; inEngineNetwork?: boolean } = {}): Promise<RunResult> {
    return options.reject === false ? this.client.run(args, options) : this.client.check(args, options);
  }

  async tempDir(prefix: string): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), prefix));
    this.dirs.add(dir);
    return dir;
  }

  /**
   * Generates the fixture's files into a temp dir with the project's own CLI and resolves the
   * requested targets from the generated docker-bake.hcl, as bake would with IOPAINT_SRC set.
   */
  async generateFixture(source = join(REPO, "test/fixtures/app"), overrides: Record<string, string> = {}, config = FIXTURE_CONFIG): Promise<Fixture> {
    const dir = await this.tempDir("iopaint-fixture-");
    await execa("npx", ["tsx", "generator/cli.ts", "generate", "--config", config, "--out", dir], { cwd: REPO });
    const bake = await readFile(join(dir, "docker-bake.hcl"), "utf8");
    const env = { IOPAINT_SRC: source, ...overrides };
    const resolve = (names: string[]) => resolveBake(bake, names, env).target;
    return { dir, env, targets: resolve(["all"]), resolve };
  }

  /**
   * Builds `names` (targets or groups) from the fixture: one `docker buildx bake` on the current
   * engine, one `docker build` per target on the legacy one. Returns BuildKit's plain progress
   * output (for parseProgress) and each built target's image ID; the images go in cleanup().
   */
  async build(fixture: Fixture, names: string | string[], options: { noCache?: boolean } = {}): Promise<{ output: string; imageIds: Record<string, string> }> {
    const list = typeof names === "string" ? [names] : names;
    const targets = fixture.resolve(list);
    let output = "";
    if (this.bakes) {
      const argv = bakeArgs({ file: join(fixture.dir, "docker-bake.hcl"), targets: list, noCache: options.noCache, allow: await this.bakeGrants(targets, fixture.dir) });
      output = await this.buildCommand(argv, fixture);
    } else {
      await withContextImages(this.client, Object.values(targets), fixture.dir, undefined, async (imagesOf) => {
        for (const target of Object.values(targets)) output += await this.buildCommand(dockerBuildArgs(target, fixture.dir, { ...options, contextImages: imagesOf(target) }).argv, fixture);
      });
    }
    const imageIds: Record<string, string> = {};
    for (const [name, target] of Object.entries(targets)) {
      for (const tag of target.tags) this.images.add(tag);
      imageIds[name] = (await this.docker(["image", "inspect", "--format", "{{.Id}}", target.tags[0]])).stdout.trim();
    }
    return { output, imageIds };
  }

  /**
   * The `--allow` entitlements a bake run in `cwd` needs for these targets (and outputs given
   * with --set), as npm run bake grants them: none on buildx older than 0.17.
   */
  async bakeGrants(targets: Record<string, ResolvedTarget>, cwd: string, sets: readonly string[] = []): Promise<string[]> {
    this.buildx ??= (await this.client.buildxVersion()) ?? "0.0.0";
    return prepareGrants(targets, cwd, this.buildx, sets);
  }

  private buildx?: string;

  private async buildCommand(argv: string[], fixture: Fixture): Promise<string> {
    const result = await this.client.run(argv, { cwd: fixture.dir, env: fixture.env });
    if (result.exitCode !== 0) throw new Error(`docker ${argv.slice(0, 2).join(" ")} failed (${result.exitCode}):\n${result.all.split("\n").slice(-40).join("\n")}`);
    return result.all;
  }

  /** `docker run -d`; the container is removed in cleanup(). */
  async run(image: string, options: { publish?: string; env?: Record<string, string>; args?: string[]; extra?: string[] } = {}): Promise<string> {
    const argv = ["run", "-d"];
    if (options.publish) argv.push("-p", options.publish);
    for (const [key, value] of Object.entries(options.env ?? {})) argv.push("-e", `${key}=${value}`);
    argv.push(...(options.extra ?? []), image, ...(options.args ?? []));
    const id = (await this.docker(argv)).stdout.trim();
    this.containers.add(id);
    return id;
  }

  /** Copies `path` out of `image` to `destination` on the host (through a container that never starts). */
  async copyFromImage(image: string, path: string, destination: string): Promise<void> {
    const container = (await this.docker(["create", image])).stdout.trim();
    try {
      await this.docker(["cp", `${container}:${path}`, destination]);
    } finally {
      await this.docker(["rm", container]);
    }
  }

  /** Where a build step reaches a server in the engine's network namespace (scripts/engine/netns-server.ts). */
  bridgeGateway(): Promise<string> {
    return bridgeGateway(this.engine);
  }

  /** Empties BuildKit's cache mounts (npm's and pip's), which would serve packages without asking any server. */
  async emptyCacheMounts(): Promise<void> {
    await this.docker(["builder", "prune", "--all", "--force", "--filter", "type=exec.cachemount"]);
  }

  trackVolume(name: string): void {
    this.volumes.add(name);
  }

  trackImage(ref: string): void {
    this.images.add(ref);
  }

  async logs(container: string): Promise<string> {
    return (await this.docker(["logs", container], { reject: false })).all;
  }

  inspect<T = unknown>(format: string, object: string): Promise<T> {
    return this.client.inspect<T>(format, object);
  }

  fetch(url: string, init: NetnsFetchInit = {}) {
    return fetchInEngineNetwork(this.engine.netns, url, init);
  }

  /** Waits for a 2xx/3xx answer; on timeout the error carries the container's log. */
  async waitForHttp(url: string, container: string, timeoutMs = 60_000): Promise<void> {
    try {
      await waitForHttp(this.engine.netns, url, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- container log ---\n${await this.logs(container)}`);
    }
  }

  /** Removes what this handle made, then the dangling images its builds left (replaced tags). */
  async cleanup(): Promise<void> {
    await this.client.remove({ containers: this.containers, volumes: this.volumes, images: this.images });
    await this.docker(["image", "prune", "--force", "--filter", "dangling=true"], { reject: false });
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true });
    this.containers.clear();
    this.volumes.clear();
    this.images.clear();
    this.dirs.clear();
  }
}
