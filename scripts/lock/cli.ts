/**
 * `npm run lock`: resolves each variant's Python dependencies in its own build environment and
 * writes its lock (locks/<variant>.txt beside the config, generator/lock.ts), then regenerates the
 * files that name the locks (a first lock adds its stage and the locks context). The resolve is the
 * Dockerfile's own resolve stage, built through the `unlocked` stage to the `pip-report` target
 * (pip's --dry-run --report of the joint resolve, the torch stack and the build tools), once per
 * platform the variant lists, with bake or the fallback's docker build. With python.installer =
 * "uv", the `uv-report` target instead, once on this machine's platform: uv resolves x86_64 and
 * aarch64 with --python-platform and writes PEP 751 locks (scripts/lock/pylock.ts).
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { resolveBake } from "../../generator/bake/resolve.ts";
import { OUTPUT_FILES, withoutUnreadableLocks } from "../../generator/compile.ts";
import { closest, fail, formatProblem, ProblemsError } from "../../generator/errors.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { formatLock, LOCK_SECTIONS, lockFileName, withoutCredentials, type LockInputs, type PythonLock } from "../../generator/lock.ts";
import { lockInputsOf, RESOLVE_REPORTS, UNLOCKED_STAGE, VARIABLES } from "../../generator/plan.ts";
import { compileConfigOption, compileLoaded, DEFAULT_CONFIG, generatedFilesDir, loadConfigOption } from "../../generator/repo.ts";
import { parseCommandLine, runCli } from "../../generator/run-cli.ts";
import { staleOutputs, writeOutputs } from "../../generator/write.ts";
import { explainFailure } from "../bake/failure.ts";
import { checkoutProblems, networkSettings } from "../bake/preflight.ts";
import { withoutCredentials as withoutProxyCredentials } from "../docker/proxy.ts";
import { applyOverrides, bakeArgs, dockerBuildArgs } from "../docker/build-args.ts";
import { withContextImages } from "../docker/context-images.ts";
import { prepareGrants } from "../bake/grants.ts";
import { daemonVersion, findDocker, HOST_PLATFORM } from "../docker/discovery.ts";
import { cancelOnSignals, exitCodeUnlessInterrupted } from "../docker/cancel.ts";
import { pylockDistributions } from "./pylock.ts";
import { checkMachine, LockResolveError, lockChanges, lockSections, pipDistributions, splitSections, uvMachine, type PipReport, type PlatformResolve } from "./reports.ts";

const HELP = `Usage: npm run lock -- [VARIANT ...] [options]

Resolves each variant's Python dependencies in its own build environment (its base image, Python,
torch index and pins, once for every platform it lists; with python.installer = "uv", uv resolves
amd64 and arm64 in one build on this machine, without emulation) and writes locks/<variant>.txt beside the
config: every distribution pinned with the sha256 of its files. A build installs exactly what
they list, with pip's hash checking, and resolves nothing; a variant's first lock also regenerates
docker/Dockerfile and docker-bake.hcl, which then pass the locks to the build. With no VARIANT: every variant. Run it again after changing requirements.txt, a
pin, a variant's extra packages or platforms, or source.build_requires (npm run check and npm run bake
say when).

Options:
  --source DIR         the IOPaint checkout whose requirements.txt to lock (sets IOPAINT_SRC)
  --ca-cert FILE       extra CA certificates (PEM) that pip trusts while resolving, as npm run bake
                       (sets IOPAINT_CA_CERT); HTTP(S)_PROXY and NO_PROXY reach pip as in a build
  --set T.K=V          override a target attribute while resolving, as bake --set (repeatable),
                       e.g. --set '*.args.PIP_INDEX_URL=https://mirror.example/simple'
  --engine auto|buildx|docker-build   force a build path (default: auto)
  --config FILE        the config (default ${DEFAULT_CONFIG}); the locks go to its directory
  --out DIR            where the config's files are generated (as npm run bake)
  -h, --help           this text

Exit codes: ${ExitCode.ok} locks written, ${ExitCode.failed} pip or uv could not resolve (its message is shown), ${ExitCode.badInput} invalid config or usage,
            ${ExitCode.environment} environment (docker, checkout, a platform the base image or the host cannot run),
            ${ExitCode.interrupted} interrupted, ${ExitCode.internal} internal error.`;

const cancelled = cancelOnSignals("stopping the resolve; no lock is written");

async function main(argv: string[]): Promise<number> {
  try {
    return await lock(argv);
  } catch (error) {
    // What pip's reports cannot give a lock (a hash, an index file, the platform asked for).
    if (error instanceof LockResolveError) fail({ kind: "environment", message: error.message });
    throw error;
  }
}

async function lock(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    {
      args: argv,
      allowPositionals: true,
      options: {
        source: { type: "string" },
        "ca-cert": { type: "string" },
        set: { type: "string", multiple: true },
        engine: { type: "string" },
        config: { type: "string" },
        out: { type: "string" },
        help: { type: "boolean", short: "h" },
      },
    },
    "see npm run lock -- --help",
  );
  const options = parsed.values;
  if (options.help) {
    console.log(HELP);
    return ExitCode.ok;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  const engine = options.engine ?? "auto";
  if (!["auto", "buildx", "docker-build"].includes(engine)) fail({ kind: "usage", message: `--engine must be auto, buildx or docker-build, not ${engine}` });

  const { isMainConfig, outDir } = generatedFilesDir(options.config, options.out);
  // A lock this command replaces may be unreadable (an older format): say so, and lock anew.
  const { configPath, loaded } = await loadConfigOption(options.config);
  const { loaded: lockable, replaced } = withoutUnreadableLocks(loaded, parsed.positionals.length ? parsed.positionals : undefined);
  const { plan, outputs, warnings } = await compileLoaded(lockable, configPath, outDir);
  for (const warning of warnings) say(`warning: ${formatProblem(warning)}`);
  for (const problem of replaced) say(`note: ${problem.location?.file}:${problem.location?.line}: ${problem.message}; it is replaced by a new lock`);
  const names = parsed.positionals.length ? parsed.positionals : plan.variants.map((v) => v.name);
  for (const name of names) {
    if (!plan.variants.some((v) => v.name === name)) {
      const suggestion = closest(
        name,
        plan.variants.map((v) => v.name),
      );
      fail({ kind: "usage", message: `unknown variant "${name}"`, hint: suggestion ? `did you mean "${suggestion}"?` : `variants: ${plan.variants.map((v) => v.name).join(", ")}` });
    }
  }

  // The generated files must be current: the resolve builds their Dockerfile's builder stage.
  if ((await staleOutputs(outDir, outputs)).length) await writeOutputs(outDir, outputs);
  // A lock's resolve exports no cache and keeps no image: only pip's reports come out.
  const env: Record<string, string | undefined> = { ...process.env, [VARIABLES.cache]: "" };
  if (options.source !== undefined) env[VARIABLES.source] = resolve(options.source);
  if (options["ca-cert"] !== undefined) env[VARIABLES.caCert] = resolve(options["ca-cert"]);
  const { proxies, proxySets } = networkSettings(env);
  if (proxySets.length)
    say(
      `proxy for the resolve (not stored in any lock): ${Object.entries(proxies)
        .map(([name, value]) => `${name}=${withoutProxyCredentials(value)}`)
        .join(", ")}`,
    );
  const targetOf = (variant: string) => plan.targets.find((t) => t.variant === variant)!.name;
  const sets = [...(options.set ?? []), ...proxySets];
  const resolved = applyOverrides(resolveBake(outputs[OUTPUT_FILES.bake], names.map(targetOf), env).target, sets);
  const problems = checkoutProblems(resolved, plan, (t) => resolve(outDir, t.context));
  if (problems.length) throw new ProblemsError(problems);
  const { tools, docker } = await findDocker(env, engine as "auto");
  say(`docker ${tools.clientVersion} (${tools.mode === "buildx" ? `buildx ${tools.buildxVersion}` : "no buildx: one docker build per platform"}), daemon ${await daemonVersion(docker)}`);

  const lockDir = dirname(configPath);
  for (const name of names) {
    const variant = plan.variants.find((v) => v.name === name)!;
    const target = targetOf(name);
    const base = resolved[target];
    const requirements = await readFile(join(resolve(outDir, base.context), plan.dockerfile.requirements));
    const environment = `${base.args.BASE_IMAGE} (Python ${base.args.PYTHON_VERSION}, torch from ${withoutCredentials(base.args.TORCH_INDEX_URL ?? "")})`;
    const platforms: PlatformResolve[] = [];
    // With uv as the installer, uv resolves x86_64 and aarch64 from here; pip resolves any other platform on it.
    const byUv = base.args.PYTHON_INSTALLER === "uv" ? variant.releasePlatforms.filter((platform) => uvMachine(platform)) : [];
    if (byUv.length) {
      say(`\n== ${name} for ${byUv.join(", ")}: resolving with uv on ${HOST_PLATFORM} (--python-platform, no emulation) in ${environment}`);
      const resolves = await resolveWithUv(target, byUv);
      if (typeof resolves === "number") return resolves;
      platforms.push(...resolves);
    }
    for (const platform of variant.releasePlatforms.filter((p) => !byUv.includes(p))) {
      say(`\n== ${name} on ${platform}: resolving in ${environment}`);
      const resolve = await resolveOnPlatform(target, platform);
      if (typeof resolve === "number") return resolve;
      platforms.push(resolve);
    }
    const lock: PythonLock = {
      variant: name,
      inputs: lockInputsOf(plan, variant, requirements) as LockInputs,
      indexes: `torch ${withoutCredentials(base.args.TORCH_INDEX_URL ?? "")}, packages ${withoutCredentials(base.args.PIP_INDEX_URL ?? "")}`,
      sections: lockSections(platforms),
    };
    const file = lockFileName(name);
    await writeOutputs(lockDir, { [file]: formatLock(lock, plan.configFile) });
    const count = LOCK_SECTIONS.reduce((n, s) => n + lock.sections[s].length, 0);
    const changes = lockChanges(variant.lock?.sections, lock.sections);
    const shown = relative(process.cwd(), join(lockDir, file));
    say(`wrote ${shown}: ${count} distributions for ${variant.releasePlatforms.join(", ")}; ${variant.lock ? (changes.length ? `${changes.length} changed:` : "no version changed") : "new lock"}`);
    if (variant.lock) for (const change of changes) say(`  ${change}`);
  }

  // A first lock changes the Dockerfile (its lock stage) and the bake file (the locks context).
  const again = await compileConfigOption(options.config, outDir);
  const changed = await writeOutputs(outDir, again.outputs);
  if (changed.length) say(`regenerated ${changed.join(", ")}${isMainConfig ? ": commit them with the locks" : ` in ${relative(process.cwd(), outDir)}`}`);
  return ExitCode.ok;

  /** pip's resolve: the pip-report target built on the platform (emulated if it is not this machine's), its reports read back; an exit code on failure. */
  async function resolveOnPlatform(target: string, platform: string): Promise<PlatformResolve | number> {
    return buildReport(target, { stage: RESOLVE_REPORTS.pip, platform, sets: [`${target}.args.PYTHON_LOCK=${UNLOCKED_STAGE}`], what: platform }, async (scratch) => {
      const read = async (part: string) => {
        const report = JSON.parse(await readResolveOutput(scratch, `${part}.json`, `the resolve for ${platform}`)) as PipReport;
        checkMachine(platform, report, resolved[target].args.BASE_IMAGE ?? "");
        return report;
      };
      const [all, torch, build] = [await read("all"), await read("torch"), await read("build")];
      return { platform, machine: all.environment.platform_machine, sections: splitSections(pipDistributions(all), pipDistributions(torch), pipDistributions(build)) };
    });
  }

  /** uv's resolve: the uv-report target built once on this machine's platform, a PEP 751 lock per part and platform read back; an exit code on failure. */
  async function resolveWithUv(target: string, platforms: string[]): Promise<PlatformResolve[] | number> {
    const machines = platforms.map((platform) => uvMachine(platform)!);
    const report = {
      stage: RESOLVE_REPORTS.uv,
      platform: HOST_PLATFORM,
      sets: [`${target}.args.${RESOLVE_REPORTS.uvMachinesArg}=${[...new Set(machines)].join(" ")}`],
      what: `${platforms.join(", ")} with uv`,
    };
    return buildReport(target, report, async (scratch) => {
      const read = async (machine: string, part: string) => {
        const file = join(machine, `pylock.${part}.toml`);
        return pylockDistributions(await readResolveOutput(scratch, file, "uv's resolve"), file);
      };
      const resolves: PlatformResolve[] = [];
      for (const [index, platform] of platforms.entries()) {
        const machine = machines[index];
        resolves.push({ platform, machine, sections: splitSections(await read(machine, "all"), await read(machine, "torch"), await read(machine, "build")) });
      }
      return resolves;
    });
  }

  /**
   * Builds one of the resolve's report targets (`stage`, on `platform`, with `sets` beyond the
   * command line's) into a scratch directory and reads it with `read`; on failure, says what
   * failed resolving `what` and returns the exit code.
   */
  async function buildReport<T>(target: string, report: { stage: string; platform: string; sets: string[]; what: string }, read: (scratch: string) => Promise<T>): Promise<T | number> {
    const { platform } = report;
    const scratch = await mkdtemp(join(tmpdir(), "iopaint-lock-"));
    try {
      const resolveSets = [...sets, `${target}.target=${report.stage}`, `${target}.platform=${platform}`, ...report.sets];
      const output = `type=local,dest=${scratch}`;
      const run = (argv: string[]) => docker.stream(argv, { cwd: outDir, env, signal: cancelled, onOutput: stepLines(say) });
      const result =
        tools.mode === "buildx"
          ? await run(
              bakeArgs({
                file: join(outDir, OUTPUT_FILES.bake),
                targets: [target],
                provenance: "false",
                sets: [...resolveSets, `${target}.output=${output}`],
                allow: prepareGrants({ [target]: resolved[target] }, outDir, tools.buildxVersion!, [`${target}.output=${output}`]),
              }),
            )
          : await withContextImages(docker, [resolved[target]], outDir, cancelled, (imagesOf) =>
              run(dockerBuildArgs({ ...applyOverrides({ [target]: resolved[target] }, resolveSets)[target], tags: [] }, outDir, { output, contextImages: imagesOf(resolved[target]) }).argv),
            );
      if (result.code !== 0) {
        const failure = explainFailure(result.output, platform.startsWith(HOST_PLATFORM) ? [] : [platform]);
        say(result.output.trim().split("\n").slice(-25).join("\n"));
        say(`\nerror: resolving ${target} for ${report.what}: ${failure.message}`);
        if (failure.hint) say(`  hint: ${failure.hint}`);
        return failure.exitCode;
      }
      say(`   resolved in ${result.seconds.toFixed(1)} s`);
      return await read(scratch);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  }
}

/** A file the resolve wrote into `scratch`, or an error saying which is missing (an older generated Dockerfile writes other files). */
async function readResolveOutput(scratch: string, file: string, who: string): Promise<string> {
  const text = await readFile(join(scratch, file), "utf8").catch(() => undefined);
  if (text === undefined) throw new LockResolveError(`${who} wrote no ${file}; is docker/Dockerfile generated by this version (npm run generate)?`);
  return text;
}

/** Progress while resolving: BuildKit's step lines (one per step, shortened), not every line of pip. */
function stepLines(say: (line: string) => void): (chunk: string) => void {
  let partial = "";
  return (chunk) => {
    const lines = (partial + chunk).split("\n");
    partial = lines.pop() ?? "";
    for (const line of lines) if (/^#\d+ \[[^\]]+\] /.test(line)) say(`   ${line.length > 110 ? `${line.slice(0, 109)}…` : line}`);
  };
}

await runCli((argv) => exitCodeUnlessInterrupted(cancelled, () => main(argv)), process.argv.slice(2));
