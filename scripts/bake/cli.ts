import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { availableParallelism, tmpdir } from "node:os";
import { join, relative, resolve } from "node:path";
import { resolveBake, type ResolvedTarget } from "../../generator/bake/resolve.ts";
import { OUTPUT_FILES } from "../../generator/compile.ts";
import { fail, formatProblem, ProblemsError } from "../../generator/errors.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { lockStatus } from "../../generator/lock-status.ts";
import { compileConfigOption, DEFAULT_CONFIG, generatedFilesDir, lockCommand, REPO_ROOT } from "../../generator/repo.ts";
import { parseCommandLine, runCli } from "../../generator/run-cli.ts";
import { VARIABLES, variantsByTarget, type PlannedVariant } from "../../generator/plan.ts";
import { staleOutputs, writeOutputs } from "../../generator/write.ts";
import { applyOverrides, bakeArgs, dockerBuildArgs } from "../docker/build-args.ts";
import { withoutCredentials } from "../docker/proxy.ts";
import { daemonVersion, findDocker, HOST_PLATFORM, MIN_BUILDX, type DockerTools, type Preference } from "../docker/discovery.ts";
import { cancelOnSignals, exitCodeUnlessInterrupted } from "../docker/cancel.ts";
import { Interrupted, type Docker } from "../docker/docker.ts";
import { linePrefixer, runBounded } from "../docker/parallel.ts";
import { measureImage, type ImageSizes } from "../docker/image-sizes.ts";
import { openLayerMeasures, type LayerMeasuresFile } from "../docker/layer-measures-file.ts";
import { type ContextImages, contextImagesOfOutputs, withContextImages } from "../docker/context-images.ts";
import { lastCommitTime } from "../engine/host.ts";
import { checkoutProblems, networkSettings, offlineProblems, provenanceCredentialWarnings } from "./preflight.ts";
import {
  describeBuilder,
  multiNodeCacheWarnings,
  nodeProblems,
  platformProblems,
  progressMode,
  PROGRESS_MODES,
  storageDecisions,
  variableProblems,
  type ImageStore,
  type ProgressRequest,
} from "./decisions.ts";
import { prepareGrants } from "./grants.ts";
import { inspectBuilder, type Builder } from "../docker/builder.ts";
import { failedRecordReports, recordReport } from "../docker/build-history.ts";
import { explainFailure, lostNodes, type FailureExplanation } from "./failure.ts";
import { parseProgress, reportOf, type BuildReport } from "./progress.ts";
import { formatSummary, toJson, type TargetResult } from "./summary.ts";

const HELP = `Usage: npm run bake -- [TARGET|GROUP ...] [options]

Checks everything first, builds with docker buildx bake (or, without buildx ${MIN_BUILDX}+, with one
BuildKit docker build per target), then prints each image's ID, size against its budget, tags,
build time and cached steps. With no target it builds the "default" group (cpu).

Options:
  --version X          tag <image>:<target>-X beside -latest (sets IOPAINT_VERSION)
  --source DIR         the IOPaint checkout to build (sets IOPAINT_SRC)
  --push               push the images (buildx, or docker push after each fallback build)
  --load               load the images into docker (buildx; the fallback always loads)
  --platform P         build for platform P (e.g. linux/arm64)
  --no-cache           build every step again
  --pull               pull newer base images first
  --set T.K=V          override a target attribute, as buildx bake --set (repeatable)
  --progress MODE      auto (default): buildx's tty display in a terminal, plain text in CI (CI set)
                       or when stderr is not a terminal; or plain, tty
  --print, --dry-run   show the resolved targets and build nothing (needs no daemon, no checkout; writes no file)
  --offline            build only from local images and cache: no pulls; a missing base image is named first
  --json               summary as JSON on stdout; everything else goes to stderr
  --sizes              where each image's size is (base, system packages, virtualenv and its
                       largest packages, app), unpacked and compressed; shown anyway when over budget
  --budget fail|warn   an image over its size_budget fails the run (default) or only warns
  --engine auto|buildx|docker-build   force a build path (default: auto)
  --builder NAME       build on that buildx builder (sets BUILDX_BUILDER): docker-container, remote,
                       kubernetes or cloud; the preflight names its driver, nodes and platforms
  --ca-cert FILE       extra CA certificates (PEM) that npm, pip and apt trust during the build, as
                       behind a TLS-inspecting proxy; a BuildKit secret, in no layer (sets IOPAINT_CA_CERT)
  --config FILE        the config (default ${DEFAULT_CONFIG})
  --out DIR            where the config's files are generated (default: the repository for the
                       main config, .cache/configs/<name>/ for any other)
  -h, --help           this text

Environment: IOPAINT_* (the bake file's variables, e.g. IOPAINT_NPM_REGISTRY, IOPAINT_DEBIAN_MIRROR);
  HTTP_PROXY, HTTPS_PROXY, NO_PROXY (and lower-case forms) are passed to the build's network steps
  as BuildKit's predefined build args, which no image layer or config keeps.

Exit codes: ${ExitCode.ok} built, ${ExitCode.failed} a build step failed, ${ExitCode.badInput} invalid config or usage (unknown target),
            ${ExitCode.environment} environment (docker, daemon, buildx, checkout; a registry that is unreachable or refuses
              the push; no emulator for a platform), ${ExitCode.overBudget} an image is over its size budget,
            ${ExitCode.interrupted} interrupted (Ctrl-C), ${ExitCode.internal} internal error.`;

type Env = Record<string, string | undefined>;

/** Fires on Ctrl-C or SIGTERM: the running docker command is cancelled. */
const cancelled = cancelOnSignals("stopping the build");

/** The command line, parsed and checked. */
type Options = ReturnType<typeof parseOptions>;

function parseOptions(argv: string[]) {
  const parsed = parseCommandLine(
    {
      args: argv,
      allowPositionals: true,
      options: {
        version: { type: "string" },
        source: { type: "string" },
        push: { type: "boolean" },
        load: { type: "boolean" },
        platform: { type: "string" },
        "no-cache": { type: "boolean" },
        pull: { type: "boolean" },
        set: { type: "string", multiple: true },
        progress: { type: "string" },
        print: { type: "boolean" },
        "dry-run": { type: "boolean" },
        offline: { type: "boolean" },
        json: { type: "boolean" },
        sizes: { type: "boolean" },
        budget: { type: "string" },
        engine: { type: "string" },
        builder: { type: "string" },
        "ca-cert": { type: "string" },
        config: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    "see npm run bake -- --help",
  );
  const options = parsed.values;
  const budgetMode = options.budget ?? "fail";
  const engine = options.engine ?? "auto";
  const progress = options.progress ?? "auto";
  if (!["fail", "warn"].includes(budgetMode)) fail({ kind: "usage", message: `--budget must be fail or warn, not ${budgetMode}` });
  if (!["auto", "buildx", "docker-build"].includes(engine)) fail({ kind: "usage", message: `--engine must be auto, buildx or docker-build, not ${engine}` });
  if (!(PROGRESS_MODES as readonly string[]).includes(progress)) fail({ kind: "usage", message: `--progress must be ${PROGRESS_MODES.join(", ")}, not ${progress}` });
  if (options.offline && options.pull) fail({ kind: "usage", message: "--offline and --pull contradict each other" });
  return { ...options, positionals: parsed.positionals, budgetMode, engine: engine as Preference, progress: progress as ProgressRequest };
}

const say = (line: string) => process.stderr.write(`${line}\n`);

/** What the config and the command line ask for, before any docker command: the one value the later phases extend. */
interface ResolvedBuild {
  options: Options;
  isMainConfig: boolean;
  /** Where the generated files are and bake runs. */
  outDir: string;
  compiled: Awaited<ReturnType<typeof compileConfigOption>>;
  /** The environment bake sees: the process's, with the command line's variables. */
  env: Env;
  /** --set overrides, the proxies' build args among them. */
  sets: string[];
  proxies: Record<string, string>;
  targets: Record<string, ResolvedTarget>;
  variantOf: Record<string, PlannedVariant>;
  /** The checkout each variant builds from. */
  contextOfVariant: Map<string, string>;
}

/** And what the machine offers: the build path, its docker, the builder and its image store, the grants buildx needs, the progress shown. */
interface PreparedBuild extends ResolvedBuild {
  tools: DockerTools;
  docker: Docker;
  /** The buildx builder (undefined for the fallback, or when buildx did not say). */
  builder?: Builder;
  store: ImageStore;
  /** `--allow` entitlements for bake (buildx 0.17+). */
  grants: string[];
  progress: "plain" | "tty";
}

async function main(argv: string[]): Promise<number> {
  const options = parseOptions(argv);
  if (options.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const build = await resolveBuild(options);
  if (options.print || options["dry-run"]) return printTargets(build);
  const prepared = await preflight(build);
  const results = prepared.tools.mode === "buildx" ? await buildWithBake(prepared) : await buildWithFallback(prepared);
  return typeof results === "number" ? results : report(prepared, results);
}

/** 1. Resolve: the config compiled, the variables checked, the targets as bake resolves them. */
async function resolveBuild(options: Options): Promise<ResolvedBuild> {
  // The main config's files in the repository, any other config's in a directory of its own, so
  // that it never overwrites the committed files.
  const { isMainConfig, outDir } = generatedFilesDir(options.config, options.out);
  const compiled = await compileConfigOption(options.config, outDir);
  for (const warning of compiled.warnings) say(`warning: ${formatProblem(warning)}`);

  const env: Env = { ...process.env };
  if (options.version !== undefined) env[VARIABLES.version] = options.version;
  if (options.source !== undefined) env[VARIABLES.source] = resolve(options.source);
  if (options["ca-cert"] !== undefined) env[VARIABLES.caCert] = resolve(options["ca-cert"]);
  if (options.builder !== undefined) env.BUILDX_BUILDER = options.builder;
  const unknownValues = variableProblems(compiled.plan.variables, env);
  if (unknownValues.length) throw new ProblemsError(unknownValues);
  const { proxies, proxySets } = networkSettings(env);
  const sets = [...(options.set ?? []), ...proxySets];
  const targets = applyOverrides(resolveBake(compiled.outputs[OUTPUT_FILES.bake], options.positionals, env).target, sets, options.platform);
  const variantOf = variantsByTarget(compiled.plan);
  const contextOfVariant = new Map(Object.entries(targets).map(([name, t]) => [variantOf[name].name, resolve(outDir, t.context)]));
  return { options, isMainConfig, outDir, compiled, env, sets, proxies, targets, variantOf, contextOfVariant };
}

/** --print: like `docker buildx bake --print`, from the config alone (no daemon, no checkout, no file written). */
async function printTargets({ options, env, targets, outDir, compiled }: ResolvedBuild): Promise<number> {
  const tools = await findDocker(env, options.engine).then(
    (found) => found.tools,
    () => undefined,
  );
  // The context images the fallback would build, named from the files generate writes (none is written here).
  const commands =
    tools?.mode === "docker-build"
      ? Object.fromEntries(
          Object.entries(targets).map(([name, t]) => [name, [tools.client, ...dockerBuildArgs(t, outDir, { contextImages: contextImagesOfOutputs(t, outDir, compiled.outputs) }).argv]]),
        )
      : undefined;
  console.log(JSON.stringify({ mode: tools?.mode ?? "unknown (no docker client found)", target: targets, ...(commands ? { commands } : {}) }, null, 2));
  return ExitCode.ok;
}

/** 2. Preflight: generated files current, the checkout and locks, then docker, the builder and what it can do. Throws the problems that stop the build. */
async function preflight(build: ResolvedBuild): Promise<PreparedBuild> {
  const { options, outDir, compiled, env, targets, variantOf, contextOfVariant } = build;
  const { loaded, plan, outputs } = compiled;
  const stale = await staleOutputs(outDir, outputs);
  if (stale.length) {
    await writeOutputs(outDir, outputs);
    const where = outDir === REPO_ROOT ? " (commit them)" : ` in ${shownPath(outDir)}`;
    say(`regenerated ${stale.map((s) => s.file).join(", ")}${where}: they did not match ${loaded.file}`);
  } else if (!build.isMainConfig && options.out === undefined) {
    say(`using the files generated from ${loaded.file} in ${shownPath(outDir)}`);
  }

  const problems = checkoutProblems(targets, plan, (t) => resolve(outDir, t.context));
  if (problems.length) throw new ProblemsError(problems);
  // Each variant's lock must still match the pins; an unlocked one, or one that requirements.txt moved past, gets a notice.
  const locks = lockStatus(plan, contextOfVariant.keys(), (variant) => readFileSync(join(contextOfVariant.get(variant)!, plan.dockerfile.requirements)), lockCommand(options.config), true);
  if (locks.problems.length) throw new ProblemsError(locks.problems);
  for (const notice of locks.notices) say(`note: ${notice}`);
  const { tools, docker } = await findDocker(env, options.engine);
  if (tools.mode === "docker-build" && env.BUILDX_BUILDER)
    fail({
      kind: "environment",
      message: `the builder ${env.BUILDX_BUILDER} (${options.builder !== undefined ? "--builder" : "BUILDX_BUILDER"}) needs buildx: the docker build fallback builds only with the daemon's own BuildKit`,
      hint: `install buildx ${MIN_BUILDX}+ (Debian/Ubuntu: docker-buildx), or build on the daemon${options.builder !== undefined ? " without --builder" : ": unset BUILDX_BUILDER"}`,
    });
  if (tools.mode === "docker-build") {
    say(`${tools.reason}: falling back to one BuildKit \`docker build\` per target with ${tools.client} (Docker ${tools.clientVersion}).`);
    say("  The fallback builds one platform per image, exports no cache (cache-from/cache-to are ignored) and attaches no provenance attestation.");
  }
  if (Object.keys(build.proxies).length)
    say(
      `proxy for the build's network steps (not stored in the images): ${Object.entries(build.proxies)
        .map(([name, value]) => `${name}=${withoutCredentials(value)}`)
        .join(", ")}`,
    );
  if (tools.mode === "buildx") for (const warning of provenanceCredentialWarnings(targets)) say(`warning: ${warning}`);
  const server = await daemonVersion(docker);
  say(`docker ${tools.clientVersion} (${tools.mode === "buildx" ? `buildx ${tools.buildxVersion}` : "no buildx"}), daemon ${server}; targets: ${Object.keys(targets).join(", ")}`);
  const progress = progressMode(options.progress, { terminal: Boolean(process.stderr.isTTY), env, fallback: tools.mode === "docker-build" });
  if (progress.note) say(`note: ${progress.note}`);
  const store = await docker.imageStore();
  const { grants, builder } = tools.mode === "buildx" ? await builderPreflight(build, tools, docker, store) : { grants: [], builder: undefined };
  const gpuTargets = Object.keys(targets).filter((name) => variantOf[name].device === "cuda");
  if (gpuTargets.length && !(await docker.hasNvidiaRuntime())) {
    say(`note: ${gpuTargets.join(", ")} build here, but running them on a GPU needs the NVIDIA Container Toolkit, which this daemon lacks (docker info lists no nvidia runtime).`);
  }
  if (tools.mode === "docker-build") {
    if ((targets[Object.keys(targets)[0]].platforms ?? []).length > 1)
      fail({ kind: "environment", message: "multi-platform builds need buildx", hint: "pass --platform P for one platform, or install buildx" });
    for (const [name, target] of Object.entries(targets)) for (const ignored of dockerBuildArgs(target, outDir).unsupported) say(`warning: ${name}: ${ignored} needs buildx; ignored`);
  }
  if (options.offline) {
    const offline = await offlineProblems(targets, docker);
    if (offline.length) throw new ProblemsError(offline);
  }

  // The image's timestamps (created, history, and the files' with rewrite-timestamp) from the
  // checkout's last commit, so that the same commit gives the same image; buildx passes the
  // variable to BuildKit as the SOURCE_DATE_EPOCH build arg. The environment's own value wins.
  if (tools.mode === "buildx" && !env.SOURCE_DATE_EPOCH) {
    const epoch = await lastCommitTime(contextOfVariant.values().next().value!);
    if (epoch) {
      env.SOURCE_DATE_EPOCH = epoch;
      say(`SOURCE_DATE_EPOCH=${epoch} (${new Date(Number(epoch) * 1000).toISOString()}, the checkout's last commit): the images' timestamps`);
    }
  }
  return { ...build, tools, docker, builder, store, grants, progress: progress.mode };
}

/**
 * The buildx builder's part of the preflight: which builder and driver, whether it can store
 * provenance and export a cache and run every platform, and the filesystem grants bake needs.
 */
async function builderPreflight({ targets, outDir, env }: ResolvedBuild, tools: DockerTools, docker: Docker, store: ImageStore): Promise<{ grants: string[]; builder?: Builder }> {
  const { builder, error } = await inspectBuilder(docker, env);
  // A builder asked for by name must exist; buildx's current one failing to inspect is left to the build.
  if (error && env.BUILDX_BUILDER) fail({ kind: "environment", message: `the builder ${env.BUILDX_BUILDER}: ${error}`, hint: "docker buildx ls lists the builders; docker buildx create makes one" });
  if (builder) for (const line of describeBuilder(builder, store)) say(line);
  const storage = storageDecisions(targets, builder, store);
  const problems = [...nodeProblems(builder), ...platformProblems(targets, builder), ...storage.problems];
  if (problems.length) throw new ProblemsError(problems);
  for (const note of storage.notes) say(`note: ${note}`);
  // buildx 0.20+ refuses to read or write a local path outside the directory bake runs in
  // unless granted: grant exactly the ones these targets use.
  const grants = prepareGrants(targets, outDir, tools.buildxVersion!);
  if (grants.length) say(`granting buildx ${grants.map((g) => `--allow=${g}`).join(" ")} (paths outside ${shownPath(outDir)}, where bake runs)`);
  for (const warning of multiNodeCacheWarnings(targets, builder)) say(`warning: ${warning}`);
  return { grants, builder };
}

function sizingOf({ docker, store, options }: PreparedBuild): Sizing {
  return { docker, store, always: options.sizes ?? false, signal: cancelled };
}

/**
 * 3a. Build with one `docker buildx bake` for every target; an exit code when it failed. Each
 * target's steps come from buildx's record of its build (the metadata file names it), else from
 * the plain progress (buildx before 0.20); with tty progress on such a buildx, none are counted.
 */
async function buildWithBake(build: PreparedBuild): Promise<TargetResult[] | number> {
  const { options, outDir, env, targets, variantOf, docker } = build;
  const scratch = await mkdtemp(join(tmpdir(), "iopaint-bake-"));
  try {
    const metadataFile = join(scratch, "metadata.json");
    const argv = bakeArgs({
      file: join(outDir, OUTPUT_FILES.bake),
      targets: Object.keys(targets),
      allow: build.grants,
      progress: build.progress,
      metadataFile,
      noCache: options["no-cache"],
      pull: options.pull,
      push: options.push,
      load: options.load,
      sets: build.sets,
      platform: options.platform,
    });
    const started = new Date(Date.now() - 2000);
    const result = await docker.stream(argv, { cwd: outDir, env, signal: cancelled, terminal: build.progress === "tty" });
    if (result.code !== 0) {
      // On a terminal nothing was kept, and a failed bake writes no metadata file: its records are
      // the failed ones since it started (`started` has a margin for a builder whose clock is behind).
      // A node of a builder on other machines that no longer answers is the failure's cause.
      const lost = build.builder && build.builder.driver !== "docker" ? lostNodes((await inspectBuilder(docker, env)).builder) : undefined;
      if (lost) return reportFailure(lost);
      const records = build.progress === "tty" ? await failedRecordReports(docker, started, build.builder?.name, { env }) : [];
      return buildFailed(result, platformsOf(targets), records);
    }
    const metadata = JSON.parse(await readFile(metadataFile, "utf8").catch(() => "{}")) as BakeMetadata;
    const names = Object.keys(targets);
    const refs = names.map((name) => metadata[name]?.["buildx.build.ref"]);
    const recorded = await Promise.all(refs.map((ref) => (ref ? recordReport(docker, ref, { env }) : undefined)));
    // Without records, one plain text for all targets: each target counts its own steps (and the shared ones it uses).
    const whole = build.progress === "plain" ? parseProgress(result.output, names) : undefined;
    const reportFor = (name: string, i: number) => recorded[i] ?? (whole && names.length > 1 ? reportOf(whole, name) : whole);
    const sizing = sizingOf(build);
    const results: TargetResult[] = [];
    for (const [i, name] of names.entries()) results.push(await describe(name, targets[name], variantOf[name], result.seconds, reportFor(name, i), sizing, metadata[name]));
    await keepMeasures(sizing);
    return results;
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

/**
 * 3b. The fallback: independent targets build at the same time, as bake would, up to one per
 * core; one BuildKit runs them, so a step they share (the front end) runs once. The first
 * failure stops the rest.
 */
async function buildWithFallback(build: PreparedBuild): Promise<TargetResult[] | number> {
  const { options, outDir, env, targets, variantOf, docker, tools } = build;
  const names = Object.keys(targets);
  const atOnce = Math.min(names.length, availableParallelism());
  if (names.length > 1) say(`building ${names.length} targets, ${atOnce} at a time; each line of their output starts with its target`);
  const firstFailure = new AbortController();
  const signal = AbortSignal.any([cancelled, firstFailure.signal]);
  type Outcome = { result: TargetResult } | { failure: { output: string } } | { stopped: true };
  const sizing = sizingOf(build);
  const buildOne = async (name: string, imagesOf: (target: ResolvedTarget) => ContextImages): Promise<Outcome> => {
    const target = targets[name];
    const { argv } = dockerBuildArgs(target, outDir, { progress: build.progress, noCache: options["no-cache"], pull: options.pull, contextImages: imagesOf(target) });
    say(`\n== ${name}: ${tools.client} ${argv.slice(0, 2).join(" ")} … (${target.tags.join(", ")})`);
    const lines = linePrefixer(names.length > 1 ? `[${name}] ` : "", (text) => process.stderr.write(text));
    const step = async (args: string[]) => {
      try {
        return await docker.stream(args, { cwd: outDir, env, signal, onOutput: lines.push });
      } catch (error) {
        if (error instanceof Interrupted && !cancelled.aborted) return undefined; // another target failed
        throw error;
      } finally {
        lines.flush();
      }
    };
    const failed = (failure: { output: string }): Outcome => {
      firstFailure.abort();
      return { failure };
    };
    const built = await step(argv);
    if (!built) return { stopped: true };
    if (built.code !== 0) return failed(built);
    for (const tag of options.push ? target.tags : []) {
      const pushed = await step(["push", tag]);
      if (!pushed) return { stopped: true };
      if (pushed.code !== 0) return failed(pushed);
    }
    return { result: await describe(name, target, variantOf[name], built.seconds, parseProgress(built.output), sizing) };
  };
  // Docker 20.10's docker build has no named contexts: they reach it as local images, for this run only.
  const outcomes = await withContextImages(docker, Object.values(targets), outDir, signal, (imagesOf) =>
    runBounded(
      names.map((name) => () => buildOne(name, imagesOf)),
      atOnce,
    ),
  );
  await keepMeasures(sizing);
  for (const outcome of outcomes) if ("failure" in outcome) return buildFailed(outcome.failure, platformsOf(targets));
  return outcomes.flatMap((outcome) => ("result" in outcome ? [outcome.result] : []));
}

/** 4. Report: the summary table (and JSON), and the budget's verdict as the exit code. */
function report({ options, tools }: PreparedBuild, results: TargetResult[]): number {
  const ok = !results.some((r) => r.overBudget) || options.budgetMode === "warn";
  say("");
  say(formatSummary(results, tools.mode === "buildx" ? `docker buildx bake (buildx ${tools.buildxVersion})` : `docker build fallback (${tools.client})`, options.sizes));
  if (options.json) console.log(toJson(results, tools.mode, ok));
  if (results.some((r) => r.overBudget)) {
    say(
      ok
        ? "warning: over budget, accepted because of --budget warn"
        : "error: an image is over its size budget\n  hint: make the image smaller, raise size_budget in the config, or pass --budget warn to accept it this once",
    );
  }
  return ok ? ExitCode.ok : ExitCode.overBudget;
}

/** Every platform the targets build for (none listed: the builder's own). */
function platformsOf(targets: Record<string, ResolvedTarget>): string[] {
  return Object.values(targets).flatMap((t) => t.platforms ?? []);
}

/** A directory as the user would type it: relative below the working directory, else absolute. */
function shownPath(dir: string): string {
  const rel = relative(process.cwd(), dir);
  return rel === "" ? "." : rel.startsWith("..") ? dir : rel;
}

/** What `--metadata-file` holds for one target (buildx writes one object per target). */
interface TargetMetadata {
  "containerimage.config.digest"?: string;
  /** builder/node/record: the build's record in buildx's history (buildx 0.20+). */
  "buildx.build.ref"?: string;
}
type BakeMetadata = Record<string, TargetMetadata | undefined>;

/** The layers measured on this machine, by blob digest (git-ignored, as all of .cache/). */
const LAYER_MEASURES_FILE = join(REPO_ROOT, ".cache/layer-measures.json");

/** What sizing each built image needs: the daemon's own figure where it is the budget's measure, else one `docker save` (measureImage). */
interface Sizing {
  docker: Docker;
  store: ImageStore;
  /** --sizes: measure every image, whatever its budget. */
  always: boolean;
  signal: AbortSignal;
  /** The layers measured on this machine: read at the run's first measure, shared by its targets (the fallback sizes them at once). */
  known?: Promise<LayerMeasuresFile>;
}

/** One `docker save` of the target's image, unpacking only the layers no earlier run on this machine measured. */
async function measure(sizing: Sizing, target: ResolvedTarget): Promise<ImageSizes> {
  sizing.known ??= openLayerMeasures(LAYER_MEASURES_FILE);
  return measureImage(sizing.docker, target.tags[0], target.args.BASE_IMAGE, sizing.signal, await sizing.known);
}

/** Keeps what the run's targets measured for the next run: one write, after every target is sized. */
async function keepMeasures(sizing: Sizing): Promise<void> {
  await (await sizing.known)?.save();
}

async function describe(
  name: string,
  target: ResolvedTarget,
  variant: PlannedVariant,
  seconds: number,
  report: BuildReport | undefined,
  sizing: Sizing,
  metadata?: TargetMetadata,
): Promise<TargetResult> {
  const image = target.tags.length ? await sizing.docker.inspectImage(target.tags[0]) : undefined;
  const budget = { bytes: variant.sizeBudgetBytes, text: variant.sizeBudget, measure: variant.sizeBudgetMeasure };
  // inspect's Size is the compressed content on the containerd store, the unpacked layers on a
  // graph driver: usable as it is only where that is the budget's measure and under the budget.
  // Else one `docker save` measures both, and over budget it also says where the size is.
  const inspected = sizing.store === "containerd" ? "compressed" : "unpacked";
  const quick = image && inspected === budget.measure ? image.size : undefined;
  const sizes = image && (sizing.always || quick === undefined || quick > budget.bytes) ? await measure(sizing, target) : undefined;
  const size = sizes ? sizes[budget.measure] : quick;
  const overBudget = size !== undefined && size > budget.bytes;
  return {
    target: name,
    variant: variant.name,
    // buildx's own word on the image it made, where it gave one (a --push build loads nothing to inspect).
    imageId: metadata?.["containerimage.config.digest"] ?? image?.id,
    size,
    ...(sizes ? { sizes } : {}),
    tags: target.tags,
    seconds,
    ...(report ? { steps: { total: report.total, cached: report.cached, executed: report.executed } } : {}),
    budget,
    overBudget,
  };
}

function buildFailed(result: { output: string }, platforms: string[], records: BuildReport[] = []): number {
  const failure = explainFailure(
    result.output,
    [...new Set(platforms)].filter((p) => !p.startsWith(HOST_PLATFORM)),
    records,
  );
  return reportFailure(failure);
}

function reportFailure(failure: FailureExplanation): number {
  say("");
  say(`error: ${failure.message}`);
  if (failure.hint) say(`  hint: ${failure.hint}`);
  return failure.exitCode;
}

await runCli((argv) => exitCodeUnlessInterrupted(cancelled, () => main(argv)), process.argv.slice(2));
