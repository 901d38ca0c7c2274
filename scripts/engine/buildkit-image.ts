/**
 * A BuildKit image for buildx's `docker-container` driver, the builder that
 * docker/setup-buildx-action gives every GitHub user, made here since no registry can be pulled
 * from: buildkitd and buildctl built with Go from the module github.com/moby/buildkit at a pinned
 * release (through the Go module proxy the machine reaches), Debian's runc (the host's, from
 * docker.io), on the python stand-in's Debian root. The binaries are kept per release under the
 * engines' state root, so the second engine and the next run skip the compile (about 3 min).
 *
 * The builder it backs (`ensureContainerBuilder`) shares the engine's network namespace
 * (network=host), so it reaches the engine's registry on 127.0.0.1:5000 over plain HTTP, as
 * buildkitd.toml allows, and sees the QEMU handlers the kernel has for arm64.
 */
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { execa } from "execa";
import { Docker } from "../docker/docker.ts";
import type { Engine } from "../docker/engine.ts";
import { PYTHON_STANDIN, RECIPE_LABEL } from "./base-images.ts";
import { EngineEnvironmentError, withStateLock } from "./host.ts";
import { engineStateRoot } from "./private-engine.ts";
import { REGISTRY_PORT } from "./registry.ts";

/** The BuildKit release built, as the Go module proxy serves it (v0.34.2: December 2026). */
export const BUILDKIT_VERSION = "v0.34.2";
export const BUILDKIT_IMAGE = `iopaint-standin/buildkit:${BUILDKIT_VERSION}`;
/** The docker-container builder the tests create on an engine. */
export const CONTAINER_BUILDER = "iopaint-container";
/** Debian's runc (bookworm's, installed with docker.io), which buildkitd runs steps with. */
const RUNC = "/usr/sbin/runc";

const defaultLog = (line: string) => process.stderr.write(`${line}\n`);

/**
 * buildkitd and buildctl for BUILDKIT_VERSION under `<root>/buildkit/<version>/bin`, compiled on
 * first use. The module's go.mod has exclude directives, so `go install module@version` refuses
 * it: its source is fetched with `go mod download` and built in a copy of its own.
 */
export async function ensureBuildkitBinaries(log: (line: string) => void): Promise<string> {
  const dir = path.join(engineStateRoot(), "buildkit", BUILDKIT_VERSION);
  const bin = path.join(dir, "bin");
  const ready = () => ["buildkitd", "buildctl"].every((name) => fs.existsSync(path.join(bin, name)));
  if (ready()) return bin;
  return withStateLock(dir, "build", async () => {
    if (ready()) return bin;
    const go = async (args: string[], cwd: string) => {
      const result = await execa("go", args, { cwd, reject: false, all: true, env: { CGO_ENABLED: "0", GOFLAGS: "-buildvcs=false" } });
      if (result.exitCode !== 0) {
        throw new EngineEnvironmentError(
          `go ${args.join(" ")} failed (exit ${result.exitCode})`,
          "the BuildKit image needs Go and the Go module proxy (go env GOPROXY)",
          String(result.all).split("\n").slice(-20).join("\n"),
        );
      }
      return String(result.stdout);
    };
    log(`[buildkit] building buildkitd and buildctl ${BUILDKIT_VERSION} from the Go module github.com/moby/buildkit (about 3 min)…`);
    const started = Date.now();
    const module = JSON.parse(await go(["mod", "download", "-json", `github.com/moby/buildkit@${BUILDKIT_VERSION}`], dir)) as { Dir: string };
    const src = path.join(dir, "src");
    fs.rmSync(src, { recursive: true, force: true });
    fs.cpSync(module.Dir, src, { recursive: true });
    // The module cache's files are read-only, and so is the copy: make it removable afterwards.
    await execa("chmod", ["-R", "u+w", src]);
    const staging = `${bin}.partial-${process.pid}`;
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { recursive: true });
    // The release it reports (`docker buildx ls`, inspect), as BuildKit's own release builds set it.
    const ldflags = `-X github.com/moby/buildkit/version.Version=${BUILDKIT_VERSION} -X github.com/moby/buildkit/version.Package=github.com/moby/buildkit`;
    await go(["build", "-trimpath", "-ldflags", ldflags, "-o", `${staging}/`, "./cmd/buildkitd", "./cmd/buildctl"], src);
    fs.rmSync(bin, { recursive: true, force: true });
    fs.renameSync(staging, bin);
    fs.rmSync(src, { recursive: true, force: true });
    log(`[buildkit] built in ${Math.round((Date.now() - started) / 1000)} s into ${bin}`);
    return bin;
  });
}

/**
 * The BuildKit image on `engine` (built with its docker driver from the binaries, runc and the
 * python stand-in), reused while its recipe holds; `made` says it was built just now.
 */
export async function ensureBuildkitImage(engine: Engine, log: (line: string) => void = defaultLog): Promise<{ image: string; made: boolean }> {
  const docker = new Docker(engine);
  const bin = await ensureBuildkitBinaries(log);
  if (!fs.existsSync(RUNC)) throw new EngineEnvironmentError(`${RUNC} is missing`, "install Debian's docker.io (apt-get install docker.io), which brings runc");
  const dockerfile = [`FROM ${PYTHON_STANDIN}`, "COPY buildkitd buildctl runc /usr/bin/", "VOLUME /var/lib/buildkit", 'ENTRYPOINT ["buildkitd"]', ""].join("\n");
  const recipe = createHash("sha256").update(dockerfile).update(BUILDKIT_VERSION).update(fs.readFileSync(RUNC)).digest("hex").slice(0, 16);
  const existing = await docker.run(["image", "inspect", "--format", `{{index .Config.Labels "${RECIPE_LABEL}"}}`, BUILDKIT_IMAGE]);
  if (existing.exitCode === 0 && existing.stdout.trim() === recipe) return { image: BUILDKIT_IMAGE, made: false };
  const context = fs.mkdtempSync(path.join(engineStateRoot(), "buildkit-context-"));
  try {
    for (const [name, from] of [
      ["buildkitd", path.join(bin, "buildkitd")],
      ["buildctl", path.join(bin, "buildctl")],
      ["runc", RUNC],
    ])
      fs.copyFileSync(from, path.join(context, name));
    fs.writeFileSync(path.join(context, "Dockerfile"), dockerfile);
    log(`[buildkit] making ${BUILDKIT_IMAGE} on the ${engine.name} engine`);
    await docker.check(["build", "--quiet", "--label", `${RECIPE_LABEL}=${recipe}`, "--tag", BUILDKIT_IMAGE, context], { env: { DOCKER_BUILDKIT: "1" } });
  } finally {
    fs.rmSync(context, { recursive: true, force: true });
  }
  return { image: BUILDKIT_IMAGE, made: true };
}

/**
 * buildkitd's configuration for a builder of the tests, written to `file` (returned): the engine's
 * registry is 127.0.0.1:5000 over plain HTTP, which the docker daemon allows by itself and a
 * standalone buildkitd must be told.
 */
export function writeBuildkitdConfig(file: string): string {
  fs.writeFileSync(file, `[registry."127.0.0.1:${REGISTRY_PORT}"]\n  http = true\n  insecure = true\n`);
  return file;
}

/**
 * A `docker-container` builder named CONTAINER_BUILDER on `engine`, running the BuildKit image in
 * the engine's network namespace, created (and started) when missing. Returns its name, for
 * `--builder` or BUILDX_BUILDER.
 */
export async function ensureContainerBuilder(engine: Engine, log: (line: string) => void = defaultLog): Promise<string> {
  const docker = new Docker(engine);
  const { image, made } = await ensureBuildkitImage(engine, log);
  const inspected = await docker.run(["buildx", "inspect", CONTAINER_BUILDER]);
  // A builder made from an older build of the image runs that one: make it again.
  if (inspected.exitCode === 0 && inspected.stdout.includes(image) && !made) {
    await docker.check(["buildx", "inspect", "--bootstrap", CONTAINER_BUILDER]);
    return CONTAINER_BUILDER;
  }
  if (inspected.exitCode === 0) await docker.run(["buildx", "rm", "--force", CONTAINER_BUILDER]);
  const config = writeBuildkitdConfig(path.join(engineStateRoot(), engine.name, "buildkitd.toml"));
  log(`[buildkit] creating the docker-container builder ${CONTAINER_BUILDER} (${image}, network=host)`);
  await docker.check([
    "buildx",
    "create",
    "--name",
    CONTAINER_BUILDER,
    "--driver",
    "docker-container",
    "--driver-opt",
    `image=${image}`,
    "--driver-opt",
    "network=host",
    "--buildkitd-config",
    config,
    "--bootstrap",
  ]);
  return CONTAINER_BUILDER;
}
