/**
 * What the bench builds: its generated files (compiled in process from its config, exactly as
 * `npm run generate -- --config …` writes them), scratch copies of its app to edit and pad, and
 * its targets resolved from the generated docker-bake.hcl as bake would. Two subjects: the bundled
 * fixture app (offline, seconds a build), and IOPaint 1.6.0's real packages from PyPI
 * (`--real`, scripts/bench/real.ts).
 */
import { randomBytes } from "node:crypto";
import { appendFile, cp, mkdir, open, readFile, writeFile } from "node:fs/promises";
import { dirname, join, relative } from "node:path";
import { resolveBake, type ResolvedTarget } from "../../generator/bake/resolve.ts";
import { compile, OUTPUT_FILES } from "../../generator/compile.ts";
import { loadConfigFile } from "../../generator/load.ts";
import { readHelperFiles, REPO_ROOT } from "../../generator/repo.ts";
import { writeOutputs } from "../../generator/write.ts";
import type { AddedPackage, RebuildKind, SubjectKind } from "./figures.ts";

export const FIXTURE_CONFIG = "test/fixtures/iopaint.fixture.toml";
export const FIXTURE_APP = join(REPO_ROOT, "test/fixtures/app");

export interface BenchSubject {
  kind: SubjectKind;
  /** Where bake would run: docker-bake.hcl, docker/Dockerfile and its ignore file. */
  dir: string;
  bake: string;
  /** The same generated files with no ignore file beside the Dockerfile, for the context measured without rules. */
  withoutRulesDir: string;
  /** The app every scratch copy is made from. */
  app: string;
  /** Bake variables every build gets besides IOPAINT_SRC and IOPAINT_IMAGE (the real run's CA certificate and Debian mirror). */
  variables: Record<string, string>;
  /** The real run's requirements.txt edits: one package added, a different release each repeat. */
  added: AddedPackage[];
}

/** The generated files of `config` (shown as `shownAs`, its locks read beside it) in `dir`, and again without the ignore file. */
export async function generateSubject(config: string, shownAs: string, dir: string): Promise<Pick<BenchSubject, "dir" | "bake" | "withoutRulesDir">> {
  const loaded = await loadConfigFile(config, shownAs);
  const { outputs } = compile(loaded, await readHelperFiles(), shownAs);
  await writeOutputs(dir, outputs);
  // Every generated file (the helpers too) but the ignore file.
  const withoutRulesDir = join(dir, "without-ignore-rules");
  await writeOutputs(withoutRulesDir, Object.fromEntries(Object.entries(outputs).filter(([file]) => file !== OUTPUT_FILES.ignore)));
  return { dir, bake: outputs[OUTPUT_FILES.bake], withoutRulesDir };
}

export async function fixtureSubject(dir: string): Promise<BenchSubject> {
  const generated = await generateSubject(join(REPO_ROOT, FIXTURE_CONFIG), FIXTURE_CONFIG, dir);
  return { kind: "fixture", ...generated, app: FIXTURE_APP, variables: {}, added: [] };
}

/** The subject's targets, with the build args `extraArgs` (a path's proxies) added. */
export function resolveTargets(subject: BenchSubject, names: string[], source: string, image: string, extraArgs: Record<string, string> = {}): Record<string, ResolvedTarget> {
  // Only these variables: a user's IOPAINT_VERSION or IOPAINT_CACHE must not change what is measured.
  const { target } = resolveBake(subject.bake, names, { ...subject.variables, IOPAINT_SRC: source, IOPAINT_IMAGE: image });
  for (const resolved of Object.values(target)) resolved.args = { ...resolved.args, ...extraArgs };
  return target;
}

/** Build output a developer's checkout of the fixture may hold; a fresh copy starts without it. */
function isBuildOutput(rel: string): boolean {
  if (rel === join("iopaint", "web_app")) return true;
  return rel.split("/").some((part) => ["node_modules", "dist", "build", "__pycache__"].includes(part) || part.endsWith(".egg-info") || part.endsWith(".pyc"));
}

/**
 * A fresh copy of the subject's app at a path never used before: BuildKit sends only what changed
 * since the last build from the same directory, so a new path is what makes a first build send
 * the whole context.
 */
export async function scratchCopy(subject: BenchSubject, parent: string, name: string): Promise<string> {
  const dir = join(parent, name);
  await cp(subject.app, dir, { recursive: true, filter: (src) => !isBuildOutput(relative(subject.app, src)) });
  return dir;
}

/**
 * One file of each kind; each edit appends a line carrying the run's nonce, since BuildKit caches
 * by content. The real run's requirements.txt edit also adds a package (applyEdit).
 */
export const EDITS: Record<Exclude<RebuildKind, "unchanged">, { file: string; line: (nonce: string) => string }> = {
  python: { file: "iopaint/api.py", line: (nonce) => `# bench edit ${nonce}` },
  frontend: { file: "web_app/src/style.css", line: (nonce) => `/* bench edit ${nonce} */` },
  requirements: { file: "requirements.txt", line: (nonce) => `# bench edit ${nonce}` },
};

/**
 * Edits `source` for a rebuild of `kind`, the `repeat`th (from 1). On the real packages a
 * requirements.txt edit adds that repeat's package in place of the one before it: what
 * requirements.txt gains since the lock is installed on its own, and an install BuildKit has seen
 * would come from its cache, so each repeat adds a release not added before.
 */
export async function applyEdit(subject: BenchSubject, source: string, kind: RebuildKind, nonce: string, repeat: number): Promise<void> {
  if (kind === "unchanged") return;
  const edit = EDITS[kind];
  const file = join(source, edit.file);
  const added = kind === "requirements" ? subject.added[repeat - 1] : undefined;
  if (!added) return appendFile(file, `\n${edit.line(nonce)}\n`);
  const kept = (await readFile(file, "utf8")).split("\n").filter((line) => !line.endsWith(BENCH_ADDED));
  await writeFile(file, `${kept.join("\n").trimEnd()}\n${edit.line(nonce)}\n${added.name}==${added.version} ${BENCH_ADDED}\n`);
}

/** Marks the line of the package a requirements.txt edit added (pip reads ` #` on as a comment). */
const BENCH_ADDED = "# added by the bench";

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
