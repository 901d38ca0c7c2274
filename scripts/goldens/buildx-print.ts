/** What `npm run goldens:bake` and the e2e check of the golden files share: generate, then ask buildx. */
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { fail } from "../../generator/errors.ts";
import { join } from "node:path";
import { REPO_ROOT } from "../../generator/repo.ts";
import type { PrintCase } from "../../test/fixtures/bake-print/cases.ts";
import type { Docker } from "../docker/docker.ts";

/** Where the golden files of one buildx release line live: test/fixtures/bake-print/buildx-0.29 for 0.29.1. */
export function goldenDir(buildxVersion: string): string {
  return join(REPO_ROOT, "test/fixtures/bake-print", `buildx-${buildxVersion.split(".").slice(0, 2).join(".")}`);
}

/** The project's own generator, as a user runs it. */
export async function generateInto(config: string, dir: string): Promise<void> {
  await promisify(execFile)(process.execPath, ["--import", "tsx", "generator/cli.ts", "generate", "--config", config, "--out", dir], { cwd: REPO_ROOT });
}

/** buildx's --print for one case, run where bake would run (the generated files' directory). */
export async function buildxPrint(docker: Docker, dir: string, printCase: PrintCase): Promise<Record<string, unknown>> {
  // Only the case's variables: none of the caller's IOPAINT_* may leak into the answer.
  const env = Object.fromEntries(
    Object.keys(process.env)
      .filter((k) => k.startsWith("IOPAINT_"))
      .map((k) => [k, undefined]),
  );
  const result = await docker.run(["buildx", "bake", "--file", "docker-bake.hcl", "--print", ...printCase.targets], { cwd: dir, env: { ...env, ...printCase.env } });
  if (result.exitCode !== 0) fail({ kind: "environment", message: `docker buildx bake --print ${printCase.targets.join(" ")} failed: ${result.stderr.trim()}` });
  return JSON.parse(result.stdout) as Record<string, unknown>;
}
