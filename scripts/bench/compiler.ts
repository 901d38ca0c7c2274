/** The compiler's figures: `npm run generate` as a user runs it, and the compile alone in process. */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { execa } from "execa";
import { compile } from "../../generator/compile.ts";
import { parseConfigText } from "../../generator/load.ts";
import { DEFAULT_CONFIG, readHelperFiles, REPO_ROOT } from "../../generator/repo.ts";

/**
 * Wall time of `npm run generate` on the main config, npm's own start-up included. Each run
 * writes into a fresh directory (so every run writes all files, as after a config edit) and never
 * into the working tree.
 */
export async function timeGenerate(runs: number, work: string, signal: AbortSignal): Promise<number[]> {
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    const result = await execa("npm", ["run", "-s", "generate", "--", "--out", join(work, `generate-${i}`)], { cwd: REPO_ROOT, reject: false, all: true, stdin: "ignore", cancelSignal: signal });
    times.push((performance.now() - started) / 1000);
    if (signal.aborted) break;
    if (result.exitCode !== 0) throw new Error(`npm run generate failed (exit ${result.exitCode}):\n${String(result.all).trim()}`);
  }
  return times;
}

/** Milliseconds to parse, validate, plan and emit the main config in this process; the first run is the cold one. */
export async function timeCompile(runs: number): Promise<number[]> {
  const text = await readFile(join(REPO_ROOT, DEFAULT_CONFIG), "utf8");
  const helpers = await readHelperFiles();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const started = performance.now();
    compile(parseConfigText(text, DEFAULT_CONFIG), helpers);
    times.push(performance.now() - started);
  }
  return times;
}
