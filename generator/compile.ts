import { checkCompatibility } from "./compat/check.ts";
import { compatTable, type CompatTable } from "./compat/table.ts";
import { ProblemsError, type Problem } from "./errors.ts";
import { emitBake } from "./emit/bake.ts";
import { emitCompose } from "./emit/compose.ts";
import { emitDockerfile } from "./emit/dockerfile.ts";
import { emitIgnore } from "./emit/ignore.ts";
import type { LoadedConfig } from "./load.ts";
import { parseLock, type PythonLock } from "./lock.ts";
import { DOCKERFILE, HELPERS, locksDirOf, planBuild, type BuildPlan } from "./plan.ts";
import { validateConfig, withPosition } from "./validate.ts";

/** Output files of one compile, by path relative to the output directory. */
export type Outputs = Record<string, string>;

/** docker/helpers/'s hand-written scripts by file name: the outputs carry them, as they are, beside the Dockerfile that runs them. */
export type HelperFiles = Record<string, string>;

export const OUTPUT_FILES = {
  bake: "docker-bake.hcl",
  dockerfile: DOCKERFILE,
  ignore: `${DOCKERFILE}.dockerignore`,
  compose: "docker/compose.yaml",
} as const;

/** Pure: validated config → compatibility check → plan. Throws ProblemsError with every problem found. */
export function planFromConfig(loaded: LoadedConfig, sourceName = loaded.file, table: CompatTable = compatTable): { plan: BuildPlan; warnings: Problem[] } {
  const validated = validateConfig(loaded);
  if (!validated.config) throw new ProblemsError(validated.problems);
  const { errors, warnings } = checkCompatibility(validated.config, table);
  const positioned = (problems: Problem[]) => problems.map((p) => withPosition(p, loaded));
  if (errors.length) throw new ProblemsError(positioned(errors));
  const locks: Record<string, PythonLock> = {};
  const lockProblems: Problem[] = [];
  for (const [variant, { file, text }] of Object.entries(loaded.locks ?? {})) {
    if (!validated.config.variants[variant]) continue;
    const { lock, problem } = parseLock(text, file, variant);
    if (problem) lockProblems.push(problem);
    else locks[variant] = lock!;
  }
  if (lockProblems.length) throw new ProblemsError(lockProblems);
  return { plan: planBuild(validated.config, sourceName, locks), warnings: positioned(warnings) };
}

/**
 * Pure: the config without the locks that `npm run lock` is about to replace and cannot read (an
 * older format, a bad edit), with the problem of each, so that the command their message names can
 * run. `variants` undefined: every variant's.
 */
export function withoutUnreadableLocks(loaded: LoadedConfig, variants?: string[]): { loaded: LoadedConfig; replaced: Problem[] } {
  const locks = { ...loaded.locks };
  const replaced: Problem[] = [];
  for (const [variant, { file, text }] of Object.entries(locks)) {
    if (variants && !variants.includes(variant)) continue;
    const { problem } = parseLock(text, file, variant);
    if (problem) {
      replaced.push(problem);
      delete locks[variant];
    }
  }
  return { loaded: { ...loaded, locks }, replaced };
}

/**
 * Pure: the whole compile, config text in, every output file's text out. `sourceName` goes into the
 * headers. The helper scripts and the locks are copied as they are: in the repository they are their
 * own output, and a Dockerfile generated elsewhere (--out) gets them beside it, where bake's named
 * contexts look.
 */
export function compile(loaded: LoadedConfig, helpers: HelperFiles, sourceName = loaded.file, table: CompatTable = compatTable): { plan: BuildPlan; outputs: Outputs; warnings: Problem[] } {
  const { plan, warnings } = planFromConfig(loaded, sourceName, table);
  const outputs: Outputs = {
    [OUTPUT_FILES.bake]: emitBake(plan),
    [OUTPUT_FILES.dockerfile]: emitDockerfile(plan),
    [OUTPUT_FILES.ignore]: emitIgnore(plan),
    [OUTPUT_FILES.compose]: emitCompose(plan),
    ...Object.fromEntries(Object.entries(helpers).map(([file, text]) => [`${HELPERS.dir}/${file}`, text])),
    ...Object.fromEntries(plan.variants.filter((variant) => variant.lock).map((variant) => [`${locksDirOf(plan.configFile)}/${variant.name}.txt`, loaded.locks![variant.name].text])),
  };
  return { plan, outputs, warnings };
}
