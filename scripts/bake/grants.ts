/**
 * The filesystem grants a bake needs, made true on disk first: the directories the build writes
 * into (a local cache, a directory output) are created, since for a missing directory buildx
 * asks for its nearest existing parent (`--allow=fs=..`) instead. Every bake the project runs
 * (npm run bake, npm run lock, the bench, the tests' engine) takes its `--allow` flags from
 * here; the decisions are decisions.ts's, pure.
 */
import { mkdirSync } from "node:fs";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { directoriesToMake, filesystemGrants } from "./decisions.ts";

export function prepareGrants(targets: Record<string, ResolvedTarget>, cwd: string, buildxVersion: string, sets: readonly string[] = []): string[] {
  const grants = filesystemGrants(targets, cwd, buildxVersion, sets);
  if (grants.length) for (const dir of directoriesToMake(targets, cwd, sets)) mkdirSync(dir, { recursive: true });
  return grants;
}
