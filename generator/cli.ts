import { readFile } from "node:fs/promises";
import { join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import schema from "../config/schema.json" with { type: "json" };
import { OUTPUT_FILES } from "./compile.ts";
import { emitConfigDocs } from "./emit/config-docs.ts";
import { emitConfigTypes } from "./emit/config-types.ts";
import { fail, formatProblem, type Problem } from "./errors.ts";
import { ExitCode } from "./exit-codes.ts";
import { lockStatus } from "./lock-status.ts";
import { VARIABLES, type BuildPlan } from "./plan.ts";
import { compileConfigOption, DEFAULT_CONFIG, lockCommand, REPO_ROOT } from "./repo.ts";
import { parseCommandLine, runCli } from "./run-cli.ts";
import { staleOutputs, writeOutputs } from "./write.ts";

const TYPES_FILE = "generator/config-types.ts";
const DOCS_FILE = "docs/config.md";

const HELP = `Usage: npm run <command> -- [options]

Commands (tsx generator/cli.ts <command>):
  generate   compile the config and write docker-bake.hcl, docker/Dockerfile,
             docker/Dockerfile.dockerignore and docker/compose.yaml (atomically, only when all succeed)
  check      exit 1 with a short diff when a committed generated file differs from the config's output,
             or when a variant's lock (locks/<variant>.txt) is older than requirements.txt or the pins
  validate   check the config (schema and version compatibility) and write nothing
  print      the targets as docker buildx bake --print resolves them, as JSON: print [TARGET|GROUP ...]
             in the shape this machine's buildx prints (0.20+: cache, secret and attest entries as
             objects; older: as strings), or that of --buildx VERSION

Options:
  --config FILE   the config (default ${DEFAULT_CONFIG})
  --out DIR       where generated files go (default: the repository root)
  --buildx X      print: the shape of buildx X's --print (default: the installed buildx's, else 0.20+'s)
  -h, --help      this text

Exit codes: ${ExitCode.ok} ok, ${ExitCode.failed} stale generated files or locks, ${ExitCode.badInput} invalid config or usage,
            ${ExitCode.environment} unreadable config or unwritable output, ${ExitCode.internal} internal error.`;

export async function main(argv: string[]): Promise<number> {
  const parsed = parseCommandLine(
    { args: argv, allowPositionals: true, options: { config: { type: "string" }, out: { type: "string" }, buildx: { type: "string" }, help: { type: "boolean", short: "h" } } },
    "see --help",
  );
  const [command, ...rest] = parsed.positionals;
  if (parsed.values.help || !command) {
    console.log(HELP);
    return parsed.values.help ? ExitCode.ok : ExitCode.badInput;
  }
  const outDir = resolve(parsed.values.out ?? REPO_ROOT);
  const { configPath, loaded, plan, outputs, warnings } = await compileConfigOption(parsed.values.config, outDir);
  const isMainConfig = configPath === resolve(REPO_ROOT, DEFAULT_CONFIG) && outDir === REPO_ROOT;
  const displayName = loaded.file;
  printWarnings(warnings);
  // The config types and reference follow the schema, not a config: only the main config's run refreshes them.
  if (isMainConfig) {
    outputs[TYPES_FILE] = emitConfigTypes(schema, "config/schema.json");
    outputs[DOCS_FILE] = emitConfigDocs(schema, "config/schema.json");
  }

  switch (command) {
    case "validate":
      if (rest.length) fail({ kind: "usage", message: `validate takes no arguments, got ${rest.join(" ")}` });
      console.error(`${displayName}: valid (${Object.keys(loaded.raw.variants as object).join(", ")})`);
      return ExitCode.ok;
    case "generate": {
      const changed = await writeOutputs(outDir, outputs);
      const where = relative(process.cwd(), outDir) || ".";
      console.error(changed.length ? `wrote ${changed.map((f) => `${where}/${f}`.replace(/^\.\//, "")).join(", ")}` : "generated files are up to date");
      return ExitCode.ok;
    }
    case "check": {
      const stale = await staleOutputs(outDir, outputs);
      const lockProblems = await staleLocks(plan, outDir, parsed.values.config);
      for (const problem of lockProblems) console.error(`stale: ${formatProblem(problem)}`);
      if (!stale.length && !lockProblems.length) {
        console.error(`generated files and locks match ${displayName}`);
        return ExitCode.ok;
      }
      for (const { file, diff } of stale) console.error(`stale: ${file}\n${diff}`);
      if (stale.length) console.error(`${stale.length} generated file(s) differ from ${displayName}; run \`npm run generate\` and commit the result`);
      return ExitCode.failed;
    }
    case "print": {
      const bakeText = outputs[OUTPUT_FILES.bake];
      // hcl2-parser takes ~0.4 s to load: only print needs it, so generate and check stay fast.
      const { printedBake, printStyleOf, resolveBake } = await import("./bake/resolve.ts");
      const buildx = parsed.values.buildx ?? (await installedBuildx());
      console.log(JSON.stringify(printedBake(resolveBake(bakeText, rest, process.env), rest, buildx ? printStyleOf(buildx) : "objects"), null, 2));
      return ExitCode.ok;
    }
    default:
      fail({ kind: "usage", message: `unknown command "${command}"`, hint: "commands: generate, check, validate, print (see --help)" });
  }
}

/** The version of the buildx that `docker buildx bake` would run here, if there is one. */
async function installedBuildx(): Promise<string | undefined> {
  const { findDocker } = await import("../scripts/docker/discovery.ts");
  return findDocker(process.env, "buildx").then(
    (found) => found.tools.buildxVersion,
    () => undefined,
  );
}

/**
 * Locks whose inputs changed since `npm run lock`. requirements.txt is read from the checkout that
 * bake would build (IOPAINT_SRC, else the config's source.path, from the output directory); where
 * there is none, the pins, extra packages and platforms are still compared.
 */
async function staleLocks(plan: BuildPlan, outDir: string, configOption: string | undefined): Promise<Problem[]> {
  const source = resolve(outDir, process.env[VARIABLES.source] ?? plan.variables.find((v) => v.name === VARIABLES.source)!.default);
  const requirements = await readFile(join(source, plan.dockerfile.requirements)).catch(() => undefined);
  return lockStatus(
    plan,
    plan.variants.map((v) => v.name),
    () => requirements,
    lockCommand(configOption),
  ).problems;
}

function printWarnings(warnings: Problem[]): void {
  for (const warning of warnings) console.error(`warning: ${formatProblem(warning)}`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await runCli(main, process.argv.slice(2));
}
