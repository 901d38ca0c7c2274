/**
 * The bench's handle on the engine, over scripts/docker/docker.ts: times builds with
 * performance.now(), reads what they did from BuildKit's plain progress output, measures layers,
 * and removes the images it tagged. Every command stops when the run is interrupted.
 */
import { parseSize } from "../../generator/plan.ts";
import { Docker, type Engine } from "../docker/docker.ts";
import { describeFailure, isDockerfileStep, parseProgress, type BuildReport } from "../bake/progress.ts";
import { DEPENDENCY_STAGES, type BuildSample } from "./figures.ts";
import { layerSizesFromSave, TarScanner } from "../docker/tar-scan.ts";

export type Log = (line: string) => void;

/** A build step failed: the runner's exit code 1, with the step and its last lines. */
export class BuildFailed extends Error {
  constructor(
    label: string,
    readonly detail: string,
  ) {
    super(`${label}: the build failed at ${detail}`);
    this.name = "BuildFailed";
  }
}

export interface BuildOutcome {
  seconds: number;
  output: string;
  report: BuildReport;
}

export class BenchDocker {
  private readonly tagged = new Set<string>();
  /** Layer sizes by diff ID: a layer's content, and so its size, never changes. */
  private readonly layerBytes = new Map<string, number>();

  readonly docker: Docker;

  constructor(
    readonly engine: Engine,
    private readonly signal: AbortSignal,
    private readonly verbose = false,
  ) {
    this.docker = new Docker(engine);
  }

  private buildx?: string;

  /** The engine's buildx version ("0.0.0" without buildx), asked once. */
  async buildxVersion(): Promise<string> {
    this.buildx ??= (await this.docker.buildxVersion()) ?? "0.0.0";
    return this.buildx;
  }

  run(args: string[], options: { cwd?: string; input?: string } = {}): Promise<{ exitCode: number; stdout: string; all: string }> {
    return this.docker.run(args, { ...options, signal: this.signal });
  }

  /** `docker <argv>` (a build; `env` adds bake variables), timed from start to exit; throws BuildFailed with the failing step. */
  async build(label: string, argv: string[], cwd: string, env?: Record<string, string>, tags = tagsIn(argv)): Promise<BuildOutcome> {
    for (const tag of tags) this.tagged.add(tag);
    const previous = await this.imageIds(tags);
    const { code, output, seconds } = await this.docker.stream(argv, { cwd, env, signal: this.signal, onOutput: (chunk) => this.verbose && process.stderr.write(chunk) });
    const report = parseProgress(output);
    if (code !== 0) {
      const detail = report.failed
        ? describeFailure(report.failed)
        : output
            .trim()
            .split("\n")
            .slice(-15)
            .map((line) => `  | ${line}`)
            .join("\n");
      throw new BuildFailed(label, detail);
    }
    await this.removeSuperseded(previous);
    return { seconds, output, report };
  }

  async imageBytes(ref: string): Promise<number> {
    return Number((await this.inspect(ref, "{{.Size}}")).trim());
  }

  /**
   * BuildKit's cache in this engine, as `docker system df` counts it. Asked again for a few
   * seconds when it fails: right after an export, df can meet a snapshot that BuildKit is removing
   * ("snapshot …-view does not exist: not found" on Docker 28 with the containerd store, as in
   * moby/buildkit#3599), which a moment later is gone from its list.
   */
  async buildCacheBytes(): Promise<number> {
    for (let attempt = 1; ; attempt++) {
      const df = await this.run(["system", "df", "--format", "{{.Type}}\t{{.Size}}"]);
      const size = /^Build Cache\t(\S+)$/m.exec(df.stdout)?.[1];
      if (df.exitCode === 0 && size) return parseSize(size);
      if (attempt === 10) throw new Error(`docker system df gave no build cache size (${attempt} tries, a second apart): ${df.all.trim()}`);
      await new Promise((resolve) => setTimeout(resolve, 1_000));
    }
  }

  async diffIds(ref: string): Promise<string[]> {
    return JSON.parse(await this.inspect(ref, "{{json .RootFS.Layers}}")) as string[];
  }

  /** Bytes of each layer of `ref` as `docker save` holds it, by diff ID; saved only for layers not seen before. */
  async layerSizes(ref: string): Promise<Map<string, number>> {
    const ids = await this.diffIds(ref);
    if (ids.some((id) => !this.layerBytes.has(id))) {
      const scanner = new TarScanner((name) => name === "manifest.json");
      const saved = await this.docker.consumeStdout(["save", ref], (chunk) => scanner.push(chunk), { signal: this.signal });
      if (saved.code !== 0) throw new Error(`docker save ${ref} failed: ${saved.stderr.trim()}`);
      for (const [id, size] of layerSizesFromSave(scanner, ids)) this.layerBytes.set(id, size);
    }
    return new Map(ids.map((id) => [id, this.layerBytes.get(id)!]));
  }

  /**
   * Prunes every build result from BuildKit's cache but its cache mounts (pip's, uv's and npm's
   * downloads). Through the engine's own API (DOCKER_BUILDKIT=0: Docker 20.10's client has no
   * buildx to hand `builder prune` to).
   */
  async pruneBuildResults(): Promise<void> {
    const pruned = await this.docker.run(["builder", "prune", "--all", "--force", "--filter", "type=regular"], { env: { DOCKER_BUILDKIT: "0" }, signal: this.signal });
    if (pruned.exitCode !== 0) throw new Error(`docker builder prune failed: ${pruned.all.trim()}`);
  }

  /** Images the bench tagged, removed at the end (BuildKit's cache keeps the layers for the next run). */
  track(tag: string): void {
    this.tagged.add(tag);
  }

  async removeTagged(): Promise<void> {
    if (this.tagged.size === 0) return;
    // Not through this.run: cleanup must also work after an interrupt.
    await this.docker.run(["image", "rm", ...this.tagged]);
    this.tagged.clear();
  }

  private async inspect(ref: string, format: string): Promise<string> {
    const result = await this.run(["image", "inspect", "--format", format, ref]);
    if (result.exitCode !== 0) throw new Error(`docker image inspect ${ref} failed: ${result.all.trim()}`);
    return result.stdout;
  }

  /** The IDs the build's tags point at now, so that the images they replace can go afterwards. */
  private async imageIds(tags: string[]): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    for (const tag of tags) {
      const result = await this.run(["image", "inspect", "--format", "{{.Id}}", tag]);
      if (result.exitCode === 0) ids.set(tag, result.stdout.trim());
    }
    return ids;
  }

  /**
   * A rebuild moves the bench's tag to a new image and leaves the old one untagged; a --no-cache
   * build of the old way leaves hundreds of megabytes that way each run. Remove such images when
   * nothing else names them (an image another tag still names stays).
   */
  private async removeSuperseded(previous: Map<string, string>): Promise<void> {
    for (const [tag, id] of previous) {
      const now = await this.run(["image", "inspect", "--format", "{{.Id}} {{len .RepoTags}}", id]);
      const [currentId, tags] = now.stdout.trim().split(" ");
      if (now.exitCode !== 0 || tags !== "0") continue;
      const moved = await this.run(["image", "inspect", "--format", "{{.Id}}", tag]);
      if (moved.stdout.trim() !== currentId) await this.run(["image", "rm", id]);
    }
  }
}

/** The tags a `docker build` argv gives. */
function tagsIn(argv: string[]): string[] {
  return argv.flatMap((arg, i) => (arg === "--tag" && i + 1 < argv.length ? [argv[i + 1]] : []));
}

/** Pure: each vertex's time from BuildKit's plain progress ("#12 DONE 83.7s"), by vertex number. */
function vertexSeconds(output: string): Map<number, number> {
  return new Map([...output.matchAll(/^#(\d+) DONE ([\d.]+)s$/gm)].map((match) => [Number(match[1]), Number(match[2])]));
}

/**
 * Pure: where a build's time went, from its progress: the dependency stages' steps (system
 * packages, Python installs; summed, so steps that ran at once count each) and the export of the
 * image ("exporting to image": compressing and writing its layers). In a bake of several targets,
 * the exports of the targets `report` holds.
 */
export function timeSpent(output: string, report: BuildReport): Pick<BuildSample, "dependencySeconds" | "exportSeconds"> {
  const seconds = vertexSeconds(output);
  const dependencies = report.steps.filter((step) => step.state === "done" && (DEPENDENCY_STAGES as readonly string[]).includes(step.stage.split(" ")[0]));
  const targets = new Set(report.steps.map((step) => step.target));
  const exports = [...output.matchAll(/^#(\d+) (?:\[(\S+)\] )?exporting to /gm)].filter((match) => targets.has(match[2] ?? ""));
  const sum = (ids: number[]) => [...new Set(ids)].reduce((total, id) => total + (seconds.get(id) ?? 0), 0);
  return { dependencySeconds: sum(dependencies.map((step) => step.id)), exportSeconds: sum(exports.map((match) => Number(match[1]))) };
}

/** Pure: a build's progress as the bench's figures. */
export function sampleOf(outcome: BuildOutcome): BuildSample {
  const executedByStage: Record<string, number> = {};
  let frontendBuilds = 0;
  const seen = new Set<string>();
  for (const step of outcome.report.steps) {
    if (!isDockerfileStep(step) || (step.state !== "done" && step.state !== "error")) continue;
    const key = `${step.stage}|${step.name}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const stage = step.stage.split(" ")[0];
    executedByStage[stage] = (executedByStage[stage] ?? 0) + 1;
    if (stage === "frontend" && /^RUN\b.*\bnpm run\b/.test(step.name)) frontendBuilds++;
  }
  return {
    seconds: outcome.seconds,
    steps: { total: outcome.report.total, cached: outcome.report.cached, executed: outcome.report.executed },
    executedByStage,
    frontendBuilds,
    contextBytes: outcome.report.contextBytes,
    ...timeSpent(outcome.output, outcome.report),
  };
}
