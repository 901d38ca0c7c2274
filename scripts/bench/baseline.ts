/**
 * The old way's build, offline: scripts/bench/baseline.Dockerfile installs build tools and Node
 * with apt as the old single-stage file did, but no mirror is reachable from a build here. So the
 * host (whose apt does reach Debian) fetches exactly the packages the base image lacks, and they
 * go into a small image, iopaint-bench/baseline-packages, that the Dockerfile mounts as an apt
 * archive. Nothing names a mirror: the host's own apt configuration does.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import type { BuildArg } from "../../generator/plan.ts";
import { fail } from "../../generator/errors.ts";
import { REPO_ROOT } from "../../generator/repo.ts";
import { aptDownloadFor, aptHasPackage, debControlFields } from "../engine/host.ts";
import type { BenchDocker, Log } from "./docker.ts";

export const BASELINE_DOCKERFILE = join(REPO_ROOT, "scripts/bench/baseline.Dockerfile");
/** The tag baseline.Dockerfile mounts (a RUN --mount `from=` takes no build argument on Docker 20.10). */
export const PACKAGES_IMAGE = "iopaint-bench/baseline-packages:current";
const PACKAGES_LABEL = "org.iopaint.bench.packages";
/** Where baseline.Dockerfile mounts the archive; apt.conf and sources.list name paths under it. */
const MOUNT = "/mnt/packages";
/** Bump when the archive's layout changes. */
const ARCHIVE_VERSION = 2;

/** The build arguments the old way shares with our cpu target: same base, same pins and indexes. */
const SHARED_ARGS: readonly BuildArg[] = ["BASE_IMAGE", "RUNTIME_PACKAGES", "TORCH_INDEX_URL", "PIP_INDEX_URL", "TORCH_VERSION", "TORCHVISION_VERSION"];

/** Pure: the default value of `ARG NAME=...` in a Dockerfile, unquoted. */
export function argDefault(dockerfile: string, name: string): string | undefined {
  const match = new RegExp(`^ARG ${name}=(?:"([^"]*)"|(\\S*))\\s*$`, "m").exec(dockerfile);
  return match ? (match[1] ?? match[2]) : undefined;
}

/** Pure: every package the old way's apt step installs, with the variant's runtime packages. */
export function baselinePackages(dockerfile: string, runtimePackages: string): string[] {
  const words = [runtimePackages, argDefault(dockerfile, "BUILD_PACKAGES") ?? "", argDefault(dockerfile, "NODE_PACKAGES") ?? ""].join(" ");
  return [...new Set(words.split(/\s+/).filter(Boolean))];
}

/** Pure: `docker build` arguments for the old way, from the fixture's cpu target. */
export function baselineBuildArgs(target: ResolvedTarget, source: string, tag: string): string[] {
  const argv = ["build", "--file", BASELINE_DOCKERFILE, "--progress", "plain", "--no-cache", "--tag", tag];
  for (const key of SHARED_ARGS) if (target.args[key] !== undefined) argv.push("--build-arg", `${key}=${target.args[key]}`);
  argv.push(source);
  return argv;
}

/** Makes (or reuses) the package archive image for `packages` on top of `baseImage`. */
export async function ensurePackagesImage(docker: BenchDocker, baseImage: string, packages: string[], cacheRoot: string, log: Log): Promise<void> {
  const work = await mkdtemp(join(cacheRoot, "status-"));
  try {
    const status = join(work, "status");
    await copyFromImage(docker, baseImage, "/var/lib/dpkg/status", status);
    const key = createHash("sha256")
      .update(JSON.stringify({ v: ARCHIVE_VERSION, packages, status: await readFile(status, "utf8") }))
      .digest("hex")
      .slice(0, 16);
    const current = await docker.run(["image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "${PACKAGES_LABEL}"}}`, PACKAGES_IMAGE]);
    const [oldId, oldKey] = current.exitCode === 0 ? current.stdout.trim().split(" ") : [];
    if (oldKey === key) {
      log(`[bench] old way's package archive reused (${PACKAGES_IMAGE})`);
      return;
    }
    const archive = join(cacheRoot, `packages-${key}`);
    if (!existsSync(join(archive, "debs", "Packages"))) await downloadArchive(packages, status, archive, log);
    const made = await docker.run(["build", "--quiet", "--tag", PACKAGES_IMAGE, "--label", `${PACKAGES_LABEL}=${key}`, "--file", "-", archive], { input: "FROM scratch\nCOPY . /\n" });
    if (made.exitCode !== 0) throw new Error(`building ${PACKAGES_IMAGE} failed:\n${made.all.trim().split("\n").slice(-10).join("\n")}`);
    if (oldId) await docker.run(["image", "rm", oldId]);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

async function copyFromImage(docker: BenchDocker, image: string, path: string, to: string): Promise<void> {
  const created = await docker.run(["create", image]);
  if (created.exitCode !== 0) throw new Error(`docker create ${image} failed: ${created.all.trim()}`);
  const id = created.stdout.trim();
  try {
    const copied = await docker.run(["cp", `${id}:${path}`, to]);
    if (copied.exitCode !== 0) throw new Error(`docker cp ${id}:${path} failed: ${copied.all.trim()}`);
  } finally {
    await docker.run(["rm", id]);
  }
}

/**
 * The packages apt would install on top of the image whose dpkg status is `status`, fetched by
 * the host's apt, with a Packages index and the apt configuration that points at them.
 */
async function downloadArchive(packages: string[], status: string, archive: string, log: Log): Promise<void> {
  if (!existsSync("/usr/bin/apt-get") || !existsSync("/usr/bin/dpkg-deb")) {
    fail({ kind: "environment", message: "the bench's baseline needs Debian's apt-get and dpkg-deb on the host to fetch its packages", hint: "run it on a Debian (bookworm) host, as CI does" });
  }
  log(`[bench] fetching the old way's apt packages on the host (${packages.join(" ")}) and what they need beyond the base image`);
  // Refreshes the host's package lists once if they are empty.
  await aptHasPackage(packages[0], log);
  const building = `${archive}.partial-${process.pid}`;
  const debs = join(building, "debs");
  await rm(building, { recursive: true, force: true });
  await aptDownloadFor(status, packages, debs);
  const files = (await readdir(debs)).filter((f) => f.endsWith(".deb")).sort();
  const stanzas: string[] = [];
  for (const file of files) {
    const fields = await debControlFields(join(debs, file));
    const bytes = await readFile(join(debs, file));
    // apt refuses a file without a strong hash, even from a trusted local source.
    const sha256 = createHash("sha256").update(bytes).digest("hex");
    stanzas.push(`${fields}\nFilename: ./${file}\nSize: ${bytes.length}\nSHA256: ${sha256}\n`);
  }
  await writeFile(join(debs, "Packages"), stanzas.join("\n"));
  await writeFile(join(building, "sources.list"), `deb [trusted=yes] file:${MOUNT}/debs ./\n`);
  await mkdir(join(building, "sources.list.d"));
  await writeFile(join(building, "apt.conf"), [`Dir::Etc::SourceList "${MOUNT}/sources.list";`, `Dir::Etc::SourceParts "${MOUNT}/sources.list.d";`, ""].join("\n"));
  await rm(archive, { recursive: true, force: true });
  await rename(building, archive);
  // Archives for an older base image or package list are not needed again.
  for (const name of await readdir(dirname(archive))) {
    const path = join(dirname(archive), name);
    if (/^packages-[0-9a-f]{16}$/.test(name) && path !== archive) await rm(path, { recursive: true, force: true });
  }
  log(`[bench] ${files.length} packages fetched into ${archive}`);
}
