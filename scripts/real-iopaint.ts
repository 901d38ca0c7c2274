/**
 * IOPaint 1.6.0's real Python side, as a checkout the generated Dockerfile builds (the real-packages
 * test, `npm run bench -- --real`): fetched from PyPI by this machine's own pip (its index, proxy
 * and CA settings) into a cache, never committed.
 *
 * PyPI's sdist of 1.6.0 lacks the requirements.txt its setup.py reads, so the checkout is the
 * wheel's `iopaint/` tree plus what a git checkout has beside it, rebuilt from the wheel's
 * metadata: requirements.txt (its Requires-Dist lines, which setup.py took from requirements.txt),
 * README.md (its long description) and a setup.py of ours that packages it as upstream's does
 * (test/fixtures/real-iopaint/setup.py). The front end is the fixture's `web_app/`: IOPaint's own
 * lives only in its git repository.
 */
import { cp, mkdir, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { execa } from "execa";
import { REPO_ROOT } from "../generator/repo.ts";
import { CUDA_STANDIN, NODE_STANDIN, PYTHON_STANDIN } from "./engine/base-images.ts";

export const REAL_IOPAINT_VERSION = "1.6.0";

/** Where fetched packages are kept between runs (git-ignored). */
export const REAL_CACHE = join(REPO_ROOT, ".cache/real-iopaint");

/** The checkout (made once, then reused): `${REAL_CACHE}/IOPaint-1.6.0`. */
export async function realCheckout(): Promise<string> {
  const checkout = join(REAL_CACHE, `IOPaint-${REAL_IOPAINT_VERSION}`);
  if (existsSync(join(checkout, "setup.py"))) return checkout;
  const wheel = await downloadWheel("iopaint", REAL_IOPAINT_VERSION);

  const partial = `${checkout}.partial`;
  await rm(partial, { recursive: true, force: true });
  await execa("python3", ["-m", "zipfile", "--extract", wheel, partial]);
  const distInfo = join(partial, `IOPaint-${REAL_IOPAINT_VERSION}.dist-info`);
  const metadata = await readFile(join(distInfo, "METADATA"), "utf8");
  await writeFile(join(partial, "requirements.txt"), `${requirementsOf(metadata).join("\n")}\n`);
  await writeFile(join(partial, "README.md"), longDescriptionOf(metadata));
  await cp(join(REPO_ROOT, "test/fixtures/real-iopaint/setup.py"), join(partial, "setup.py"));
  await cp(join(REPO_ROOT, "test/fixtures/app/web_app"), join(partial, "web_app"), { recursive: true });
  // The wheel's built UI and metadata are not part of a checkout: the image builds its own.
  await rm(join(partial, "iopaint/web_app"), { recursive: true, force: true });
  await rm(distInfo, { recursive: true, force: true });
  await rename(partial, checkout);
  return checkout;
}

/** Pure: a wheel's METADATA Requires-Dist lines as requirements.txt lines ("torch >=2.0.0" → "torch>=2.0.0"). */
export function requirementsOf(metadata: string): string[] {
  return [...metadata.matchAll(/^Requires-Dist: (.+)$/gm)].map((match) => match[1].replace(/\s+(?=[<>=!~])/g, "").trim());
}

/** Pure: the body after METADATA's headers (the long description). */
export function longDescriptionOf(metadata: string): string {
  const blank = metadata.search(/\r?\n\r?\n/);
  return blank < 0 ? "" : metadata.slice(blank).trimStart();
}

/** The pip wheel of a given release, fetched once (for `pip check` in an image that has no pip). */
export function pipWheel(version: string): Promise<string> {
  return downloadWheel("pip", version, join(REAL_CACHE, "pip"));
}

/** One release's wheel, by this machine's pip (a file already in `dir` is reused), as its path. */
export async function downloadWheel(name: string, version: string, dir = join(REAL_CACHE, "downloads")): Promise<string> {
  await mkdir(dir, { recursive: true });
  await execa("python3", ["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--dest", dir, `${name}==${version}`]);
  const wheel = (await readdir(dir)).find((file) => file.toLowerCase().startsWith(`${name.replace(/-/g, "_")}-${version}-`) && file.endsWith(".whl"));
  if (!wheel) throw new Error(`pip download left no ${name} ${version} wheel in ${dir}`);
  return join(dir, wheel);
}

/** A setting of this machine's pip (`pip config list`: its files, then PIP_* variables), e.g. "index-url", "cert". */
export async function pipSetting(key: string): Promise<string | undefined> {
  const listed = (await execa("python3", ["-m", "pip", "config", "list"])).stdout;
  const values = new Map([...listed.matchAll(/^([^.\n]*)\.([\w-]+)='(.*)'$/gm)].map((match) => [`${match[1]}.${match[2]}`, match[3]]));
  return values.get(`:env:.${key}`) ?? values.get(`global.${key}`) ?? values.get(`install.${key}`);
}

/** The index this machine's pip is configured with (its own default when none is set). */
export async function machinePipIndex(): Promise<string> {
  return (await pipSetting("index-url")) ?? (await execa("python3", ["-c", "from pip._internal.models.index import PyPI; print(PyPI.simple_url)"])).stdout.trim();
}

/**
 * Pure: config/iopaint.toml as the real-packages test and bench build it. Declared differences, each
 * checked to apply: torch, torchvision and xformers from `index` (PyPI's CUDA 12.1 builds, which
 * run on a CPU too; PyTorch's index is out of reach here) like every other package; the local
 * stand-in base images for Docker Hub's, so Python 3.11 (Debian's) for 3.10 and its packages for
 * Ubuntu's python3.10; an image name of its own; cpu for amd64 alone (pip would resolve its arm64
 * lock under emulation; the real-packages test locks both platforms with uv, which needs none);
 * cpu's budget as gpu's, `5GB compressed`, since PyPI's torch brings its CUDA libraries (about
 * 5 GB unpacked) that PyTorch's CPU wheels, which cpu's `3GB` is for, do not have. A compressed
 * budget is also what `docker image inspect` gives on the containerd store: a build checked
 * against it needs no `docker save` of the image (minutes for these).
 */
export function realConfig(config: string, index: string, standIns: { python: string; cuda: string; node: string }): string {
  const replacements: [from: RegExp, to: string][] = [
    [/^name = "iopaint"/m, 'name = "iopaint-real"'],
    [/^python = "3\.10"/m, 'python = "3.11"'],
    [/^index_url = ".*"/m, `index_url = "${index}"`],
    [/^torch_index_url = ".*"/m, `torch_index_url = "${index}"`],
    [/^image = "node:[^"]+"/m, `image = "${standIns.node}"`],
    [/^base_image = "python:3\.10-slim"/m, `base_image = "${standIns.python}"`],
    [/^base_image = "nvidia\/cuda:[^"]+"/m, `base_image = "${standIns.cuda}"`],
    [/"python3\.10", /, '"python3.11", '],
    [/"python3\.10-venv"/, '"python3.11-venv"'],
    [/^platforms = \["linux\/amd64", "linux\/arm64"\]/m, 'platforms = ["linux/amd64"]'],
    [/^size_budget = "3GB"$/m, 'size_budget = "5GB compressed"'],
  ];
  let text = config.replace(/^#:schema .*\n/, "");
  for (const [from, to] of replacements) {
    if (!from.test(text)) throw new Error(`config/iopaint.toml has no ${from}: update realConfig`);
    text = text.replace(from, to);
  }
  return text;
}

/** config/iopaint.toml as realConfig makes it, with this machine's pip index and the local stand-in bases. */
export async function realConfigText(): Promise<string> {
  const config = await readFile(join(REPO_ROOT, "config/iopaint.toml"), "utf8");
  return realConfig(config, await machinePipIndex(), { python: PYTHON_STANDIN, cuda: CUDA_STANDIN, node: NODE_STANDIN });
}
