import { readdir, readFile } from "node:fs/promises";
import { basename, dirname, extname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compile, type HelperFiles } from "./compile.ts";
import { loadConfigFile, type LoadedConfig } from "./load.ts";
import { HELPERS } from "./plan.ts";

/** The repository root: every default path and every name in a generated header is relative to it. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_CONFIG = "config/iopaint.toml";

/** The hand-written scripts the build runs (docker/helpers/: part of the project, not of a config), sorted by name. */
export async function readHelperFiles(): Promise<HelperFiles> {
  const dir = resolve(REPO_ROOT, HELPERS.dir);
  const files = (await readdir(dir)).sort();
  return Object.fromEntries(await Promise.all(files.map(async (file) => [file, await readFile(join(dir, file), "utf8")] as const)));
}

/** The config's name in generated headers: stable wherever the repository or output directory lives. */
export function headerName(configPath: string, outDir: string): string {
  for (const base of [outDir, REPO_ROOT]) {
    if (configPath.startsWith(`${base}/`)) return relative(base, configPath).split("\\").join("/");
  }
  return configPath;
}

/**
 * The config a --config option names (default config/iopaint.toml), loaded and compiled as
 * `generate --out outDir` compiles it: messages name the file as the user gave it, generated
 * headers name it from the repository root (headerName).
 */
export async function compileConfigOption(option: string | undefined, outDir: string) {
  const { configPath, loaded } = await loadConfigOption(option);
  return { configPath, loaded, ...(await compileLoaded(loaded, configPath, outDir)) };
}

/** The config a --config option names, read with its locks but not compiled (for a command that adjusts it first). */
export async function loadConfigOption(option: string | undefined): Promise<{ configPath: string; loaded: LoadedConfig }> {
  const configPath = resolve(option ?? resolve(REPO_ROOT, DEFAULT_CONFIG));
  return { configPath, loaded: await loadConfigFile(configPath, option ?? DEFAULT_CONFIG) };
}

/** A loaded config compiled as `generate --out outDir` compiles it. */
export async function compileLoaded(loaded: LoadedConfig, configPath: string, outDir: string) {
  return compile(loaded, await readHelperFiles(), headerName(configPath, outDir));
}

/**
 * Where a command's generated files go: the repository for the main config, a directory of its
 * own under .cache/configs/ for any other (so it never overwrites the committed files), or --out.
 */
export function generatedFilesDir(configOption: string | undefined, out: string | undefined): { isMainConfig: boolean; outDir: string } {
  const isMainConfig = configOption === undefined || resolve(configOption) === resolve(REPO_ROOT, DEFAULT_CONFIG);
  const outDir = resolve(out ?? (isMainConfig ? REPO_ROOT : join(REPO_ROOT, ".cache/configs", basename(configOption!, extname(configOption!)))));
  return { isMainConfig, outDir };
}

/** `npm run lock` as the user runs it for this config: messages about a lock name this command. */
export function lockCommand(configOption: string | undefined): string {
  return `npm run lock --${configOption !== undefined && resolve(configOption) !== resolve(REPO_ROOT, DEFAULT_CONFIG) ? ` --config ${configOption}` : ""}`;
}
