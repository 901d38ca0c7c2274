import assert from "node:assert/strict";
import { appendFile, cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { bakeArgs } from "../../scripts/docker/build-args.ts";
import { publishMultiPlatformPython, PYTHON_STANDIN } from "../../scripts/engine/base-images.ts";
import { ensureArm64Emulation, type Emulation } from "../../scripts/engine/emulation.ts";
import { engineRegistry } from "../../scripts/engine/private-engine.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TestEngine, type Fixture } from "../helpers/engine.ts";

/**
 * The release path as the workflow takes it on a version tag, on the current engine against a
 * real registry in its namespace: cpu for linux/amd64 and linux/arm64 (under QEMU emulation),
 * gpu for linux/amd64, pushed with the version and latest tags. Where the kernel has no
 * binfmt_misc the arm64 half is skipped with the reason, never pretended.
 */
interface Descriptor {
  digest: string;
  platform?: { os: string; architecture: string };
  annotations?: Record<string, string>;
}

describe("release path: docker buildx bake all --push, amd64 + arm64, to a registry", () => {
  let docker: TestEngine;
  let emulation: Emulation;
  let registry: string;
  let registryDir: string;
  let fixture: Fixture;
  let image: string;
  let output = "";
  let releaseConfig: string;
  const repository = `iopaint-release-${process.pid}`;

  before(async () => {
    docker = await TestEngine.start("current");
    ({ address: registry, dir: registryDir } = await engineRegistry(docker.engine));
    emulation = await ensureArm64Emulation(() => {});
    // The fixture's config with the python stand-in from the registry (one amd64 + arm64 index),
    // and cpu released for linux/amd64 only where arm64 cannot run.
    let config = await readFile(FIXTURE_CONFIG, "utf8");
    if (emulation.ok) {
      const python = await publishMultiPlatformPython(docker.engine, registry, { log: () => {} });
      config = config.replace(`base_image = "${PYTHON_STANDIN}"`, `base_image = "${python.ref}"`);
    } else {
      config = config.replace('platforms = ["linux/amd64", "linux/arm64"]', 'platforms = ["linux/amd64"]');
    }
    const dir = await docker.tempDir("iopaint-release-config-");
    const file = join(dir, "iopaint.release.toml");
    await writeFile(file, config);
    releaseConfig = file;
    image = `${registry}/${repository}`;
    // The variables the workflow sets for a tag push (v1.6.0); see .github/workflows/images.yml.
    // A scratch copy whose front end no earlier run built, so its build step shows where it runs.
    const source = await docker.tempDir("iopaint-release-src-");
    await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
    await appendFile(join(source, "web_app/src/main.js"), `\n// release ${Date.now()}-${process.pid}\n`);
    fixture = await docker.generateFixture(source, { IOPAINT_PLATFORMS: "release", IOPAINT_VERSION: "1.6.0", IOPAINT_IMAGE: image }, file);
    const result = await docker.client.run(bakeArgs({ file: join(fixture.dir, "docker-bake.hcl"), targets: ["all"], push: true }), { cwd: fixture.dir, env: fixture.env });
    output = result.all;
    // With the containerd image store a push also keeps the images locally: they go in cleanup().
    for (const target of Object.values(fixture.targets)) for (const tag of target.tags) docker.trackImage(tag);
    assert.equal(result.exitCode, 0, `bake --push failed:\n${result.all.split("\n").slice(-40).join("\n")}`);
  });

  after(async () => {
    await docker?.cleanup();
    // The test's repository goes from the registry's storage (its blobs stay for the next run).
    for (const name of [repository, `${repository}-runner`]) {
      if (registryDir) await rm(join(registryDir, "data/docker/registry/v2/repositories", name), { recursive: true, force: true });
    }
  });

  const manifest = async (ref: string) => JSON.parse((await docker.docker(["buildx", "imagetools", "inspect", "--raw", ref], { inEngineNetwork: true })).stdout) as { mediaType: string; manifests: Descriptor[] };
  const isAttestation = (d: Descriptor) => d.annotations?.["vnd.docker.reference.type"] === "attestation-manifest";
  const platformsOf = (index: { manifests: Descriptor[] }) => index.manifests.filter((d) => !isAttestation(d)).map((d) => `${d.platform?.os}/${d.platform?.architecture}`).sort();

  it("pushes every tag the README promises", async () => {
    const tags = JSON.parse((await docker.fetch(`http://${registry}/v2/${repository}/tags/list`)).body) as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ["cpu-1.6.0", "cpu-latest", "gpu-1.6.0", "gpu-latest"]);
  });

  it("cpu is one index with linux/amd64 and linux/arm64, gpu linux/amd64 only, each with a provenance attestation", async (t) => {
    const cpu = await manifest(`${image}:cpu-1.6.0`);
    const gpu = await manifest(`${image}:gpu-1.6.0`);
    assert.equal(cpu.mediaType, "application/vnd.oci.image.index.v1+json");
    if (emulation.ok) assert.deepEqual(platformsOf(cpu), ["linux/amd64", "linux/arm64"]);
    else t.diagnostic(`arm64 skipped: ${emulation.reason}`);
    assert.deepEqual(platformsOf(gpu), ["linux/amd64"]);
    // buildx's default on push: one provenance attestation (mode=min) per platform image.
    assert.equal(cpu.manifests.filter(isAttestation).length, platformsOf(cpu).length);
    assert.equal(gpu.manifests.filter(isAttestation).length, 1);
    assert.deepEqual(await manifest(`${image}:cpu-latest`), cpu, "cpu-latest and cpu-1.6.0 are the same index");
  });

  it("builds the front end on the build platform only, once for both of cpu's platforms", () => {
    const runs = output.split("\n").filter((line) => /^#\d+ \[[^\]]*frontend \d+\/\d+\] RUN .*npm run build/.test(line));
    const distinct = (lines: string[]) => new Set(lines.map((line) => line.split(" ")[0])).size;
    const shown = runs.join("\n");
    assert.ok(!runs.some((line) => line.includes("linux/arm64")), `no front-end step ran for linux/arm64:\n${shown}`);
    // The multi-platform cpu build shows its steps with the platform: one run serves both platforms.
    assert.equal(distinct(runs.filter((line) => line.includes(" linux/amd64 "))), 1, shown);
    // Known gap (issue 12's note): the single-platform gpu solves its own front end beside it,
    // so a release runs the build step twice in all; a one-platform `bake all` runs it once.
    assert.ok(distinct(runs) <= 2, shown);
  });

  it("the arm64 image, pulled back, runs under emulation: aarch64, its device line, the UI", async (t) => {
    if (!emulation.ok) return t.skip(`arm64: ${emulation.reason}`);
    const ref = `${image}:cpu-1.6.0`;
    await docker.docker(["pull", "--quiet", "--platform", "linux/arm64", ref]);
    docker.trackImage(ref);
    const machine = await docker.docker(["run", "--rm", "--platform", "linux/arm64", "--entrypoint", "python3", ref, "-c", "import platform; print(platform.machine())"]);
    assert.equal(machine.stdout.trim(), "aarch64");
    const container = await docker.run(ref, { publish: "18091:8080", extra: ["--platform", "linux/arm64"] });
    await docker.waitForHttp("http://127.0.0.1:18091/", container, 180_000);
    assert.match((await docker.fetch("http://127.0.0.1:18091/")).body, /<html/i);
    assert.match(await docker.logs(container), /^Using device: cpu$/m);
  });

  it("the same through the runner: npm run bake -- all --push --version 1.6.0", async () => {
    const runnerImage = `${image}-runner`;
    for (const tag of ["cpu-latest", "cpu-1.6.0", "gpu-latest", "gpu-1.6.0"]) docker.trackImage(`${runnerImage}:${tag}`);
    const out = await docker.tempDir("iopaint-release-out-");
    const result = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "all", "--push", "--version", "1.6.0", "--config", releaseConfig, "--out", out, "--source", fixture.env.IOPAINT_SRC], {
      cwd: REPO,
      reject: false,
      all: true,
      env: { ...docker.engine.env, IOPAINT_PLATFORMS: "release", IOPAINT_IMAGE: runnerImage },
    });
    assert.equal(result.exitCode, 0, String(result.all).split("\n").slice(-30).join("\n"));
    assert.match(String(result.all), /docker buildx bake \(buildx 0\.13/);
    const tags = JSON.parse((await docker.fetch(`http://${registry}/v2/${repository}-runner/tags/list`)).body) as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ["cpu-1.6.0", "cpu-latest", "gpu-1.6.0", "gpu-latest"]);
    if (emulation.ok) assert.deepEqual(platformsOf(await manifest(`${runnerImage}:cpu-1.6.0`)), ["linux/amd64", "linux/arm64"]);
  });
});
