/**
 * The fallback's named contexts. Docker 20.10's docker build takes no --build-context, so the
 * helpers' directory (bake's named context, generator/plan.ts HELPERS) becomes a local image
 * first: FROM scratch with the directory's files, tagged by their content, so an unchanged
 * directory is built once and a changed one never reuses a stale image. The Dockerfile's
 * `FROM ${HELPERS_IMAGE}` is then pointed at it (scripts/docker/build-args.ts).
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { HELPERS } from "../../generator/plan.ts";
import type { Docker } from "./docker.ts";

const CONTEXT_IMAGE_DOCKERFILE = "FROM scratch\nCOPY . /\n";

/** Pure: the image name for a context's files (name and content): `iopaint-helpers:<12 hex>`. */
export function contextImageRef(context: string, files: Record<string, Buffer | string>): string {
  const hash = createHash("sha256");
  for (const name of Object.keys(files).sort()) hash.update(`${name}\0${createHash("sha256").update(files[name]).digest("hex")}\n`);
  return `${context}:${hash.digest("hex").slice(0, 12)}`;
}

/** Pure: the helpers image's name for the helper files a compile outputs (`docker/helpers/…`), as the files on disk would give it. */
export function helpersImageOfOutputs(outputs: Record<string, string>): string {
  const prefix = `${HELPERS.dir}/`;
  return contextImageRef(HELPERS.context, Object.fromEntries(Object.entries(outputs).flatMap(([file, text]) => (file.startsWith(prefix) ? [[file.slice(prefix.length), text]] : []))));
}

/** The directory a target's helpers context names (`cwd://docker/helpers`, as bake reads it from where it runs), if it has one. */
export function helpersDirectory(target: ResolvedTarget, cwd: string): string | undefined {
  const value = target.contexts?.[HELPERS.context];
  return value === undefined ? undefined : resolve(cwd, value.replace(/^cwd:\/\//, ""));
}

/** The helpers image's name for a target, from the files in its directory now. */
export async function helpersImageRef(target: ResolvedTarget, cwd: string): Promise<string | undefined> {
  const dir = helpersDirectory(target, cwd);
  if (!dir) return undefined;
  const names = (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
  return contextImageRef(HELPERS.context, Object.fromEntries(await Promise.all(names.map(async (name) => [name, await readFile(join(dir, name))] as const))));
}

/**
 * The helpers images for these targets, built where the engine lacks them. `remove` takes away
 * those this run built, so the fallback leaves no image but the ones the user asked for; the build
 * cache keeps their files, and the steps that mount them are cached by content, not by image.
 */
export async function prepareHelpersImages(
  docker: Docker,
  targets: ResolvedTarget[],
  cwd: string,
  signal?: AbortSignal,
): Promise<{ imageOf: (target: ResolvedTarget) => string | undefined; remove: () => Promise<void> }> {
  const refs = new Map<ResolvedTarget, string>();
  const built: string[] = [];
  for (const target of targets) {
    const ref = await helpersImageRef(target, cwd);
    if (!ref) continue;
    refs.set(target, ref);
    if (built.includes(ref) || (await docker.run(["image", "inspect", "--format", "{{.Id}}", ref], { signal })).exitCode === 0) continue;
    await docker.check(["build", "--quiet", "--tag", ref, "--file", "-", helpersDirectory(target, cwd)!], { input: CONTEXT_IMAGE_DOCKERFILE, signal });
    built.push(ref);
  }
  return {
    imageOf: (target) => refs.get(target),
    remove: async () => {
      if (built.length) await docker.run(["image", "rm", ...built]);
    },
  };
}
