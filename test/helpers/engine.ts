import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { execa, type Result } from "execa";
import { resolveBake, type ResolvedTarget } from "../../generator/bake/resolve.ts";
import { dockerBuildArgs } from "../../scripts/bake/docker-build.ts";
import { ensureStandInBaseImages } from "../../scripts/engine/base-images.ts";
import { ensureEngine, fetchInEngineNetwork, waitForHttp, type Engine } from "../../scripts/engine/private-engine.ts";
import { FIXTURE_CONFIG, REPO } from "./compile.ts";

/**
 * The end-to-end tests' one handle on the real engine: it starts the private engine and the
 * stand-in base images, builds from generated files, runs containers and removes everything it
 * made (containers, volumes, temp dirs) in cleanup(), which tests call from after(), so failures
 * clean up too. Published ports are reached inside the engine's network namespace only.
 */
export class TestEngine {
  private readonly containers = new Set<string>();
  private readonly volumes = new Set<string>();
  private readonly dirs = new Set<string>();
  private constructor(readonly engine: Engine) {}

  static async start(): Promise<TestEngine> {
    const engine = await ensureEngine();
    await ensureStandInBaseImages(engine);
    return new TestEngine(engine);
  }

  docker(args: string[], options: { reject?: boolean; cwd?: string } = {}): Promise<Result<{ all: true; reject: boolean }>> {
    return execa(this.engine.client, args, { env: { ...this.engine.env }, all: true, reject: options.reject ?? true, cwd: options.cwd, stdin: "ignore" }) as never;
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
  async generateFixture(source = join(REPO, "test/fixtures/app"), env: Record<string, string> = {}): Promise<{ dir: string; targets: Record<string, ResolvedTarget>; resolve: (names: string[]) => Record<string, ResolvedTarget> }> {
    const dir = await this.tempDir("iopaint-fixture-");
    await execa("npx", ["tsx", "generator/cli.ts", "generate", "--config", FIXTURE_CONFIG, "--out", dir], { cwd: REPO });
    const { readFile } = await import("node:fs/promises");
    const bake = await readFile(join(dir, "docker-bake.hcl"), "utf8");
    const resolveNames = (names: string[]) => resolveBake(bake, names, { IOPAINT_SRC: source, ...env }).target;
    return { dir, targets: resolveNames(["all"]), resolve: resolveNames };
  }

  /** Builds one resolved target with BuildKit through `docker build`, in `cwd` (where bake would run). */
  async build(target: ResolvedTarget, cwd: string, options: { noCache?: boolean } = {}): Promise<{ output: string; imageId: string }> {
    const { argv } = dockerBuildArgs(target, cwd, options);
    const result = await this.docker(argv, { cwd, reject: false });
    if (result.exitCode !== 0) throw new Error(`docker build failed (${result.exitCode}):\n${String(result.all).split("\n").slice(-40).join("\n")}`);
    const inspect = await this.docker(["image", "inspect", "--format", "{{.Id}}", target.tags[0]]);
    return { output: String(result.all), imageId: String(inspect.stdout).trim() };
  }

  /** `docker run -d`; the container is removed in cleanup(). */
  async run(image: string, options: { publish?: string; env?: Record<string, string>; args?: string[]; extra?: string[] } = {}): Promise<string> {
    const argv = ["run", "-d"];
    if (options.publish) argv.push("-p", options.publish);
    for (const [key, value] of Object.entries(options.env ?? {})) argv.push("-e", `${key}=${value}`);
    argv.push(...(options.extra ?? []), image, ...(options.args ?? []));
    const id = String((await this.docker(argv)).stdout).trim();
    this.containers.add(id);
    return id;
  }

  trackVolume(name: string): void {
    this.volumes.add(name);
  }

  async logs(container: string): Promise<string> {
    return String((await this.docker(["logs", container], { reject: false })).all);
  }

  async inspect<T = unknown>(format: string, object: string): Promise<T> {
    return JSON.parse(String((await this.docker(["inspect", "--format", `{{json ${format}}}`, object])).stdout)) as T;
  }

  fetch = fetchInEngineNetwork;

  /** Waits for a 2xx/3xx answer; on timeout the error carries the container's log. */
  async waitForHttp(url: string, container: string, timeoutMs = 60_000): Promise<void> {
    try {
      await waitForHttp(url, timeoutMs);
    } catch (error) {
      throw new Error(`${(error as Error).message}\n--- container log ---\n${await this.logs(container)}`);
    }
  }

  async cleanup(): Promise<void> {
    if (this.containers.size) await this.docker(["rm", "-f", "-v", ...this.containers], { reject: false });
    if (this.volumes.size) await this.docker(["volume", "rm", "-f", ...this.volumes], { reject: false });
    for (const dir of this.dirs) await rm(dir, { recursive: true, force: true });
    this.containers.clear();
    this.volumes.clear();
    this.dirs.clear();
  }
}
