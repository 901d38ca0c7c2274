// npm run bench: issue 5's figures, measured in one run on the fixture through the real engine,
// printed as one Markdown table (or JSON) and written to a JSON file with the Markdown beside it.
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
import type { Figures } from "./figures.ts";
import { generateFixture } from "./fixture.ts";
import { formatBytes, formatMs, formatSeconds, median } from "./format.ts";
import { evaluate } from "./goals.ts";
import { describeHost } from "./machine.ts";
import { measureBaseline, measureCold, measureColdRunner, measureContext, measureReadiness, measureRebuilds, measureReproducible, measureVariants, type PhaseContext } from "./phases.ts";
import { jsonReport, makeReport, markdownReport } from "./report.ts";

const DEFAULT_OUT = ".cache/bench/latest.json";

const HELP = `Usage: npm run bench -- [options]

Measures, in one run on the bundled fixture app and through the real engine (the private one,
started or reused), how our generated build compares with the old single-stage way:
  1. the old way (scripts/bench/baseline.Dockerfile), --no-cache
  2. ours from the generated files, cold (--no-cache)
  3. warm rebuilds: nothing changed, a .py file, a web_app/ file, requirements.txt
  4. cpu + gpu in one invocation vs one after the other
  5. runtime image size vs the old way's
  6. build context with the ignore rules vs without, on a checkout padded with ~100 MB
  7. npm run generate and the in-process compile
  8. readiness on the current engine (Docker 26): healthy after the port opens
  9. a new CI runner on the current engine: cache exported, builder emptied, cache imported
  10. reproducibility on the current engine: each variant built cold twice, digests compared
     (nothing changed, and a .py change); this empties that engine's build cache
then prints one Markdown table (figure, ours, baseline, ratio, goal, met?). A goal not met is
shown as not met; the exit code does not depend on goals.

Options:
  --json          the report as JSON on stdout (progress stays on stderr)
  --quick         a smoke of every phase: no repeats, 8 MB of padding, fewer compiler runs
  --repeats N     cold builds and each rebuild N times, medians reported (default 5; --quick 1)
  --out FILE      where the JSON goes (default ${DEFAULT_OUT}); the Markdown goes beside it (.md)
  --verbose       stream BuildKit's output to stderr
  --keep-images   keep the images the bench tagged (iopaint-bench-*) instead of removing them
  -h, --help      this text

Environment: IOPAINT_ENGINE_DIR chooses the state root of the legacy private engine it uses (as for npm test).

Exit codes: ${ExitCode.ok} measured, ${ExitCode.failed} a build failed, ${ExitCode.badInput} bad option, ${ExitCode.environment} environment (engine, host apt),
            ${ExitCode.interrupted} interrupted, ${ExitCode.internal} internal error.`;

const controller = new AbortController();

async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine({
    args: argv,
    options: {
      json: { type: "boolean" },
      quick: { type: "boolean" },
      repeats: { type: "string" },
      out: { type: "string" },
      verbose: { type: "boolean" },
      "keep-images": { type: "boolean" },
      help: { type: "boolean", short: "h" },
    },
  }, "see npm run bench -- --help");
  const options = parsed.values;
  if (options.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const quick = options.quick ?? false;
  const repeats = options.repeats === undefined ? (quick ? 1 : 5) : Number(options.repeats);
  if (!Number.isInteger(repeats) || repeats < 1 || repeats > 50) fail({ kind: "usage", message: `--repeats must be a whole number from 1 to 50, not ${options.repeats}` });
  const outFile = resolve(options.out ?? join(REPO_ROOT, DEFAULT_OUT));
  const markdownFile = `${outFile.replace(/\.json$/, "")}.md`;
  const command = ["npm run bench", ...(quick || options.repeats ? ["--"] : []), ...(quick ? ["--quick"] : []), ...(options.repeats ? ["--repeats", String(repeats)] : [])].join(" ");
  const log = (line: string) => process.stderr.write(`${line}\n`);
  const date = new Date().toISOString();
  const started = performance.now();

  // An engine that cannot start is an environment problem (a ProblemsError): runCli reports it, exit 3.
  const engine = await ensureEngine("legacy", { log });
  await ensureStandInBaseImages(engine, { log });
  const docker = new BenchDocker(engine, controller.signal, options.verbose ?? false);
  let current: BenchDocker | undefined;
  const work = await mkdtemp(join(tmpdir(), "iopaint-bench-"));
  const cacheDir = join(REPO_ROOT, ".cache/bench");
  await mkdir(cacheDir, { recursive: true });
  let count = 0;
  const runId = `${Date.now().toString(36)}-${process.pid}`;
  try {
    const ctx: PhaseContext = {
      docker,
      fixture: await generateFixture(join(work, "generated")),
      work,
      cacheDir,
      repeats,
      paddingBytes: quick ? 8_000_000 : 100_000_000,
      log,
      nonce: () => `${runId}-${++count}`,
    };
    const machine = await describeHost(docker);
    log(`[bench] ${command}: ${repeats === 1 ? "no repeats" : `${repeats} repeats`}, scratch copies in ${work}`);

    log("[bench] 1/10 the old way: one stage, build tools and Node in the image (scripts/bench/baseline.Dockerfile), --no-cache");
    const baseline = await measureBaseline(ctx);
    log("[bench] 2/10 ours: the cpu image from the generated files, cold (--no-cache)");
    const cold = await measureCold(ctx);
    log("[bench] 3/10 ours: warm rebuilds after each kind of change");
    const rebuilds = await measureRebuilds(ctx);
    log("[bench] 4/10 cpu + gpu: in one invocation, and one after the other, each from a cold cache");
    const variants = await measureVariants(ctx);
    log(`[bench] 5/10 image size: ours ${formatBytes(cold[cold.length - 1].imageBytes)}, the old way ${formatBytes(baseline.imageBytes)}`);
    log(`[bench] 6/10 build context: a checkout padded with ${formatBytes(ctx.paddingBytes)} of .git, node_modules, venv and build output`);
    const context = await measureContext(ctx);
    const generateRuns = quick ? 2 : 7;
    const compileRuns = quick ? 5 : 31;
    log(`[bench] 7/10 compiler: npm run generate ×${generateRuns}, compile in process ×${compileRuns}`);
    const compileMs = await timeCompile(compileRuns);
    const generateSeconds = await timeGenerate(generateRuns, work, controller.signal);
    if (controller.signal.aborted) throw new Interrupted();
    log(`[bench]   npm run generate: ${formatSeconds(median(generateSeconds))}; compile: ${formatMs(median(compileMs))} (medians)`);
    log("[bench] 8/10 readiness on the current engine (Docker 26): the cpu image with a 1 s health start interval");
    const currentEngine = await ensureEngine("current", { log });
    await ensureStandInBaseImages(currentEngine, { log });
    current = new BenchDocker(currentEngine, controller.signal, options.verbose ?? false);
    const readiness = await measureReadiness(ctx, current, currentEngine.netns);
    log("[bench] 9/10 a new CI runner on the current engine: cache exported to a directory, builder emptied, cache imported (empties that engine's build cache)");
    const coldRunner = await measureColdRunner(ctx, current);
    log("[bench] 10/10 reproducibility on the current engine: cpu and gpu each built cold twice to an OCI layout (SOURCE_DATE_EPOCH, rewrite-timestamp)");
    const reproducible = await measureReproducible(ctx, current);

    const figures: Figures = { baseline, cold, rebuilds, variants, context, readiness, coldRunner, reproducible, compiler: { generateSeconds, compileMs } };
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
    await rm(work, { recursive: true, force: true });
    if (!options["keep-images"]) await Promise.all([docker.removeTagged(), current?.removeTagged()]);
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
