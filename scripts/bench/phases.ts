/**
 * The measurements, one function per phase of issue 5. Every build runs through the real engine
 * on a scratch copy of the subject at a fresh path; cold builds use --no-cache; warm rebuilds
 * follow unique edits. On the fixture the engine's cache is shared with other work, so it is never
 * pruned; on the real packages each cold build starts from an engine holding only its download
 * caches (clearBuilds).
 */
import { cp, readFile, rm, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { OUTPUT_FILES } from "../../generator/compile.ts";
import { parseProgress, reportOf } from "../bake/progress.ts";
import { bakeArgs, dockerBuildArgs } from "../docker/build-args.ts";
import { withContextImages } from "../docker/context-images.ts";
import { prepareGrants } from "../bake/grants.ts";
import { resolveBake } from "../../generator/bake/resolve.ts";
import { runBounded } from "../docker/parallel.ts";
import { proxySets } from "../docker/proxy.ts";
import { BASELINE_DOCKERFILE, baselineBuildArgs, baselinePackages, ensurePackagesImage } from "./baseline.ts";
import { sampleOf, type BenchDocker, type BuildOutcome, type Log } from "./docker.ts";
import { REBUILD_KINDS, type BuildPath, type Installer, type BuildSample, type Figures, type ImageSample, type PathFigures, type RebuildKind, type RebuildSample } from "./figures.ts";
import { applyEdit, EDITS, pad, resolveTargets, scratchCopy, type BenchSubject } from "./subject.ts";
import { formatBytes, formatSeconds } from "./format.ts";
import { newLayers } from "../docker/tar-scan.ts";
import { fetchInEngineNetwork } from "../engine/private-engine.ts";

export interface PhaseContext {
  docker: BenchDocker;
  subject: BenchSubject;
  /** Scratch copies live here; removed at the end. */
  work: string;
  /** Kept between runs: the old way's package archive. */
  cacheDir: string;
  repeats: number;
  paddingBytes: number;
  log: Log;
  /** Unique per call and per run: BuildKit caches by content, so every edit must be new. */
  nonce: () => string;
}

/** One `docker build` per target at once, each timed, with the named contexts as the local images they need (made before the builds' timers start). */
async function buildEach(ctx: PhaseContext, labels: string[], targets: ResolvedTarget[], cwd: string, noCache: boolean, docker = ctx.docker): Promise<BuildOutcome[]> {
  return withContextImages(docker.docker, targets, cwd, undefined, (imagesOf) =>
    runBounded(
      targets.map((target, i) => () => timed(ctx, docker, labels[i], dockerBuildArgs(target, cwd, { noCache, contextImages: imagesOf(target) }).argv, cwd)),
      availableParallelism(),
    ),
  );
}

async function build(ctx: PhaseContext, label: string, target: ResolvedTarget, cwd: string, noCache: boolean, docker = ctx.docker): Promise<BuildOutcome> {
  return (await buildEach(ctx, [label], [target], cwd, noCache, docker))[0];
}

/** The --allow grants a bake of `names` with these variables (and --set outputs) needs on this engine's buildx, as npm run bake gives them. */
async function bakeGrants(ctx: PhaseContext, docker: BenchDocker, names: string[], env: Record<string, string>, sets: string[] = []): Promise<string[]> {
  return prepareGrants(resolveBake(ctx.subject.bake, names, env).target, ctx.subject.dir, await docker.buildxVersion(), sets);
}

/** One timed build command (`env`: bake variables; `tags`: what it tags, where argv does not say), logged with its time and steps run. */
async function timed(ctx: PhaseContext, docker: BenchDocker, label: string, argv: string[], cwd: string, env?: Record<string, string>, tags?: string[]): Promise<BuildOutcome> {
  // A real-packages build takes minutes: say what runs while it does.
  if (ctx.subject.kind === "real") ctx.log(`[bench]   ${label}: building…`);
  const outcome = await docker.build(label, argv, cwd, env, tags);
  const { executed, total } = outcome.report;
  ctx.log(`[bench]   ${label}: ${formatSeconds(outcome.seconds)}, ${executed} of ${total} steps run`);
  return outcome;
}

/** 1. The old way: the single-stage baseline.Dockerfile on the same fixture, --no-cache. */
export async function measureBaseline(ctx: PhaseContext): Promise<ImageSample> {
  const source = await scratchCopy(ctx.subject, ctx.work, "baseline");
  const cpu = resolveTargets(ctx.subject, ["cpu"], source, "iopaint-bench-baseline").cpu;
  const packages = baselinePackages(await readFile(BASELINE_DOCKERFILE, "utf8"), cpu.args.RUNTIME_PACKAGES ?? "");
  if (!cpu.args.BASE_IMAGE) throw new Error("the fixture's cpu target sets no BASE_IMAGE");
  await ensurePackagesImage(ctx.docker, cpu.args.BASE_IMAGE, packages, ctx.cacheDir, ctx.log);
  const tag = "iopaint-bench-baseline:cpu";
  const outcome = await ctx.docker.build("old way, --no-cache", baselineBuildArgs(cpu, source, tag), source);
  const imageBytes = await ctx.docker.imageBytes(tag);
  ctx.log(`[bench]   old way, --no-cache: ${formatSeconds(outcome.seconds)}, ${outcome.report.executed} steps run, image ${formatBytes(imageBytes)}`);
  return { ...sampleOf(outcome), imageBytes };
}

/**
 * How one build path builds the fixture, so that phases 2 to 4 measure both the same way: the
 * fallback runs one `docker build` per target on the legacy engine (several at once, up to one per
 * core, as `npm run bake` does there); buildx runs one `docker buildx bake` on the newest engine.
 */
export interface PathBuilder {
  path: BuildPath;
  docker: BenchDocker;
  /** Builds `names` from `source` in one invocation, tagged under `image` (with `installer`, if not the config's): the wall time, each target's sample, the front-end builds run. */
  build(
    label: string,
    names: string[],
    source: string,
    image: string,
    noCache: boolean,
    installer?: Installer,
  ): Promise<{ seconds: number; samples: Record<string, BuildSample>; frontendBuilds: number }>;
}

/** `proxies`: build args for every build on the path (the real packages' proxy in its engine's namespace). */
export function fallbackBuilder(ctx: PhaseContext, proxies: Record<string, string> = {}): PathBuilder {
  return {
    path: "fallback",
    docker: ctx.docker,
    async build(label, names, source, image, noCache, installer) {
      const targets = resolveTargets(ctx.subject, names, source, image, proxies);
      if (installer) for (const target of Object.values(targets)) target.args.PYTHON_INSTALLER = installer;
      const started = performance.now();
      const outcomes = await buildEach(
        ctx,
        names.map((name) => (names.length > 1 ? `${label}: ${name}` : label)),
        names.map((name) => targets[name]),
        ctx.subject.dir,
        noCache,
      );
      const samples = Object.fromEntries(names.map((name, i) => [name, sampleOf(outcomes[i])]));
      return { seconds: (performance.now() - started) / 1000, samples, frontendBuilds: Object.values(samples).reduce((n, s) => n + s.frontendBuilds, 0) };
    },
  };
}

export function buildxBuilder(ctx: PhaseContext, current: BenchDocker, proxies: Record<string, string> = {}): PathBuilder {
  return {
    path: "buildx",
    docker: current,
    async build(label, names, source, image, noCache, installer) {
      const tags = Object.values(resolveTargets(ctx.subject, names, source, image)).flatMap((t) => t.tags);
      const env = { ...ctx.subject.variables, IOPAINT_SRC: source, IOPAINT_IMAGE: image };
      const sets = [...(installer ? [`*.args.PYTHON_INSTALLER=${installer}`] : []), ...proxySets(proxies)];
      const argv = bakeArgs({ file: join(ctx.subject.dir, OUTPUT_FILES.bake), targets: names, noCache, sets, allow: await bakeGrants(ctx, current, names, env) });
      const outcome = await timed(ctx, current, label, argv, ctx.subject.dir, env, tags);
      // One solve: a step the targets share is one vertex, counted once for the whole and given to each target's own sample.
      const whole = parseProgress(outcome.output, names.length > 1 ? names : []);
      const samples = Object.fromEntries(names.map((name) => [name, sampleOf({ ...outcome, report: names.length > 1 ? reportOf(whole, name) : whole })]));
      return { seconds: outcome.seconds, samples, frontendBuilds: sampleOf({ ...outcome, report: whole }).frontendBuilds };
    },
  };
}

/** The image the cold phase builds on a path. */
const coldImageName = (path: BuildPath) => `iopaint-bench-${path}-cold`;

/** The tag of the cold phase's cpu image on a path (the size row inspects it). */
export function coldImage(ctx: PhaseContext, path: BuildPath): string {
  return resolveTargets(ctx.subject, ["cpu"], ctx.work, coldImageName(path)).cpu.tags[0];
}

/**
 * On the real packages, before each cold build and after each phase: the path's images removed
 * and its build cache pruned but for its cache mounts (pip's and uv's downloads), so that each
 * cold build starts alike, with the downloads at hand and nothing built, and the disk, which holds
 * a few torch stacks and not a run's worth (one cpu build fills about 17 GB), keeps room while the
 * other path builds. On the fixture the engine's cache is left alone.
 */
async function clearBuilds(ctx: PhaseContext, builder: PathBuilder): Promise<void> {
  if (ctx.subject.kind !== "real") return;
  await builder.docker.removeTagged();
  await builder.docker.pruneBuildResults();
}

const INSTALLERS = ["pip", "uv"] as const;

/**
 * 2. Ours from the generated files, cold, once per repeat (each on a new copy), with the config's
 * installer (pip) and with uv, alternating so that a drift of the machine touches both alike. On
 * the real packages one build with each installer first fills its download cache, not counted:
 * the figure is the install's work, not the network's.
 */
export async function measureCold(ctx: PhaseContext, builder: PathBuilder): Promise<Record<Installer, BuildSample[]>> {
  const installerArg = (installer: Installer) => (installer === "pip" ? undefined : installer);
  if (ctx.subject.kind === "real") {
    for (const installer of INSTALLERS) {
      await clearBuilds(ctx, builder);
      const source = await scratchCopy(ctx.subject, ctx.work, `${builder.path}-download-${installer}`);
      await builder.build(
        `${builder.path}: cpu, ${installer}, --no-cache, filling the download cache (not counted)`,
        ["cpu"],
        source,
        `${coldImageName(builder.path)}-download`,
        true,
        installerArg(installer),
      );
    }
  }
  const samples: Record<Installer, BuildSample[]> = { pip: [], uv: [] };
  for (let i = 1; i <= ctx.repeats; i++) {
    for (const installer of INSTALLERS) {
      await clearBuilds(ctx, builder);
      const source = await scratchCopy(ctx.subject, ctx.work, `${builder.path}-cold-${installer}-${i}`);
      const image = installer === "pip" ? coldImageName(builder.path) : `${coldImageName(builder.path)}-uv`;
      const { samples: built } = await builder.build(`${builder.path}: cpu, ${installer}, --no-cache (${i}/${ctx.repeats})`, ["cpu"], source, image, true, installerArg(installer));
      samples[installer].push(built.cpu);
    }
  }
  await clearBuilds(ctx, builder);
  return samples;
}

const REBUILD_LABEL: Record<RebuildKind, string> = {
  unchanged: "nothing changed",
  python: "one .py file changed",
  frontend: "one web_app/ file changed",
  requirements: "requirements.txt changed",
};

/** 3. Warm rebuilds of one copy: each kind of change in turn, once per repeat, against the image just before. */
export async function measureRebuilds(ctx: PhaseContext, builder: PathBuilder): Promise<Record<RebuildKind, RebuildSample[]>> {
  const { docker, path } = builder;
  const source = await scratchCopy(ctx.subject, ctx.work, `${path}-rebuild`);
  const image = `iopaint-bench-${path}-rebuild`;
  const tag = resolveTargets(ctx.subject, ["cpu"], source, image).cpu.tags[0];
  await builder.build(`${path}: cpu, first build of this copy (not counted)`, ["cpu"], source, image, false);
  let before = await docker.diffIds(tag);
  const samples = Object.fromEntries(REBUILD_KINDS.map((kind) => [kind, [] as RebuildSample[]])) as Record<RebuildKind, RebuildSample[]>;
  for (let i = 1; i <= ctx.repeats; i++) {
    for (const kind of REBUILD_KINDS) {
      await applyEdit(ctx.subject, source, kind, ctx.nonce(), i);
      const { samples: built } = await builder.build(`${path}: cpu, ${REBUILD_LABEL[kind]} (${i}/${ctx.repeats})`, ["cpu"], source, image, false);
      const after = await docker.diffIds(tag);
      const changed = after.some((id) => !before.includes(id));
      const added = changed ? newLayers(before, after, await docker.layerSizes(tag)) : { count: 0, bytes: 0 };
      samples[kind].push({ ...built.cpu, newLayerBytes: added.bytes, newLayers: added.count });
      before = after;
    }
  }
  await clearBuilds(ctx, builder);
  return samples;
}

/**
 * 4. cpu and gpu, both from a cold cache (--no-cache): one after the other, and in one invocation
 * as `npm run bake -- all --no-cache` runs them on that path, where the steps they share (the
 * front end) run once.
 */
export async function measureVariants(ctx: PhaseContext, builder: PathBuilder): Promise<PathFigures["variants"]> {
  const { path } = builder;
  const separateSource = await scratchCopy(ctx.subject, ctx.work, `${path}-separate`);
  await clearBuilds(ctx, builder);
  const cpu = await builder.build(`${path}: separately: cpu, --no-cache`, ["cpu"], separateSource, `iopaint-bench-${path}-separate`, true);
  await clearBuilds(ctx, builder);
  const gpu = await builder.build(`${path}: separately: gpu, --no-cache`, ["gpu"], separateSource, `iopaint-bench-${path}-separate`, true);
  const togetherSource = await scratchCopy(ctx.subject, ctx.work, `${path}-together`);
  await clearBuilds(ctx, builder);
  const together = await builder.build(`${path}: together: cpu + gpu, --no-cache`, ["cpu", "gpu"], togetherSource, `iopaint-bench-${path}-together`, true);
  await clearBuilds(ctx, builder);
  return {
    separate: { cpu: cpu.samples.cpu, gpu: gpu.samples.gpu },
    together: { cpu: together.samples.cpu, gpu: together.samples.gpu, seconds: together.seconds, frontendBuilds: together.frontendBuilds },
  };
}

/** 6. The context BuildKit sends for the same padded checkout, with our ignore rules and without them. */
export async function measureContext(ctx: PhaseContext): Promise<Figures["context"]> {
  const measure = async (name: string, cwd: string, label: string): Promise<{ sample: BuildSample; padding: number }> => {
    const source = await scratchCopy(ctx.subject, ctx.work, name);
    const padding = await pad(source, ctx.paddingBytes);
    const cpu = resolveTargets(ctx.subject, ["cpu"], source, `iopaint-bench-${name}`).cpu;
    const sample = sampleOf(await build(ctx, label, cpu, cwd, false));
    ctx.log(`[bench]   ${label}: context ${formatBytes(sample.contextBytes)}`);
    return { sample, padding };
  };
  const withRules = await measure("context-rules", ctx.subject.dir, "padded copy, with the ignore rules");
  const withoutRules = await measure("context-bare", ctx.subject.withoutRulesDir, "padded copy, without ignore rules");
  return { paddingBytes: withRules.padding, withRules: withRules.sample.contextBytes, withoutRules: withoutRules.sample.contextBytes };
}

/**
 * 8. Readiness, on the newest engine (the start interval needs Docker 25+): the cpu image run
 * with --health-start-interval=1s, as docker/compose.yaml runs it; how long until the port
 * answers, and until Docker calls it healthy. Published ports answer inside the engine's
 * network namespace only, so the probe runs there.
 */
export async function measureReadiness(ctx: PhaseContext, current: BenchDocker, netns: string): Promise<Figures["readiness"]> {
  const source = await scratchCopy(ctx.subject, ctx.work, "readiness");
  const cpu = resolveTargets(ctx.subject, ["cpu"], source, "iopaint-bench-readiness").cpu;
  await build(ctx, "readiness: cpu on the newest engine", cpu, ctx.subject.dir, false, current);
  const samples: Figures["readiness"] = [];
  for (let i = 1; i <= ctx.repeats; i++) {
    const port = 18500 + i;
    const started = performance.now();
    const run = await current.run(["run", "-d", "--health-start-interval=1s", "-p", `127.0.0.1:${port}:8080`, cpu.tags[0]]);
    if (run.exitCode !== 0) throw new Error(`docker run ${cpu.tags[0]} failed: ${run.all.trim()}`);
    const container = run.stdout.trim();
    try {
      let portSeconds = Number.NaN;
      let healthySeconds = Number.NaN;
      while (Number.isNaN(healthySeconds) && performance.now() - started < 60_000) {
        if (Number.isNaN(portSeconds)) {
          const answer = await fetchInEngineNetwork(netns, `http://127.0.0.1:${port}/api/v1/model`, { timeoutMs: 1_000 }).catch(() => undefined);
          if (answer && answer.status < 400) portSeconds = (performance.now() - started) / 1000;
        }
        const health = await current.run(["inspect", "--format", "{{.State.Health.Status}}", container]);
        if (health.stdout.trim() === "healthy") healthySeconds = (performance.now() - started) / 1000;
        else await new Promise((resolve) => setTimeout(resolve, 100));
      }
      if (Number.isNaN(healthySeconds)) throw new Error(`the readiness container did not turn healthy within 60 s`);
      if (Number.isNaN(portSeconds)) portSeconds = healthySeconds;
      ctx.log(`[bench]   readiness (${i}/${ctx.repeats}): port answers after ${formatSeconds(portSeconds)}, healthy after ${formatSeconds(healthySeconds)}`);
      samples.push({ portSeconds, healthySeconds });
    } finally {
      await current.run(["rm", "--force", "--volumes", container]);
    }
  }
  return samples;
}

/**
 * 9. A new CI runner with an imported cache, on the newest engine through `docker buildx bake`
 * (the cache export needs buildx): the cpu image cold, exporting its cache to a directory
 * (IOPAINT_CACHE=local), which is saved, as a CI cache step saves it after a main-branch build.
 * Then, once per repeat, a new runner: the image removed, `docker builder prune -af`, the saved
 * directory restored, and the image built importing it, with nothing changed and after a .py
 * edit. Restoring the saved cache each time keeps the repeats alike: a cache re-exported from a
 * build that imported it lacks some of the results it did not need (docs/building.md). This
 * empties the current private engine's build cache, as a new runner starts without one.
 */
export async function measureColdRunner(ctx: PhaseContext, current: BenchDocker): Promise<Figures["coldRunner"]> {
  const source = await scratchCopy(ctx.subject, ctx.work, "cold-runner");
  const cacheDir = join(ctx.work, "runner-cache");
  const saved = join(ctx.work, "runner-cache-saved");
  const env = { IOPAINT_SRC: source, IOPAINT_IMAGE: "iopaint-bench-runner", IOPAINT_CACHE: "local", IOPAINT_CACHE_REF: cacheDir };
  const tag = resolveTargets(ctx.subject, ["cpu"], source, env.IOPAINT_IMAGE).cpu.tags[0];
  current.track(tag);
  const bake = async (label: string, noCache: boolean) =>
    sampleOf(
      await timed(
        ctx,
        current,
        label,
        bakeArgs({ file: join(ctx.subject.dir, OUTPUT_FILES.bake), targets: ["cpu"], noCache, allow: await bakeGrants(ctx, current, ["cpu"], env) }),
        ctx.subject.dir,
        env,
      ),
    );
  const newRunner = async () => {
    await current.run(["image", "rm", tag]);
    const pruned = await current.run(["builder", "prune", "--all", "--force"]);
    if (pruned.exitCode !== 0) throw new Error(`docker builder prune failed: ${pruned.all.trim()}`);
    await rm(cacheDir, { recursive: true, force: true });
    await cp(saved, cacheDir, { recursive: true });
  };
  const cold = await bake("cold runner: cpu, --no-cache, cache exported", true);
  await cp(cacheDir, saved, { recursive: true });
  const unchanged: BuildSample[] = [];
  const python: BuildSample[] = [];
  // Each .py edit is undone after its build, so that the saved cache matches the checkout again.
  const edited = join(source, EDITS.python.file);
  const original = await readFile(edited, "utf8");
  for (let i = 1; i <= ctx.repeats; i++) {
    await newRunner();
    unchanged.push(await bake(`new runner, cache imported, nothing changed (${i}/${ctx.repeats})`, false));
    await applyEdit(ctx.subject, source, "python", ctx.nonce(), i);
    await newRunner();
    python.push(await bake(`new runner, cache imported, one .py file changed (${i}/${ctx.repeats})`, false));
    await writeFile(edited, original);
  }
  return { cold, unchanged, python };
}

/** The SOURCE_DATE_EPOCH of the reproducibility phase: any fixed time does. */
const REPRODUCIBLE_EPOCH = "1700000000";

/**
 * 10. Reproducibility on the newest engine (BuildKit in Docker 28): each variant built cold twice
 * (--no-cache) to an OCI layout with SOURCE_DATE_EPOCH and rewrite-timestamp; the platform image's
 * manifest digest of the two builds must be one (docs/reproducible.md).
 */
export async function measureReproducible(ctx: PhaseContext, current: BenchDocker): Promise<Figures["reproducible"]> {
  const source = await scratchCopy(ctx.subject, ctx.work, "reproducible");
  const env = { IOPAINT_SRC: source, IOPAINT_IMAGE: "iopaint-bench-reproducible", SOURCE_DATE_EPOCH: REPRODUCIBLE_EPOCH };
  const result: Figures["reproducible"] = {};
  for (const variant of ["cpu", "gpu"]) {
    const digests: string[] = [];
    for (const run of [1, 2]) {
      const dest = join(ctx.work, `reproducible-${variant}-${run}`);
      const sets = [`${variant}.output=type=oci,dest=${dest},tar=false,rewrite-timestamp=true`];
      const argv = bakeArgs({
        file: join(ctx.subject.dir, OUTPUT_FILES.bake),
        targets: [variant],
        noCache: true,
        provenance: "false",
        sets,
        allow: await bakeGrants(ctx, current, [variant], env, sets),
      });
      await timed(ctx, current, `${variant}, --no-cache, OCI output with rewrite-timestamp (${run}/2)`, argv, ctx.subject.dir, env);
      const index = JSON.parse(await readFile(join(dest, "index.json"), "utf8")) as { manifests: { digest: string }[] };
      digests.push(index.manifests[0].digest);
    }
    result[variant] = { digests };
    ctx.log(`[bench]   ${variant}: ${digests[0] === digests[1] ? `the same digest twice (${digests[0].slice(0, 19)}…)` : `two digests: ${digests.join(" and ")}`}`);
  }
  return result;
}
