/**
 * The fixture the bench builds: its generated files (compiled in process from the fixture's
 * config, exactly as `npm run generate -- --config …` writes them), scratch copies of the app to
 * edit and pad, and its targets resolved from the generated docker-bake.hcl as bake would.
 */
import { randomBytes } from "node:crypto";
import { appendFile, cp, mkdir, open } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { resolveBake, type ResolvedTarget } from "../../generator/bake/resolve.ts";
import { compile, OUTPUT_FILES } from "../../generator/compile.ts";
import { loadConfigFile } from "../../generator/load.ts";
import { readHelperFiles, REPO_ROOT } from "../../generator/repo.ts";
import { writeOutputs } from "../../generator/write.ts";
import type { RebuildKind } from "./figures.ts";

export const FIXTURE_CONFIG = "test/fixtures/iopaint.fixture.toml";
export const FIXTURE_APP = join(REPO_ROOT, "test/fixtures/app");

export interface GeneratedFixture {
  /** Where bake would run: docker-bake.hcl, docker/Dockerfile and its ignore file. */
  dir: string;
  bake: string;
  /** The same generated files with no ignore file beside the Dockerfile, for the context measured without rules. */
  withoutRulesDir: string;
}

export async function generateFixture(dir: string): Promise<GeneratedFixture> {
  const loaded = await loadConfigFile(join(REPO_ROOT, FIXTURE_CONFIG));
  const { outputs } = compile({ ...loaded, file: FIXTURE_CONFIG }, await readHelperFiles(), FIXTURE_CONFIG);
  await writeOutputs(dir, outputs);
  // Every generated file (the helpers too) but the ignore file.
  const withoutRulesDir = join(dir, "without-ignore-rules");
  await writeOutputs(withoutRulesDir, Object.fromEntries(Object.entries(outputs).filter(([file]) => file !== OUTPUT_FILES.ignore)));
  return { dir, bake: outputs[OUTPUT_FILES.bake], withoutRulesDir };
}

export function resolveTargets(fixture: GeneratedFixture, names: string[], source: string, image: string): Record<string, ResolvedTarget> {
  // Only these variables: a user's IOPAINT_VERSION or IOPAINT_CACHE must not change what is measured.
  return resolveBake(fixture.bake, names, { IOPAINT_SRC: source, IOPAINT_IMAGE: image }).target;
}

/** Build output a developer's checkout of the fixture may hold; a fresh copy starts without it. */
function isBuildOutput(rel: string): boolean {
  if (rel === join("iopaint", "web_app")) return true;
  return rel.split("/").some((part) => ["node_modules", "dist", "build", "__pycache__"].includes(part) || part.endsWith(".egg-info") || part.endsWith(".pyc"));
}

/**
 * A fresh copy of the fixture app at a path never used before: BuildKit sends only what changed
 * since the last build from the same directory, so a new path is what makes a first build send
 * the whole context.
 */
export async function scratchCopy(parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await cp(FIXTURE_APP, dir, { recursive: true, filter: (src) => !isBuildOutput(relative(FIXTURE_APP, src)) });
  return dir;
}

/** One file of each kind; each edit appends a line carrying the run's nonce, since BuildKit caches by content. */
export const EDITS: Record<Exclude<RebuildKind, "unchanged">, { file: string; line: (nonce: string) => string }> = {
  python: { file: "iopaint/api.py", line: (nonce) => `# bench edit ${nonce}` },
  frontend: { file: "web_app/src/style.css", line: (nonce) => `/* bench edit ${nonce} */` },
  requirements: { file: "requirements.txt", line: (nonce) => `# bench edit ${nonce}` },
};

export async function applyEdit(source: string, kind: RebuildKind, nonce: string): Promise<void> {
  if (kind === "unchanged") return;
  const edit = EDITS[kind];
  await appendFile(join(source, edit.file), `\n${edit.line(nonce)}\n`);
}

/**
 * What a developer's checkout accumulates and the ignore rules must keep out: git objects,
 * node_modules, a virtualenv, bytecode and build output. Placed where a build without the rules
 * still succeeds (nothing here is picked up by setup.py or the front-end build).
 */
export const PADDING = [
  ".git/objects/pack/pack-bench.pack",
  "node_modules/.cache/bench.bin",
  "web_app/node_modules/.vite/deps/bench.js",
  "venv/lib/python3.11/site-packages/bench.so",
  "iopaint/__pycache__/api.cpython-311.pyc",
  "dist/IOPaint-1.6.0-py3-none-any.whl",
  "build/temp.linux-x86_64-cpython-311/bench.o",
  "web_app/dist/assets/bench.js",
];

/** Fills those paths with `totalBytes` of random (incompressible) bytes; returns the bytes written. */
export async function pad(source: string, totalBytes: number): Promise<number> {
  const each = Math.ceil(totalBytes / PADDING.length);
  const chunk = 1 << 20;
  for (const path of PADDING) {
    const file = join(source, path);
    await mkdir(dirname(file), { recursive: true });
    const handle = await open(file, "w");
    try {
      for (let written = 0; written < each; written += chunk) await handle.write(randomBytes(Math.min(chunk, each - written)));
    } finally {
      await handle.close();
    }
  }
  return each * PADDING.length;
}
