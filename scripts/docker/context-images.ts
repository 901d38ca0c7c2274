/**
 * The fallback's named contexts. Docker 20.10's docker build takes no --build-context, so each
 * directory bake passes as a named context (generator/plan.ts NAMED_CONTEXTS: the helpers, the
 * locks) becomes a local image first: FROM scratch with the directory's files, tagged by their
 * content, so an unchanged directory is built once and a changed one never reuses a stale image.
 * The Dockerfile's `FROM ${HELPERS_IMAGE}` (or LOCKS_IMAGE) is then pointed at it
 * (scripts/docker/build-args.ts).
 */
import { createHash } from "node:crypto";
import { readdir, readFile } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { NAMED_CONTEXTS } from "../../generator/plan.ts";
import type { Docker } from "./docker.ts";

const CONTEXT_IMAGE_DOCKERFILE = "FROM scratch\nCOPY . /\n";

/** A named context's image for the fallback, by context name (`iopaint-helpers` → `iopaint-helpers:<12 hex>`). */
export type ContextImages = Record<string, string>;

/** Pure: the image name for a context's files (name and content): `<context>:<12 hex>`. */
export function contextImageRef(context: string, files: Record<string, Buffer | string>): string {
  const hash = createHash("sha256");
  for (const name of Object.keys(files).sort()) hash.update(`${name}\0${createHash("sha256").update(files[name]).digest("hex")}\n`);
  return `${context}:${hash.digest("hex").slice(0, 12)}`;
}

/** Pure: the directories of a target's named contexts that the fallback can pass (the project's own), by context name, as bake reads them from where it runs. */
export function contextDirectories(target: ResolvedTarget, cwd: string): Record<string, string> {
  const known = new Set<string>(NAMED_CONTEXTS.map((c) => c.context));
  return Object.fromEntries(
    Object.entries(target.contexts ?? {})
      .filter(([name]) => known.has(name))
      .map(([name, value]) => [name, resolve(cwd, value.replace(/^cwd:\/\//, ""))]),
  );
}

/**
 * Pure: a target's context images as the files a compile outputs would give them (for --print,
 * which writes nothing): a context's files are the outputs under its directory.
 */
export function contextImagesOfOutputs(target: ResolvedTarget, cwd: string, outputs: Record<string, string>): ContextImages {
  return Object.fromEntries(
    Object.entries(contextDirectories(target, cwd)).map(([name, dir]) => {
      const prefix = `${dir}/`;
      const files = Object.entries(outputs).flatMap(([file, text]) => {
        const path = resolve(cwd, file);
        return path.startsWith(prefix) ? [[path.slice(prefix.length), text]] : [];
      });
      return [name, contextImageRef(name, Object.fromEntries(files))];
    }),
  );
}

/** A target's context images, from the files in their directories now. */
export async function contextImages(target: ResolvedTarget, cwd: string): Promise<ContextImages> {
  const images: ContextImages = {};
  for (const [name, dir] of Object.entries(contextDirectories(target, cwd))) {
    const files = (await readdir(dir, { withFileTypes: true })).filter((entry) => entry.isFile()).map((entry) => entry.name);
    images[name] = contextImageRef(name, Object.fromEntries(await Promise.all(files.map(async (file) => [file, await readFile(join(dir, file))] as const))));
  }
  return images;
}

/**
 * Runs `build` with the context images of these targets present on the engine, building those it
 * lacks, and removes the ones it built afterwards, so the fallback leaves no image but the ones the
 * user asked for: the build cache keeps their files, and the steps that mount them are cached by
 * content, not by image.
 */
export async function withContextImages<T>(
  docker: Docker,
  targets: ResolvedTarget[],
  cwd: string,
  signal: AbortSignal | undefined,
  build: (imagesOf: (target: ResolvedTarget) => ContextImages) => Promise<T>,
): Promise<T> {
  const images = new Map<ResolvedTarget, ContextImages>();
  const built: string[] = [];
  try {
    for (const target of targets) {
      images.set(target, await contextImages(target, cwd));
      const dirs = contextDirectories(target, cwd);
      for (const [name, ref] of Object.entries(images.get(target)!)) {
        if (built.includes(ref) || (await docker.run(["image", "inspect", "--format", "{{.Id}}", ref], { signal })).exitCode === 0) continue;
        await docker.check(["build", "--quiet", "--tag", ref, "--file", "-", dirs[name]], { input: CONTEXT_IMAGE_DOCKERFILE, signal });
        built.push(ref);
      }
    }
    return await build((target) => images.get(target) ?? {});
  } finally {
    if (built.length) await docker.run(["image", "rm", ...built]);
  }
}
