import { randomBytes } from "node:crypto";
import { mkdir, readFile, realpath, rename, rm, stat, writeFile } from "node:fs/promises";
import { dirname, isAbsolute, join, relative, resolve } from "node:path";
import { fail } from "./errors.ts";
import type { Outputs } from "./compile.ts";

/** Resolves an output path and refuses any that would land outside the output directory. */
export function outputPath(outDir: string, file: string): string {
  const target = resolve(outDir, file);
  if (!isInside(resolve(outDir), target)) fail({ kind: "usage", message: `refusing to write ${file}: it is outside ${outDir}` });
  return target;
}

function isInside(dir: string, path: string): boolean {
  const rel = relative(dir, path);
  return rel === "" || (!rel.startsWith("..") && !isAbsolute(rel));
}

/**
 * The output directory must be a directory (or not exist yet), and no symbolic link inside it may
 * lead a generated file elsewhere: `docker -> /etc` would otherwise turn a generate into a write
 * to /etc/Dockerfile.
 */
async function checkOutputDirectory(outDir: string, files: string[]): Promise<void> {
  const info = await stat(outDir).catch((error: NodeJS.ErrnoException) => (error.code === "ENOENT" ? undefined : ioFailure(error, outDir)));
  if (info && !info.isDirectory()) fail({ kind: "environment", message: `the output directory ${outDir} is a file`, hint: "pass a directory with --out DIR" });
  if (!info) return;
  const realOut = await realpath(outDir);
  for (const file of files) {
    const existing = await nearestExisting(dirname(outputPath(outDir, file)));
    const real = await realpath(existing);
    if (!isInside(realOut, real)) {
      fail({ kind: "environment", message: `refusing to write ${file}: ${existing} is a link to ${real}, outside ${outDir}`, hint: "remove the link, or pass another --out DIR" });
    }
  }
}

async function nearestExisting(path: string): Promise<string> {
  for (let current = path; ; current = dirname(current)) {
    if (
      await stat(current).then(
        () => true,
        () => false,
      )
    )
      return current;
    if (dirname(current) === current) return current;
  }
}

/** A file-system error as a problem the user can act on; the code names what went wrong. */
function ioFailure(error: NodeJS.ErrnoException, path: string): never {
  const why: Record<string, string> = {
    ENOTDIR: "a file is in the way where a directory is expected",
    EISDIR: "a directory is in the way where a generated file goes",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    EROFS: "read-only file system",
    ENOSPC: "no space left on the device",
  };
  fail({
    kind: "environment",
    message: `cannot write ${error.path ?? path}: ${why[error.code ?? ""] ?? error.code ?? error.message}`,
    hint: "check the output directory (--out DIR): it must be a writable directory",
  });
}

/**
 * Writes every output atomically: each file goes to a temporary sibling and is renamed over the
 * old one, so a crash or Ctrl-C never leaves a truncated file. Unchanged files are not touched.
 * Returns the files that changed.
 */
export async function writeOutputs(outDir: string, outputs: Outputs): Promise<string[]> {
  await checkOutputDirectory(outDir, Object.keys(outputs));
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
    if (err.code) ioFailure(err, outDir);
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
    const err = error as NodeJS.ErrnoException;
    if (err.code === "ENOENT") return undefined;
    if (err.code) ioFailure(err, file);
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
