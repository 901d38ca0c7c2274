import { randomBytes } from "node:crypto";
import { mkdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fail } from "./errors.ts";
import type { Outputs } from "./compile.ts";

/** Resolves an output path and refuses any that would land outside the output directory. */
export function outputPath(outDir: string, file: string): string {
  const target = resolve(outDir, file);
  const rel = relative(resolve(outDir), target);
  if (rel.startsWith("..") || isAbsolute(rel)) fail({ kind: "usage", message: `refusing to write ${file}: it is outside ${outDir}` });
  return target;
}

/**
 * Writes every output atomically: each file goes to a temporary sibling and is renamed over the
 * old one, so a crash or Ctrl-C never leaves a truncated file. Unchanged files are not touched.
 * Returns the files that changed.
 */
export async function writeOutputs(outDir: string, outputs: Outputs): Promise<string[]> {
  const changed: string[] = [];
  for (const [file, text] of Object.entries(outputs)) {
    if ((await readIfExists(outputPath(outDir, file))) !== text) changed.push(file);
  }
  const staged: { temp: string; target: string }[] = [];
  try {
    for (const file of changed) {
      const target = outputPath(outDir, file);
      await mkdir(dirname(target), { recursive: true });
      const temp = join(dirname(target), `.${file.split("/").pop()}.${randomBytes(4).toString("hex")}.tmp`);
      staged.push({ temp, target });
      await writeFile(temp, outputs[file], { flag: "wx" });
    }
    for (const { temp, target } of staged) await rename(temp, target);
  } catch (error) {
    await Promise.all(staged.map(({ temp }) => rm(temp, { force: true })));
    const err = error as NodeJS.ErrnoException;
    if (err.code) fail({ kind: "environment", message: `cannot write to ${outDir}: ${err.code} ${err.path ?? ""}`.trim(), hint: "check that the output directory is writable" });
    throw error;
  }
  return changed;
}

/** Outputs whose file on disk differs, with a short unified-style diff of the first differences. */
export async function staleOutputs(outDir: string, outputs: Outputs): Promise<{ file: string; diff: string }[]> {
  const stale: { file: string; diff: string }[] = [];
  for (const [file, text] of Object.entries(outputs)) {
    const current = await readIfExists(outputPath(outDir, file));
    if (current !== text) stale.push({ file, diff: current === undefined ? "  (missing)" : shortDiff(current, text) });
  }
  return stale;
}

async function readIfExists(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    throw error;
  }
}

/** The first few differing lines, "-" on disk and "+" from the config. */
function shortDiff(before: string, after: string, limit = 6): string {
  const a = before.split("\n");
  const b = after.split("\n");
  const out: string[] = [];
  for (let i = 0; i < Math.max(a.length, b.length) && out.length < limit * 2; i++) {
    if (a[i] === b[i]) continue;
    if (a[i] !== undefined) out.push(`  ${i + 1}: - ${a[i]}`);
    if (b[i] !== undefined) out.push(`  ${i + 1}: + ${b[i]}`);
  }
  return out.join("\n");
}
