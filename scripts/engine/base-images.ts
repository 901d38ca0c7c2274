/**
 * Stand-in base images for tests, made here with debootstrap + `docker import` (no registry is
 * reachable). Each image carries a label with the hash of its recipe; an image whose label
 * matches is reused, and a changed recipe rebuilds it. The root file systems are kept as tar
 * files per recipe hash under the engines' state root, so the second engine imports them in
 * seconds instead of running debootstrap again.
 *
 *   iopaint-standin/python:3.11-bookworm         Debian's python3 (3.11) + /opt/wheelhouse (with uv's real wheels)
 *   iopaint-standin/cuda:11.8.0-runtime-bookworm the python stand-in + nvidia/cuda's ENV (CPU only)
 *   iopaint-standin/node:18-bookworm             Debian's nodejs 18 + npm 9
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { execa } from "execa";
import { aptHasPackage, EngineEnvironmentError, ensureHostPackages, mountsUnder, pidAlive, readDebianMirror, tailFile, withStateLock } from "./host.ts";
import { Docker } from "../docker/docker.ts";
import { engineStateRoot, type Engine } from "./private-engine.ts";

export const PYTHON_STANDIN = "iopaint-standin/python:3.11-bookworm";
export const CUDA_STANDIN = "iopaint-standin/cuda:11.8.0-runtime-bookworm";
export const NODE_STANDIN = "iopaint-standin/node:18-bookworm";

/**
 * The uv release in the python stand-in's wheelhouse, for python.installer = "uv": the one
 * test/fixtures/iopaint.fixture.toml pins (versions.uv; a unit test keeps them one). Real wheels,
 * since uv is a binary: this machine's pip fetches them, one per architecture, and every stand-in's
 * wheelhouse holds both, as PyPI does (uv resolves an arm64 lock from an amd64 builder).
 */
export const STANDIN_UV_VERSION = "0.13.9";

/** uv's wheels for x86_64 and aarch64, fetched once by this machine's pip into the state root. */
async function uvWheels(): Promise<string[]> {
  const dir = path.join(engineStateRoot(), "wheels");
  fs.mkdirSync(dir, { recursive: true });
  const wheels: string[] = [];
  for (const machine of ["x86_64", "aarch64"]) {
    const existing = () => fs.readdirSync(dir).find((file) => file.startsWith(`uv-${STANDIN_UV_VERSION}-`) && file.endsWith(`${machine}.whl`));
    if (!existing()) {
      const args = ["-m", "pip", "download", "--no-deps", "--only-binary", ":all:", "--platform", `manylinux2014_${machine}`, "--dest", dir, `uv==${STANDIN_UV_VERSION}`];
      const result = await execa("python3", args, { reject: false, all: true });
      if (result.exitCode !== 0)
        throw new EngineEnvironmentError(`pip could not fetch uv ${STANDIN_UV_VERSION} for ${machine}`, "check this machine's pip index (pip config list) and network", result.all);
    }
    const wheel = existing();
    if (!wheel) throw new EngineEnvironmentError(`pip download left no uv ${STANDIN_UV_VERSION} wheel for ${machine} in ${dir}`, "check this machine's pip index (pip config list)");
    wheels.push(path.join(dir, wheel));
  }
  return wheels;
}

export const DEFAULT_WHEEL_SPECS: readonly string[] = [
  "cpu:torch==2.1.2+cpu",
  "cpu:torchvision==0.16.2+cpu",
  "cu118:torch==2.1.2+cu118",
  "cu118:torchvision==0.16.2+cu118",
  "cu118:xformers==0.0.23.post1",
  // IOPaint's plugin packages (extra_python_packages' default): module stand-ins with __version__.
  "pypi:onnxruntime==1.19.2",
  "pypi:rembg==2.0.57",
  // The fixture's requirements.txt, shaped like IOPaint's: unpinned dependencies with their own
  // dependencies, and more than one release of some, so that a resolver has choices and a lock
  // (npm run lock) has something to pin. Versions follow the real packages' releases of early 2024.
  "pypi:fastapi==0.108.0;requires=starlette>=0.29.0,<0.33.0|pydantic>=1.7.4|typing-extensions>=4.8.0",
  "pypi:starlette==0.32.0;requires=anyio>=3.4.0",
  "pypi:anyio==4.2.0;requires=idna>=2.8|sniffio>=1.1",
  "pypi:idna==3.6",
  "pypi:sniffio==1.3.0",
  "pypi:pydantic==2.5.3;requires=typing-extensions>=4.6.1",
  "pypi:typing-extensions==4.9.0",
  "pypi:typing-extensions==4.10.0",
  "pypi:uvicorn==0.27.0;requires=click>=7.0|h11>=0.8",
  "pypi:uvicorn==0.29.0;requires=click>=7.0|h11>=0.8",
  "pypi:click==8.1.7",
  "pypi:h11==0.14.0",
  "pypi:rich==13.7.1;requires=markdown-it-py>=2.2.0|pygments>=2.13.0",
  "pypi:markdown-it-py==3.0.0;requires=mdurl~=0.1",
  "pypi:mdurl==0.1.2",
  "pypi:pygments==2.17.2",
  "pypi:pygments==2.18.0",
  "pypi:loguru==0.7.2",
  "pypi:omegaconf==2.3.0;requires=antlr4-python3-runtime==4.9.*|PyYAML>=5.1.0",
  "pypi:antlr4-python3-runtime==4.9.3",
  "pypi:pyyaml==6.0.1",
  "pypi:typer==0.9.0;requires=click>=7.1.1,<9.0.0|typing-extensions>=3.7.4.3",
  "pypi:piexif==1.1.3",
];

/** Label holding the recipe hash; an image whose label matches the current recipe is reused. */
export const RECIPE_LABEL = "org.iopaint.standin.recipe";
const DESCRIPTION_LABEL = "org.opencontainers.image.description";
/** Bump to rebuild every stand-in after a change in this file that the recipes do not show. */
const RECIPE_VERSION = 1;
const SUITE = "bookworm";
const VARIANT = "minbase";
const BASE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const CHROOT_ENV = { PATH: BASE_PATH, HOME: "/root", LANG: "C.UTF-8", DEBIAN_FRONTEND: "noninteractive" };

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const WHEELHOUSE_FIXTURE_DIR = path.resolve(HERE, "../../test/fixtures/wheelhouse");

export interface StandInOptions {
  /** Progress lines; default: stderr. */
  log?: (line: string) => void;
}

export interface PythonBaseOptions extends StandInOptions {
  /** `INDEX:NAME==VERSION[;OPTION=VALUE]` for make_wheelhouse.py. Default: DEFAULT_WHEEL_SPECS. */
  wheelSpecs?: readonly string[];
  /** arm64: the linux/arm64 build of the python stand-in, tagged `…-arm64` (needs ensureArm64Emulation first). */
  arch?: "amd64" | "arm64";
}

export interface StandInImage {
  ref: string;
  /** Image ID (`sha256:...`). */
  id: string;
  recipeHash: string;
  reused: boolean;
  seconds: number;
}

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

// ---------------------------------------------------------------------------------------------
// Small process helpers

/** Run a command, appending its output to `logFile`; on failure throw with the log's tail. */
async function run(logFile: string, file: string, args: readonly string[], opts: { env?: Record<string, string>; input?: string; what?: string } = {}): Promise<string> {
  fs.appendFileSync(logFile, `\n$ ${file} ${args.join(" ")}\n`);
  const r = await execa(file, args, {
    reject: false,
    all: true,
    ...(opts.input !== undefined ? { input: opts.input } : { stdin: "ignore" as const }),
    ...(opts.env ? { env: opts.env, extendEnv: false } : {}),
  });
  fs.appendFileSync(logFile, `${String(r.all ?? "")}\n`);
  if (r.exitCode !== 0) {
    throw new Error(
      `${opts.what ?? `${file} ${args.slice(0, 3).join(" ")}`} failed (${r.exitCode === undefined ? r.shortMessage : `exit ${r.exitCode}`}); last lines of ${logFile}:\n${tailFile(logFile, 20)}`,
    );
  }
  return String(r.stdout ?? "");
}

function docker(engine: Engine, args: readonly string[], input?: string) {
  return new Docker(engine).run(args, input !== undefined ? { input } : {});
}

async function imageLabels(engine: Engine, ref: string): Promise<{ id: string; labels: Record<string, string> } | undefined> {
  const r = await docker(engine, ["image", "inspect", "--format", "{{.Id}} {{json .Config.Labels}}", ref]);
  if (r.exitCode !== 0) return undefined;
  const text = String(r.stdout).trim();
  const space = text.indexOf(" ");
  const labels = JSON.parse(text.slice(space + 1)) as Record<string, string> | null;
  return { id: text.slice(0, space), labels: labels ?? {} };
}

function sha256(data: string | Buffer): string {
  return createHash("sha256").update(data).digest("hex");
}

function hashTree(dir: string): string {
  const h = createHash("sha256");
  const walk = (d: string) => {
    for (const entry of fs.readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      if (entry.name === "__pycache__" || entry.name.endsWith(".pyc")) continue;
      const full = path.join(d, entry.name);
      if (entry.isDirectory()) walk(full);
      else if (entry.isFile())
        h.update(`${path.relative(dir, full)}\0`)
          .update(fs.readFileSync(full))
          .update("\0");
    }
  };
  walk(dir);
  return h.digest("hex");
}

// ---------------------------------------------------------------------------------------------
// Mounts and temp dirs: never delete through a mount

async function unmountUnder(dir: string): Promise<void> {
  for (const m of mountsUnder(dir)) {
    const r = await execa("umount", [m], { reject: false });
    if (r.exitCode !== 0) await execa("umount", ["--lazy", m], { reject: false });
  }
}

async function removeTree(dir: string): Promise<void> {
  if (!fs.existsSync(dir)) return;
  await unmountUnder(dir);
  const left = mountsUnder(dir);
  if (left.length > 0) throw new Error(`refusing to delete ${dir}: still mounted: ${left.join(", ")}`);
  await execa("rm", ["-rf", "--one-file-system", dir]);
}

/** Bind-mount /proc into the tree for `fn`, and unmount it even when `fn` fails. */
async function withProc<T>(root: string, fn: () => Promise<T>): Promise<T> {
  const proc = path.join(root, "proc");
  fs.mkdirSync(proc, { recursive: true });
  await execa("mount", ["--bind", "/proc", proc]);
  try {
    return await fn();
  } finally {
    await unmountUnder(root);
  }
}

/** Remove work dirs left by runs that died (their pid is in the name). */
async function removeStaleWorkDirs(tmpRoot: string): Promise<void> {
  if (!fs.existsSync(tmpRoot)) return;
  for (const name of fs.readdirSync(tmpRoot)) {
    const pid = Number.parseInt(/-(\d+)-[^-]+$/.exec(name)?.[1] ?? "", 10);
    if (pid && !pidAlive(pid)) await removeTree(path.join(tmpRoot, name));
  }
}

// ---------------------------------------------------------------------------------------------
// Root file systems

interface RootfsRecipe {
  ref: string;
  /** Debian architecture; arm64 is made under QEMU emulation (scripts/engine/emulation.ts). Default amd64. */
  arch?: "amd64" | "arm64";
  /** Packages for `debootstrap --include`. */
  include: string[];
  /** Packages that debootstrap cannot order (npm): installed afterwards with apt-get in a chroot. */
  chrootInstall: string[];
  /** `docker import --change` lines (Dockerfile syntax), without the recipe label. */
  changes: string[];
  /** Anything else the result depends on (scripts, their inputs). */
  extra: Record<string, unknown>;
  /** Steps inside the tree after the packages are in. */
  finish?: (root: string, logFile: string) => Promise<void>;
  estimate: string;
}

function chroot(root: string, logFile: string, args: string[], what: string): Promise<string> {
  return run(logFile, "chroot", [root, ...args], { env: CHROOT_ENV, what });
}

async function chrootAptInstall(root: string, logFile: string, pkgs: string[]): Promise<void> {
  // apt in the chroot needs name resolution and /proc.
  fs.copyFileSync("/etc/resolv.conf", path.join(root, "etc/resolv.conf"));
  await withProc(root, async () => {
    await chroot(root, logFile, ["apt-get", "update"], "apt-get update in the chroot");
    await chroot(root, logFile, ["apt-get", "install", "-y", "--no-install-recommends", ...pkgs], `apt-get install ${pkgs.join(" ")} in the chroot`);
  });
}

/** Delete what a base image should not carry: apt lists and caches, logs, host files. */
function tidyRootfs(root: string): void {
  const emptyDir = (rel: string, keep: string[] = []) => {
    const dir = path.join(root, rel);
    if (!fs.existsSync(dir)) return;
    for (const name of fs.readdirSync(dir)) if (!keep.includes(name)) fs.rmSync(path.join(dir, name), { recursive: true, force: true });
  };
  emptyDir("var/lib/apt/lists", ["partial", "lock"]);
  emptyDir("var/lib/apt/lists/partial");
  emptyDir("var/cache/apt", ["archives"]);
  emptyDir("var/cache/apt/archives", ["partial", "lock"]);
  emptyDir("var/cache/apt/archives/partial");
  emptyDir("var/log/apt");
  emptyDir("tmp");
  emptyDir("var/tmp");
  for (const rel of ["root/.npm", "root/.cache", "var/cache/debconf/config.dat-old", "var/cache/debconf/templates.dat-old"]) {
    fs.rmSync(path.join(root, rel), { recursive: true, force: true });
  }
  // Docker mounts its own at run time; do not ship the host's.
  fs.writeFileSync(path.join(root, "etc/resolv.conf"), "");
  fs.writeFileSync(path.join(root, "etc/hostname"), "localhost\n");
}

function recipeHashOf(recipe: RootfsRecipe, include: string[]): string {
  return sha256(
    JSON.stringify({
      v: RECIPE_VERSION,
      ref: recipe.ref,
      // Absent for amd64, so the recipes made before arm64 existed keep their hash.
      ...(recipe.arch && recipe.arch !== "amd64" ? { arch: recipe.arch } : {}),
      suite: SUITE,
      variant: VARIANT,
      include,
      chrootInstall: recipe.chrootInstall,
      changes: recipe.changes,
      extra: recipe.extra,
    }),
  ).slice(0, 32);
}

async function ensureRootfsImage(engine: Engine, recipe: RootfsRecipe, log: (line: string) => void): Promise<StandInImage> {
  const hash = recipeHashOf(recipe, recipe.include);
  const stateDir = path.join(engineStateRoot(), "base-images");
  const started = Date.now();
  const existing = await imageLabels(engine, recipe.ref);
  if (existing?.labels[RECIPE_LABEL] === hash) {
    log(`[base-images] ${recipe.ref} reused`);
    return { ref: recipe.ref, id: existing.id, recipeHash: hash, reused: true, seconds: (Date.now() - started) / 1000 };
  }
  return withStateLock(stateDir, `image-${slug(recipe.ref)}`, async () => {
    const again = await imageLabels(engine, recipe.ref);
    if (again?.labels[RECIPE_LABEL] === hash) {
      log(`[base-images] ${recipe.ref} reused (made by another run)`);
      return { ref: recipe.ref, id: again.id, recipeHash: hash, reused: true, seconds: (Date.now() - started) / 1000 };
    }
    const logDir = path.join(stateDir, "logs");
    fs.mkdirSync(logDir, { recursive: true });
    const logFile = path.join(logDir, `${slug(recipe.ref)}.log`);
    const rootfsTar = path.join(stateDir, `${slug(recipe.ref)}-${hash}.tar`);
    if (fs.existsSync(rootfsTar)) {
      log(`[base-images] importing ${recipe.ref} from ${rootfsTar}…`);
      fs.appendFileSync(logFile, `\n# ${recipe.ref} recipe ${hash}: import of the kept root file system\n`);
    } else {
      log(`[base-images] building ${recipe.ref} (${recipe.estimate})…${again ? " (recipe changed)" : ""}`);
      fs.writeFileSync(logFile, `# ${recipe.ref} recipe ${hash}\n`);
      await buildRootfsTar(recipe, rootfsTar, logFile, log);
    }
    const changes = [...recipe.changes, `LABEL ${RECIPE_LABEL}=${hash}`].flatMap((c) => ["--change", c]);
    fs.appendFileSync(logFile, `\n$ docker import ${changes.join(" ")} ${rootfsTar} ${recipe.ref}\n`);
    const imported = await docker(engine, ["import", ...(recipe.arch ? ["--platform", `linux/${recipe.arch}`] : []), ...changes, rootfsTar, recipe.ref]);
    if (imported.exitCode !== 0) {
      fs.appendFileSync(logFile, `${String(imported.all ?? "")}\n`);
      throw new Error(`docker import of ${recipe.ref} failed; last lines of ${logFile}:\n${tailFile(logFile, 20)}`);
    }
    const made = await imageLabels(engine, recipe.ref);
    if (!made) throw new Error(`${recipe.ref} is missing right after docker import`);
    if (again && again.id !== made.id) await docker(engine, ["image", "rm", again.id]); // the old recipe's image; fails harmlessly if in use
    const seconds = (Date.now() - started) / 1000;
    log(`[base-images] ${recipe.ref} built in ${seconds.toFixed(0)} s (${made.id.slice(7, 19)})`);
    return { ref: recipe.ref, id: made.id, recipeHash: hash, reused: false, seconds };
  });
}

/**
 * debootstrap the recipe's root file system and keep it as `tarFile` (written beside and renamed
 * into place, so a kept tar file is always whole). Older recipes' tar files of the image go.
 */
async function buildRootfsTar(recipe: RootfsRecipe, tarFile: string, logFile: string, log: (line: string) => void): Promise<void> {
  await ensureHostPackages(log);
  const mirror = readDebianMirror(SUITE);
  const stateDir = path.dirname(tarFile);
  const tmpRoot = path.join(stateDir, "build-tmp");
  fs.mkdirSync(tmpRoot, { recursive: true });
  await removeStaleWorkDirs(tmpRoot);
  const work = fs.mkdtempSync(path.join(tmpRoot, `${slug(recipe.ref)}-${process.pid}-`));
  const root = path.join(work, "rootfs");
  try {
    let chrootInstall = recipe.chrootInstall;
    const debootstrap = (include: string[]) =>
      run(logFile, "debootstrap", [`--variant=${VARIANT}`, ...(recipe.arch ? [`--arch=${recipe.arch}`] : []), ...(include.length ? [`--include=${include.join(",")}`] : []), SUITE, root, mirror], {
        what: "debootstrap",
      });
    try {
      await debootstrap(recipe.include);
    } catch (e) {
      if (recipe.include.length === 0) throw e;
      // debootstrap resolves --include poorly for some packages; fall back to apt in a chroot.
      log(`[base-images] debootstrap --include failed for ${recipe.ref}; retrying with apt-get in a chroot (see ${logFile})`);
      await removeTree(root);
      await debootstrap([]);
      chrootInstall = [...recipe.include, ...recipe.chrootInstall];
    }
    if (chrootInstall.length > 0) await chrootAptInstall(root, logFile, chrootInstall);
    if (recipe.finish) await recipe.finish(root, logFile);
    tidyRootfs(root);
    const partial = path.join(work, "rootfs.tar");
    await run(logFile, "tar", ["--numeric-owner", "-C", root, "-cf", partial, "."], { what: "tar of the root file system" });
    for (const old of fs.readdirSync(stateDir)) if (old.startsWith(`${slug(recipe.ref)}-`) && old.endsWith(".tar")) fs.rmSync(path.join(stateDir, old));
    fs.renameSync(partial, tarFile);
  } finally {
    await removeTree(work);
  }
}

function slug(ref: string): string {
  return ref.replace(/[^A-Za-z0-9.]+/g, "_");
}

const standInDescription = (what: string) =>
  `LABEL ${DESCRIPTION_LABEL}="Test stand-in for ${what}, made locally from Debian bookworm (debootstrap minbase) for IOPaint's image tests; not for production"`;

// ---------------------------------------------------------------------------------------------
// The three images

/** `iopaint-standin/python:3.11-bookworm`: Debian's python3 3.11, venv, and a wheelhouse at /opt/wheelhouse. */
export async function ensurePythonBase(engine: Engine, opts: PythonBaseOptions = {}): Promise<StandInImage> {
  const log = opts.log ?? defaultLog;
  const wheelSpecs = [...(opts.wheelSpecs ?? DEFAULT_WHEEL_SPECS)];
  const script = path.join(WHEELHOUSE_FIXTURE_DIR, "make_wheelhouse.py");
  if (!fs.existsSync(script)) {
    throw new EngineEnvironmentError(`${script} is missing`, "restore test/fixtures/wheelhouse/ from the repository");
  }
  const include = ["python3", "python3-venv", "python3-pip-whl", "python3-setuptools-whl", "passwd", "libsm6", "libxext6"];
  // setuptools' build isolation needs a wheel of `wheel`; bookworm ships one as python3-wheel-whl.
  if (await aptHasPackage("python3-wheel-whl", log)) include.push("python3-wheel-whl");
  const arm64 = opts.arch === "arm64";
  const uv = await uvWheels();
  return ensureRootfsImage(
    engine,
    {
      ref: arm64 ? `${PYTHON_STANDIN}-arm64` : PYTHON_STANDIN,
      ...(arm64 ? { arch: "arm64" as const } : {}),
      include,
      chrootInstall: [],
      estimate: arm64 ? "about 4 min under emulation" : "about 1 min",
      changes: [
        `ENV PATH=${BASE_PATH}`,
        "ENV LANG=C.UTF-8",
        standInDescription("python:3.11-bookworm (Debian's /usr/bin/python3 3.11, no system pip; wheelhouse in /opt/wheelhouse)"),
        'CMD ["python3"]',
      ],
      extra: { wheelSpecs, wheelhouseFixture: hashTree(WHEELHOUSE_FIXTURE_DIR), pythonSymlink: true, uvWheels: uv.map((wheel) => path.basename(wheel)) },
      finish: async (root, logFile) => {
        // Like the official image, `python` is Python 3.
        fs.mkdirSync(path.join(root, "usr/local/bin"), { recursive: true });
        fs.symlinkSync("/usr/bin/python3", path.join(root, "usr/local/bin/python"));
        const src = path.join(root, "tmp/iopaint-wheelhouse-src");
        fs.cpSync(WHEELHOUSE_FIXTURE_DIR, src, { recursive: true, filter: (f) => !f.includes("__pycache__") });
        for (const wheel of uv) fs.copyFileSync(wheel, path.join(src, path.basename(wheel)));
        await withProc(root, () =>
          chroot(
            root,
            logFile,
            [
              "env",
              "PYTHONDONTWRITEBYTECODE=1",
              "/usr/bin/python3",
              "/tmp/iopaint-wheelhouse-src/make_wheelhouse.py",
              "/opt/wheelhouse",
              ...wheelSpecs,
              "--copy-wheels",
              "pypi:/usr/share/python-wheels",
              ...uv.flatMap((wheel) => ["--copy-wheels", `pypi:/tmp/iopaint-wheelhouse-src/${path.basename(wheel)}`]),
            ],
            "make_wheelhouse.py in the chroot",
          ),
        );
        fs.rmSync(src, { recursive: true, force: true });
      },
    },
    log,
  );
}

/** `iopaint-standin/cuda:11.8.0-runtime-bookworm`: the python stand-in with nvidia/cuda's ENV. CPU only. */
export async function ensureCudaStandIn(engine: Engine, opts: PythonBaseOptions = {}): Promise<StandInImage> {
  return cudaFrom(engine, await ensurePythonBase(engine, opts), opts.log ?? defaultLog);
}

async function cudaFrom(engine: Engine, python: StandInImage, log: (line: string) => void): Promise<StandInImage> {
  const started = Date.now();
  const body = [
    `FROM ${PYTHON_STANDIN}`,
    "ENV CUDA_VERSION=11.8.0 NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility",
    "ENV PATH=/usr/local/nvidia/bin:/usr/local/cuda/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "ENV LD_LIBRARY_PATH=/usr/local/nvidia/lib:/usr/local/nvidia/lib64",
    standInDescription("nvidia/cuda:11.8.0-runtime-ubuntu22.04 (CPU only: no CUDA libraries, no GPU; Debian's python3 3.11 is already inside, unlike the real image)"),
    'LABEL org.iopaint.standin.for="nvidia/cuda:11.8.0-runtime-ubuntu22.04" org.iopaint.standin.cpu-only="true"',
  ];
  // The python stand-in's image ID is part of the recipe: rebuilding it rebuilds this one.
  const hash = sha256(JSON.stringify({ v: RECIPE_VERSION, base: python.id, body })).slice(0, 32);
  const existing = await imageLabels(engine, CUDA_STANDIN);
  if (existing?.labels[RECIPE_LABEL] === hash) {
    log(`[base-images] ${CUDA_STANDIN} reused`);
    return { ref: CUDA_STANDIN, id: existing.id, recipeHash: hash, reused: true, seconds: (Date.now() - started) / 1000 };
  }
  log(`[base-images] building ${CUDA_STANDIN} (a few seconds)…`);
  const dockerfile = `${[...body, `LABEL ${RECIPE_LABEL}=${hash}`].join("\n")}\n`;
  // BuildKit uses the local image for FROM without a pull; no context is needed.
  const r = await docker(engine, ["build", "--tag", CUDA_STANDIN, "-"], dockerfile);
  if (r.exitCode !== 0) {
    throw new Error(`docker build of ${CUDA_STANDIN} failed:\n${String(r.all).split("\n").slice(-20).join("\n")}`);
  }
  const made = await imageLabels(engine, CUDA_STANDIN);
  if (!made) throw new Error(`${CUDA_STANDIN} is missing right after docker build`);
  if (existing && existing.id !== made.id) await docker(engine, ["image", "rm", existing.id]);
  const seconds = (Date.now() - started) / 1000;
  log(`[base-images] ${CUDA_STANDIN} built in ${seconds.toFixed(0)} s (${made.id.slice(7, 19)})`);
  return { ref: CUDA_STANDIN, id: made.id, recipeHash: hash, reused: false, seconds };
}

/** `iopaint-standin/node:18-bookworm`: Debian's nodejs 18 and npm 9, user `node` (1000:1000) like the official image. */
export async function ensureNodeBase(engine: Engine, opts: StandInOptions = {}): Promise<StandInImage> {
  const log = opts.log ?? defaultLog;
  return ensureRootfsImage(
    engine,
    {
      ref: NODE_STANDIN,
      // `--include=npm` fails inside debootstrap (dependency ordering): npm goes in through a chroot.
      include: ["nodejs"],
      chrootInstall: ["npm"],
      estimate: "about 2 min",
      changes: [
        `ENV PATH=${BASE_PATH}`,
        "ENV LANG=C.UTF-8",
        "ENV NPM_CONFIG_UPDATE_NOTIFIER=false NPM_CONFIG_AUDIT=false NPM_CONFIG_FUND=false",
        standInDescription("node:18-bookworm (Debian's /usr/bin/node 18 and npm 9; no git, compilers or python)"),
        'CMD ["node"]',
      ],
      extra: { nodeUser: "1000:1000" },
      finish: async (root, logFile) => {
        await chroot(root, logFile, ["groupadd", "--gid", "1000", "node"], "groupadd node");
        await chroot(root, logFile, ["useradd", "--uid", "1000", "--gid", "node", "--shell", "/bin/bash", "--create-home", "node"], "useradd node");
      },
    },
    log,
  );
}

export interface StandInImages {
  python: StandInImage;
  cuda: StandInImage;
  node: StandInImage;
}

/**
 * The python stand-in as the release path's base: one multi-platform image (an OCI index with
 * linux/amd64 and linux/arm64) in the engine's registry, so `FROM` resolves per platform as it
 * does on Docker Hub. Each platform's image is pushed under its own tag, then buildx imagetools
 * joins them; a second call with the same images pushes nothing new (the registry has the blobs).
 */
export async function publishMultiPlatformPython(engine: Engine, registry: string, opts: PythonBaseOptions = {}): Promise<{ ref: string; platforms: string[] }> {
  const log = opts.log ?? defaultLog;
  const client = new Docker(engine);
  const ref = `${registry}/${PYTHON_STANDIN}`;
  const perPlatform: string[] = [];
  for (const arch of ["amd64", "arm64"] as const) {
    const local = await ensurePythonBase(engine, { ...opts, arch });
    const pushed = `${ref}-${arch}`;
    await client.check(["tag", local.ref, pushed]);
    await client.check(["push", "--quiet", pushed]);
    await client.run(["image", "rm", pushed]); // the local tag only; the registry keeps it
    perPlatform.push(pushed);
  }
  await client.check(["buildx", "imagetools", "create", "--tag", ref, ...perPlatform], { inEngineNetwork: true });
  log(`[base-images] ${ref}: one index for linux/amd64 and linux/arm64 in the engine's registry`);
  return { ref, platforms: ["linux/amd64", "linux/arm64"] };
}

/** Make (or reuse) all three stand-in base images. */
export async function ensureStandInBaseImages(engine: Engine, opts: PythonBaseOptions = {}): Promise<StandInImages> {
  const python = await ensurePythonBase(engine, opts);
  const cuda = await cudaFrom(engine, python, opts.log ?? defaultLog);
  const node = await ensureNodeBase(engine, opts);
  return { python, cuda, node };
}
