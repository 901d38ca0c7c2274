import assert from "node:assert/strict";
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { parseProgress, stepsRan } from "../../scripts/bake/progress.ts";
import { DEPENDENCY_STAGES, FRONTEND_STAGE } from "../../scripts/bench/figures.ts";
import { CONTAINER_BUILDER, ensureContainerBuilder } from "../../scripts/engine/buildkit-image.ts";
import { ensureArm64Emulation, type Emulation } from "../../scripts/engine/emulation.ts";
import { engineRegistry } from "../../scripts/engine/private-engine.ts";
import { REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";
import { isAttestation, platformsOf, rawIndex } from "../helpers/oci-index.ts";
import { registryBasesConfig } from "../helpers/registry-bases.ts";
import { publishSbomScanner } from "../../scripts/engine/sbom-scanner.ts";

/**
 * CI's builder (issue 23): docker/setup-buildx-action gives GitHub users buildx's
 * `docker-container` driver, a BuildKit of its own in a container, not the daemon's. Here that is
 * the BuildKit image made from the Go module (scripts/engine/buildkit-image.ts) on the newest
 * engine, registered with `docker buildx create --driver docker-container`. Such a builder sees
 * no image of the engine's store, so every base comes from the engine's registry, as in CI they
 * come from Docker Hub. Through `npm run bake` with BUILDX_BUILDER: the release push (cpu for
 * amd64 and arm64, gpu for amd64, provenance attached by default), `--load` into the engine, and
 * a local and a registry cache that an emptied builder reuses.
 */
describe("the docker-container builder (BuildKit from the Go module) on the newest engine", { timeout: 30 * 60_000 }, () => {
  let docker: TestEngine;
  let emulation: Emulation;
  let registry: string;
  let registryDir: string;
  let config: string;
  let source: string;
  let out: string;
  const repository = `iopaint-container-${process.pid}`;

  before(async () => {
    docker = await TestEngine.start("newest");
    ({ address: registry, dir: registryDir } = await engineRegistry(docker.engine));
    emulation = await ensureArm64Emulation(() => {});
    await ensureContainerBuilder(docker.engine, () => {});
    config = await registryBasesConfig(docker, registry, emulation, "container");
    source = await docker.tempDir("iopaint-container-src-");
    await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
    out = await docker.tempDir("iopaint-container-out-");
  });
  after(async () => {
    await docker?.cleanup();
    if (registryDir) for (const name of [repository, `${repository}-sbom`]) await rm(join(registryDir, "data/docker/registry/v2/repositories", name), { recursive: true, force: true });
  });

  function bake(args: string[], env: Record<string, string> = {}) {
    return execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "--config", config, "--out", out, "--source", source, ...args], {
      cwd: REPO,
      reject: false,
      all: true,
      env: { ...docker.engine.env, BUILDX_BUILDER: CONTAINER_BUILDER, ...env },
    });
  }
  const manifest = (ref: string) => rawIndex(docker, ref);

  it("npm run bake -- all --push: cpu for amd64 and arm64, gpu for amd64, each with a provenance attestation by default", async (t) => {
    const image = `${registry}/${repository}`;
    const result = await bake(["all", "--push", "--version", "1.6.0"], { IOPAINT_PLATFORMS: "release", IOPAINT_IMAGE: image });
    assert.equal(result.exitCode, 0, result.all.split("\n").slice(-40).join("\n"));
    assert.match(result.stderr, new RegExp(`^builder ${CONTAINER_BUILDER} \\(docker-container driver; 1 node\\)$`, "m"));
    assert.doesNotMatch(result.stderr, /no provenance attestation/);
    const cpu = await manifest(`${image}:cpu-1.6.0`);
    const gpu = await manifest(`${image}:gpu-1.6.0`);
    if (emulation.ok) assert.deepEqual(platformsOf(cpu), ["linux/amd64", "linux/arm64"]);
    else t.diagnostic(`arm64 skipped: ${emulation.reason}`);
    assert.deepEqual(platformsOf(gpu), ["linux/amd64"]);
    // IOPAINT_PROVENANCE=auto: no attest in the bake file; buildx's own mode=min, which this builder stores.
    assert.equal(cpu.manifests.filter(isAttestation).length, platformsOf(cpu).length);
    assert.equal(gpu.manifests.filter(isAttestation).length, 1);
  });

  it("--load puts the image into the engine, and it runs", async () => {
    const image = "iopaint-container-load";
    docker.trackImage(`${image}:cpu-latest`);
    const result = await bake(["cpu", "--load"], { IOPAINT_IMAGE: image });
    assert.equal(result.exitCode, 0, result.all.split("\n").slice(-40).join("\n"));
    const container = await docker.run(`${image}:cpu-latest`, { publish: "127.0.0.1:18091:8080" });
    await docker.waitForHttp("http://127.0.0.1:18091/api/v1/model", container);
    assert.match(result.stderr, /^cpu\s+[0-9a-f]{12}\s+\d+(\.\d+)?MB \/ 600MB/m, "the summary sizes the loaded image");
  });

  it("IOPAINT_SBOM=true: each platform's image carries an SBOM (SPDX) from the generator, listing torch, IOPaint and the Debian packages", async (t) => {
    const generator = await publishSbomScanner(docker.engine, registry);
    const image = `${registry}/${repository}-sbom`;
    const result = await bake(["cpu", "--push"], { IOPAINT_PLATFORMS: "release", IOPAINT_IMAGE: image, IOPAINT_SBOM: "true", IOPAINT_SBOM_GENERATOR: generator });
    assert.equal(result.exitCode, 0, result.all.split("\n").slice(-40).join("\n"));
    assert.match(result.stderr, /generating sbom using 127\.0\.0\.1:5000\/iopaint-standin\/sbom-scanner:1/);
    // imagetools gives one SBOM per platform of an index ({"linux/amd64": {SPDX: …}, …}).
    const inspected = JSON.parse((await docker.docker(["buildx", "imagetools", "inspect", `${image}:cpu-latest`, "--format", "{{json .SBOM}}"], { inEngineNetwork: true })).stdout) as Record<
      string,
      { SPDX: { creationInfo: { creators: string[] }; packages: { name: string; versionInfo: string; externalRefs: { referenceLocator: string }[] }[] } }
    >;
    const platforms = emulation.ok ? ["linux/amd64", "linux/arm64"] : ["linux/amd64"];
    assert.deepEqual(Object.keys(inspected).sort(), platforms);
    for (const platform of platforms) {
      const { SPDX: sbom } = inspected[platform];
      // The generator's, and BuildKit's own, which it adds to every SBOM it attaches.
      assert.ok(sbom.creationInfo.creators.includes("Tool: iopaint-sbom-scanner-1"), sbom.creationInfo.creators.join(", "));
      const purls = sbom.packages.flatMap((p) => p.externalRefs.map((r) => r.referenceLocator));
      t.diagnostic(`${platform}: ${sbom.packages.length} packages`);
      assert.ok(purls.includes("pkg:pypi/torch@2.1.2+cpu"), `${platform}: torch 2.1.2+cpu`);
      assert.ok(purls.includes("pkg:pypi/iopaint@1.6.0"), `${platform}: the app, IOPaint 1.6.0`);
      assert.ok(
        purls.some((purl) => purl.startsWith("pkg:deb/debian/libsm6@") && purl.endsWith(`?arch=${platform.split("/")[1]}`)),
        `${platform}: a runtime package of the config (libsm6), for its architecture`,
      );
    }
  });

  for (const backend of ["local", "registry"] as const) {
    it(`IOPAINT_CACHE=${backend}: exported, then an emptied builder imports it and runs no dependency step`, async () => {
      const ref = backend === "local" ? join(out, "..", `${repository}-cache`) : `${registry}/${repository}-cache`;
      const env = { IOPAINT_CACHE: backend, IOPAINT_CACHE_REF: ref, IOPAINT_IMAGE: `iopaint-container-${backend}` };
      const exported = await bake(["cpu", "--progress", "plain"], env);
      assert.equal(exported.exitCode, 0, exported.all.split("\n").slice(-40).join("\n"));
      if (backend === "local") assert.match(exported.stderr, new RegExp(`--allow=fs\\.write=${ref}/cpu`), "the runner grants the cache directory");
      await docker.docker(["buildx", "prune", "--all", "--force", "--builder", CONTAINER_BUILDER]);
      const imported = await bake(["cpu", "--progress", "plain"], env);
      assert.equal(imported.exitCode, 0, imported.all.split("\n").slice(-40).join("\n"));
      const report = parseProgress(imported.stderr);
      const ran = stepsRan(report)
        .filter((step) => [FRONTEND_STAGE, ...DEPENDENCY_STAGES].includes(step.stage.split(" ")[0]))
        .map((step) => `${step.stage} ${step.name}`);
      assert.deepEqual(ran, [], "no front-end, system or dependency step ran");
      if (backend === "local") await rm(ref, { recursive: true, force: true });
    });
  }
});
