// npm run bench: issues 5, 14 and 25's figures, measured in one run on the fixture (or, with --real,
// on IOPaint's real packages) through real engines on both build paths, printed as one Markdown
// table (or JSON) and written to a JSON file with the Markdown beside it.
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fail } from "../../generator/errors.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { REPO_ROOT } from "../../generator/repo.ts";
import { parseCommandLine, runCli } from "../../generator/run-cli.ts";
import { ensureStandInBaseImages } from "../engine/base-images.ts";
import { ensureEngine } from "../engine/private-engine.ts";
import { timeCompile, timeGenerate } from "./compiler.ts";
import { Interrupted } from "../docker/docker.ts";
import { BenchDocker, BuildFailed } from "./docker.ts";
import { BUILD_PATHS, type BuildPath, type Figures, type ImageSample, type PathFigures } from "./figures.ts";
import { formatBytes, formatMs, formatSeconds, median } from "./format.ts";
import { evaluate } from "./goals.ts";
import { describeHost } from "./machine.ts";
import {
  buildxBuilder,
  coldImage,
  fallbackBuilder,
  measureBaseline,
  measureCold,
  measureColdRunner,
  measureContext,
  measureReadiness,
  measureRebuilds,
  measureReproducible,
  measureVariants,
  type PhaseContext,
} from "./phases.ts";
import { prepareRealSubject, REAL_MAX_REPEATS, type RealSubject } from "./real.ts";
import { jsonReport, makeReport, markdownReport } from "./report.ts";
import { fixtureSubject } from "./subject.ts";

const DEFAULT_OUT = { fixture: ".cache/bench/latest.json", real: ".cache/bench/real.json" };

/** The private engine each build path runs on (scripts/engine/private-engine.ts). */
const ENGINE_OF: Record<BuildPath, "newest" | "legacy"> = { buildx: "newest", fallback: "legacy" };

async function buildCacheBytes(dockers: Partial<Record<BuildPath, BenchDocker>>): Promise<Partial<Record<BuildPath, number>>> {
  const bytes: Partial<Record<BuildPath, number>> = {};
  for (const [path, docker] of Object.entries(dockers) as [BuildPath, BenchDocker][]) bytes[path] = await docker.buildCacheBytes();
  return bytes;
}

const HELP = `Usage: npm run bench -- [options]

Measures, in one run on the bundled fixture app and through real engines (the private ones,
started or reused), how our generated build compares with the old single-stage way, on both
build paths: buildx (\`docker buildx bake\` on Docker 28) and the fallback (one \`docker build\`
per target on Docker 20.10, several at once):
  1. the old way (scripts/bench/baseline.Dockerfile), --no-cache (fallback engine)
  2. ours from the generated files, cold (--no-cache), on each path, with pip and with uv
     (python.installer)
  3. warm rebuilds on each path: nothing changed, a .py file, a web_app/ file, requirements.txt
  4. cpu + gpu in one invocation vs one after the other, on each path
  5. runtime image size vs the old way's (fallback engine)
  6. build context with the ignore rules vs without, on a checkout padded with ~100 MB (fallback)
  7. npm run generate and the in-process compile
  8. readiness (buildx engine): healthy after the port opens
  9. a new CI runner (buildx): cache exported, builder emptied, cache imported
  10. reproducibility (buildx): each variant built cold twice, digests compared; this empties
     that engine's build cache
then prints one Markdown table with a column per path (figure, ratio, goal, met?), medians with
their spread. A goal not met is shown as not met; the exit code does not depend on goals.

With --real, phases 2 to 4 and 7 build IOPaint 1.6.0's real packages instead, as the
real-packages test does (npm test's real-iopaint): its Python side from PyPI, config/iopaint.toml
with the stand-in bases and torch from PyPI, locked with npm run lock (once; the config and locks
are kept in .cache/bench/real/). Builds reach PyPI, the Debian mirror and the CA this machine's pip
and apt use through a proxy in each engine's namespace. Each cold build starts from an engine
holding only the download caches, filled by one build per installer first (not counted); each
requirements.txt rebuild adds one small package. About 45 GB of free disk; one path with one
repeat took 66 min on 2 cores.

Options:
  --real          measure IOPaint's real packages (phases 2 to 4 and 7; default 3 repeats, at most ${REAL_MAX_REPEATS})
  --path P        measure one build path only: buildx or fallback (default: both)
  --json          the report as JSON on stdout (progress stays on stderr)
  --quick         a smoke of every phase: no repeats, 8 MB of padding, fewer compiler runs
  --repeats N     cold builds and each rebuild N times, medians reported (default 5; --real 3; --quick 1)
  --out FILE      where the JSON goes (default ${DEFAULT_OUT.fixture}, --real ${DEFAULT_OUT.real}); the Markdown beside it (.md)
  --verbose       stream BuildKit's output to stderr
  --keep-images   keep the images the bench tagged (iopaint-bench-*) instead of removing them
  -h, --help      this text

The images it tags are removed at the end; the BuildKit cache it fills stays (reported per engine)
for the next run or \`docker builder prune\`.

Environment: IOPAINT_ENGINE_DIR chooses the state root of the private engines it uses (as for npm test).

Exit codes: ${ExitCode.ok} measured, ${ExitCode.failed} a build failed, ${ExitCode.badInput} bad option, ${ExitCode.environment} environment (engine, host apt),
            ${ExitCode.interrupted} interrupted, ${ExitCode.internal} internal error.`;

const controller = new AbortController();

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    {
      args: argv,
      options: {
        json: { type: "boolean" },
        quick: { type: "boolean" },
        real: { type: "boolean" },
        repeats: { type: "string" },
        out: { type: "string" },
        verbose: { type: "boolean" },
        "keep-images": { type: "boolean" },
        path: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    "see npm run bench -- --help",
  );
  const options = parsed.values;
  if (options.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const quick = options.quick ?? false;
  const real = options.real ?? false;
  const repeats = options.repeats === undefined ? (quick ? 1 : real ? REAL_MAX_REPEATS : 5) : Number(options.repeats);
  const maxRepeats = real ? REAL_MAX_REPEATS : 50;
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > maxRepeats)
    fail({ kind: "usage", message: `--repeats must be a whole number from 1 to ${maxRepeats}${real ? " with --real (one added package each)" : ""}, not ${options.repeats}` });
  if (options.path !== undefined && !(BUILD_PATHS as readonly string[]).includes(options.path)) fail({ kind: "usage", message: `--path must be ${BUILD_PATHS.join(" or ")}, not ${options.path}` });
  const paths: BuildPath[] = options.path ? [options.path as BuildPath] : [...BUILD_PATHS];
  const outFile = resolve(options.out ?? join(REPO_ROOT, DEFAULT_OUT[real ? "real" : "fixture"]));
  const markdownFile = `${outFile.replace(/\.json$/, "")}.md`;
  const flags = [...(real ? ["--real"] : []), ...(quick ? ["--quick"] : []), ...(options.repeats ? ["--repeats", String(repeats)] : []), ...(options.path ? ["--path", options.path] : [])];
  const command = ["npm run bench", ...(flags.length ? ["--", ...flags] : [])].join(" ");
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const date = new Date().toISOString();
  const started = performance.now();

  // An engine that cannot start is an environment problem (a ProblemsError): runCli reports it, exit 3.
  const benchDocker = async (name: "legacy" | "newest") => {
    const engine = await ensureEngine(name, { log });
    await ensureStandInBaseImages(engine, { log });
    return new BenchDocker(engine, controller.signal, options.verbose ?? false);
  };
  const dockers: Partial<Record<BuildPath, BenchDocker>> = {};
  for (const path of paths) dockers[path] = await benchDocker(ENGINE_OF[path]);
  const cacheBefore = await buildCacheBytes(dockers);
  const work = await mkdtemp(join(tmpdir(), "iopaint-bench-"));
  const cacheDir = join(REPO_ROOT, ".cache/bench");
  await mkdir(cacheDir, { recursive: true });
  let count = 0;
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  let realSubject: RealSubject | undefined;
  try {
    if (real) realSubject = await prepareRealSubject(dockers, work, cacheDir, repeats, log);
    const ctx: PhaseContext = {
      docker: (dockers.fallback ?? dockers.buildx)!,
      subject: realSubject?.subject ?? (await fixtureSubject(join(work, "generated"))),
      work,
      cacheDir,
      repeats,
      paddingBytes: quick ? 8_000_000 : 100_000_000,
      log,
      nonce: () => `${runId}-${++count}`,
    };
    const machine = await describeHost(dockers);
    log(`[bench] ${command}: ${real ? "IOPaint's real packages" : "the fixture"}, ${paths.join(" and ")}, ${repeats === 1 ? "no repeats" : `${repeats} repeats`}, scratch copies in ${work}`);
    const proxies = realSubject?.proxies ?? {};
    const builders = paths.map((path) => (path === "buildx" ? buildxBuilder(ctx, dockers.buildx!, proxies.buildx) : fallbackBuilder(ctx, proxies.fallback)));
    const figures: Figures = { subject: { kind: ctx.subject.kind, added: ctx.subject.added }, paths: {}, compiler: { generateSeconds: [], compileMs: [] }, cacheBytes: {} };
    const skipped = (phase: string, path: BuildPath) =>
      log(real ? `[bench] ${phase} skipped: it measures the fixture (without --real)` : `[bench] ${phase} skipped: it runs on the ${path} path (--path ${paths[0]})`);
    // Phases 1, 5, 6 and 8 to 10 measure the fixture: the old way beside ours, its padded context, a container, a CI runner, digests.
    const fallback = real ? undefined : dockers.fallback;
    const current = real ? undefined : dockers.buildx;

    let baseline: ImageSample | undefined;
    if (fallback) {
      log("[bench] 1/10 the old way: one stage, build tools and Node in the image (scripts/bench/baseline.Dockerfile), --no-cache, on the fallback's engine");
      baseline = await measureBaseline(ctx);
    } else skipped("1/10 the old way", "fallback");
    const perPath: Partial<Record<BuildPath, Partial<PathFigures>>> = {};
    for (const builder of builders) {
      log(`[bench] 2/10 ${builder.path}: the cpu image from the generated files, cold (--no-cache), installed with pip and with uv`);
      const cold = await measureCold(ctx, builder);
      perPath[builder.path] = { cold: cold.pip, coldUv: cold.uv };
    }
    for (const builder of builders) {
      log(`[bench] 3/10 ${builder.path}: warm rebuilds after each kind of change`);
      perPath[builder.path]!.rebuilds = await measureRebuilds(ctx, builder);
    }
    for (const builder of builders) {
      log(`[bench] 4/10 ${builder.path}: cpu + gpu in one invocation, and one after the other, each --no-cache`);
      perPath[builder.path]!.variants = await measureVariants(ctx, builder);
      figures.paths[builder.path] = perPath[builder.path] as PathFigures;
    }
    if (fallback && baseline) {
      const oursBytes = await fallback.imageBytes(coldImage(ctx, "fallback"));
      log(`[bench] 5/10 image size: ours ${formatBytes(oursBytes)}, the old way ${formatBytes(baseline.imageBytes)}`);
      figures.size = { baseline, oursBytes };
      log(`[bench] 6/10 build context: a checkout padded with ${formatBytes(ctx.paddingBytes)} of .git, node_modules, venv and build output`);
      figures.context = await measureContext(ctx);
    } else {
      skipped("5/10 image size", "fallback");
      skipped("6/10 build context", "fallback");
    }
    const generateRuns = quick ? 2 : 7;
    const compileRuns = quick ? 5 : 31;
    log(`[bench] 7/10 compiler: npm run generate ×${generateRuns}, compile in process ×${compileRuns}`);
    const compileMs = await timeCompile(compileRuns);
    const generateSeconds = await timeGenerate(generateRuns, work, controller.signal);
    if (controller.signal.aborted) throw new Interrupted();
    figures.compiler = { generateSeconds, compileMs };
    log(`[bench]   npm run generate: ${formatSeconds(median(generateSeconds))}; compile: ${formatMs(median(compileMs))} (medians)`);
    if (current) {
      log("[bench] 8/10 readiness on the newest engine (Docker 28): the cpu image with a 1 s health start interval");
      figures.readiness = await measureReadiness(ctx, current, current.engine.netns);
      log("[bench] 9/10 a new CI runner on the newest engine: cache exported to a directory, builder emptied, cache imported (empties that engine's build cache)");
      figures.coldRunner = await measureColdRunner(ctx, current);
      log("[bench] 10/10 reproducibility on the newest engine: cpu and gpu each built cold twice to an OCI layout (SOURCE_DATE_EPOCH, rewrite-timestamp)");
      figures.reproducible = await measureReproducible(ctx, current);
    } else for (const phase of ["8/10 readiness", "9/10 a new CI runner", "10/10 reproducibility"]) skipped(phase, "buildx");
    const cacheAfter = await buildCacheBytes(dockers);
    for (const path of paths) figures.cacheBytes[ENGINE_OF[path]] = cacheAfter[path]! - cacheBefore[path]!;

    const report = makeReport({ date, command, quick, repeats, durationSeconds: (performance.now() - started) / 1000, machine, rows: evaluate(figures), figures });
    await mkdir(dirname(outFile), { recursive: true });
    await writeFile(outFile, jsonReport(report));
    await writeFile(markdownFile, markdownReport(report));
    log(`[bench] done in ${formatSeconds(report.durationSeconds)}; wrote ${outFile} and ${markdownFile}`);
    process.stdout.write(options.json ? jsonReport(report) : markdownReport(report));
    return ExitCode.ok;
  } catch (error) {
    if (error instanceof Interrupted || controller.signal.aborted) return ExitCode.interrupted;
    if (error instanceof BuildFailed) {
      log(`error: ${error.message}`);
      return ExitCode.failed;
    }
    throw error;
  } finally {
    await realSubject?.stop();
    await rm(work, { recursive: true, force: true });
    if (!options["keep-images"]) await Promise.all(Object.values(dockers).map((docker) => docker.removeTagged()));
  }
}

// Ctrl-C: cancel the running docker command, clean up (temp copies, tagged images), exit 130.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, () => {
    if (controller.signal.aborted) process.exit(ExitCode.interrupted);
    process.stderr.write(`\n[bench] interrupted (${signal}): stopping and cleaning up…\n`);
    controller.abort();
  });
}

await runCli(main, process.argv.slice(2));
