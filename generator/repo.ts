import { readFile } from "node:fs/promises";
import { dirname, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { ContainerScripts } from "./emit/dockerfile.ts";

/** The repository root: every default path and every name in a generated header is relative to it. */
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
export const DEFAULT_CONFIG = "config/iopaint.toml";

/** The hand-written container scripts the Dockerfile embeds (they are part of the project, not of a config). */
export async function readContainerScripts(): Promise<ContainerScripts> {
  return {
    entrypoint: await readFile(resolve(REPO_ROOT, "docker/entrypoint.sh"), "utf8"),
    healthcheck: await readFile(resolve(REPO_ROOT, "docker/healthcheck.sh"), "utf8"),
  };
}

/** The config's name in generated headers: stable wherever the repository or output directory lives. */
export function headerName(configPath: string, outDir: string): string {
  for (const base of [outDir, REPO_ROOT]) {
    if (configPath.startsWith(base + "/")) return relative(base, configPath).split("\\").join("/");
  }
  return configPath;
}
