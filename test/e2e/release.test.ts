import assert from "node:assert/strict";
import { appendFile, cp, readFile, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { parseProgress } from "../../scripts/bake/progress.ts";
import { bakeArgs } from "../../scripts/docker/build-args.ts";
import { publishMultiPlatformPython, PYTHON_STANDIN } from "../../scripts/engine/base-images.ts";
import { ensureArm64Emulation, setArm64Emulation, type Emulation } from "../../scripts/engine/emulation.ts";
import { engineRegistry, stopEngineRegistry } from "../../scripts/engine/private-engine.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TestEngine, type Fixture } from "../helpers/engine.ts";
import { isAttestation, platformsOf, rawIndex } from "../helpers/oci-index.ts";
import { bakeInvocation, githubContext, loadWorkflow, type BakeInvocation } from "../helpers/workflow.ts";

/**
 * The release path as the workflow takes it on a version tag, on the newest engine against a
 * real registry in its namespace: cpu for linux/amd64 and linux/arm64 (under QEMU emulation),
 * gpu for linux/amd64, pushed with the version and latest tags. Where the kernel has no
 * binfmt_misc the arm64 half is skipped with the reason, never pretended.
 */
describe("release path: docker buildx bake all --push, amd64 + arm64, to a registry", () => {
  let docker: TestEngine;
  let emulation: Emulation;
  let registry: string;
  let registryDir: string;
  let fixture: Fixture;
  let image: string;
  let output = "";
  let releaseConfig: string;
  let revision: string;
  let commitTime: number;
  let checkout: string;
  const RELEASE_TAGS = ["cpu-1.6.0", "cpu-latest", "gpu-1.6.0", "gpu-latest"];
  let invocation: BakeInvocation;
  const repository = `iopaint-release-${process.pid}`;

  before(async () => {
    docker = await TestEngine.start("newest");
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
    // The tag push v1.6.0 as .github/workflows/images.yml makes it: the job's env, its shell step
    // that sets the versions (run here, on a git checkout of a scratch copy whose front end no
    // earlier run built, so its build step shows where it runs), then the bake step's inputs.
    fixture = await docker.generateFixture(undefined, {}, file);
    checkout = join(fixture.dir, "IOPaint");
    await cp(join(REPO, "test/fixtures/app"), checkout, { recursive: true });
    await appendFile(join(checkout, "web_app/src/main.js"), `\n// release ${Date.now()}-${process.pid}\n`);
    const git = (args: string[]) => execa("git", ["-c", "user.name=release test", "-c", "user.email=release@example.invalid", ...args], { cwd: checkout });
    await git(["init", "--quiet"]);
    await git(["add", "."]);
    await git(["commit", "--quiet", "-m", "IOPaint 1.6.0 (scratch copy of the fixture)"]);
    revision = (await git(["rev-parse", "HEAD"])).stdout.trim();
    commitTime = Number((await git(["log", "-1", "--format=%ct"])).stdout.trim());
    invocation = await bakeInvocation(loadWorkflow(), "images", githubContext({ name: "push", ref: "refs/tags/v1.6.0" }), fixture.dir);
    // Two values differ here, and only these: the gha cache needs GitHub's cache service (the
    // local and registry backends are shown in cache-runners.test.ts), and the registry is the
    // local one (in CI, metadata-action's tags name the same tags on the workflow's IMAGE).
    const env = { ...invocation.env, IOPAINT_CACHE: "", IOPAINT_IMAGE: image };
    const files = invocation.files.map((f) => join(fixture.dir, f));
    const argv = bakeArgs({ file: files[0], targets: invocation.targets, push: invocation.push, provenance: invocation.provenance });
    const result = await retryRegistryRace(() => docker.client.run(argv, { cwd: fixture.dir, env }));
    output = result.all;
    // With the containerd image store a push also keeps the images locally: they go in cleanup().
    for (const tag of RELEASE_TAGS) docker.trackImage(`${image}:${tag}`);
    assert.equal(result.exitCode, 0, `bake --push failed:\n${result.all.split("\n").slice(-40).join("\n")}`);
  });

  after(async () => {
    await docker?.cleanup();
    // The test's repository goes from the registry's storage (its blobs stay for the next run).
    for (const name of [repository, `${repository}-runner`, `${repository}-max`]) {
      if (registryDir) await rm(join(registryDir, "data/docker/registry/v2/repositories", name), { recursive: true, force: true });
    }
  });

  const manifest = (ref: string) => rawIndex(docker, ref);

  it("runs the bake invocation images.yml makes for tag v1.6.0, derived with GitHub's parser", () => {
    assert.deepEqual(invocation.targets, ["all"]);
    assert.equal(invocation.push, true);
    assert.deepEqual(invocation.files, ["./docker-bake.hcl"]);
    assert.equal(invocation.actionFiles, 3, "the three docker/metadata-action bake files, which only the action writes");
    assert.equal(invocation.env.IOPAINT_VERSION, "1.6.0");
    assert.equal(invocation.env.IOPAINT_PLATFORMS, "release");
    assert.equal(invocation.env.IOPAINT_REVISION, revision);
    assert.equal(invocation.env.IOPAINT_SRC, "IOPaint");
    assert.equal(invocation.env.IOPAINT_PROVENANCE, "min");
    assert.equal(invocation.env.SOURCE_DATE_EPOCH, String(commitTime), "the images' timestamps: the IOPaint commit's");
    assert.equal(invocation.provenance, "mode=min", "bake-action gets the bake file's setting, not its own default");
  });

  it("labels each image with the version and the commit of the checkout it was built from", async () => {
    const labels = await docker.inspect<Record<string, string>>(".Config.Labels", `${image}:cpu-1.6.0`);
    assert.equal(labels["org.opencontainers.image.version"], "1.6.0");
    assert.equal(labels["org.opencontainers.image.revision"], revision);
    assert.equal(await docker.inspect<string>(".Created", `${image}:cpu-1.6.0`), new Date(commitTime * 1000).toISOString().replace(".000Z", "Z"), "created at the commit's time (SOURCE_DATE_EPOCH)");
  });

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
    // The bake file's attest (IOPAINT_PROVENANCE=min, as the workflow sets it): one provenance attestation per platform image.
    assert.equal(cpu.manifests.filter(isAttestation).length, platformsOf(cpu).length);
    assert.equal(gpu.manifests.filter(isAttestation).length, 1);
    assert.deepEqual(await manifest(`${image}:cpu-latest`), cpu, "cpu-latest and cpu-1.6.0 are the same index");
  });

  it("the provenance (mode=min) names the base images as materials and carries no build argument", async () => {
    const provenance = JSON.parse((await docker.docker(["buildx", "imagetools", "inspect", `${image}:gpu-1.6.0`, "--format", "{{json .Provenance}}"], { inEngineNetwork: true })).stdout) as {
      SLSA: { invocation: { parameters: Record<string, unknown> }; materials: { uri: string }[] };
    };
    assert.ok(
      provenance.SLSA.materials.some((m) => m.uri.includes("iopaint-standin/cuda")),
      JSON.stringify(provenance.SLSA.materials),
    );
    // Frontend options such as the stage (`target`) are kept; build args would be `build-arg:NAME`.
    const args = Object.keys((provenance.SLSA.invocation.parameters.args ?? {}) as Record<string, unknown>);
    assert.deepEqual(
      args.filter((key) => key.startsWith("build-arg:")),
      [],
      "mode=min leaves the build args (index URLs) out",
    );
  });

  it("builds the front end once, on the build platform, for both of cpu's platforms and gpu", (t) => {
    const steps = parseProgress(output).steps.filter((s) => s.stage.includes("frontend ") && /^RUN .*npm run build/.test(s.name));
    const shown = steps.map((s) => `#${s.id} [${s.stage}] ${s.state}`).join("\n");
    assert.ok(steps.length > 0, "the release shows the front end's build step");
    assert.ok(!steps.some((s) => s.stage.includes("linux/arm64")), `no front-end step for linux/arm64:\n${shown}`);
    // One step serves both of cpu's platforms; gpu's solve may show it again (CACHED, or DONE where
    // BuildKit shared the running step), or, as Docker 28.5's BuildKit does, show the shared step
    // under one of the two targets only: at most one line per target. What ran is counted from the
    // build's own output: each execution of the fixture's build prints an ID of its own
    // ("build run <uuid>").
    assert.ok(steps.filter((s) => s.stage.startsWith("cpu ")).length <= 1 && steps.filter((s) => s.stage.startsWith("gpu ")).length <= 1, shown);
    const runs = new Set([...output.matchAll(/build run ([0-9a-f-]{36})/g)].map((match) => match[1]));
    t.diagnostic(`front-end build steps shown: ${steps.length} (${steps.map((s) => s.state).join(", ")}); executions: ${runs.size}`);
    assert.equal(runs.size, 1, `the front end's build ran ${runs.size} times:\n${shown}`);
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

  /** `npm run bake -- <args>` on the release config and checkout, as a user runs it. */
  const runnerBake = async (args: string[], env: Record<string, string>) =>
    execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", ...args, "--config", releaseConfig, "--out", await docker.tempDir("iopaint-release-out-"), "--source", checkout], {
      cwd: REPO,
      reject: false,
      all: true,
      env: { ...docker.engine.env, ...env },
    });

  it("the same through the runner: npm run bake -- all --push --version 1.6.0, with IOPAINT_PROVENANCE=false", async () => {
    const runnerImage = `${image}-runner`;
    for (const tag of RELEASE_TAGS) docker.trackImage(`${runnerImage}:${tag}`);
    const result = await retryRegistryRace(() => runnerBake(["all", "--push", "--version", "1.6.0"], { IOPAINT_PLATFORMS: "release", IOPAINT_IMAGE: runnerImage, IOPAINT_PROVENANCE: "false" }));
    assert.equal(result.exitCode, 0, String(result.all).split("\n").slice(-30).join("\n"));
    assert.match(String(result.all), /docker buildx bake \(buildx 0\.29/);
    const tags = JSON.parse((await docker.fetch(`http://${registry}/v2/${repository}-runner/tags/list`)).body) as { tags: string[] };
    assert.deepEqual(tags.tags.sort(), ["cpu-1.6.0", "cpu-latest", "gpu-1.6.0", "gpu-latest"]);
    const cpu = await manifest(`${runnerImage}:cpu-1.6.0`);
    if (emulation.ok) assert.deepEqual(platformsOf(cpu), ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(cpu.manifests.filter(isAttestation), [], "IOPAINT_PROVENANCE=false: no attestation");
  });
  it("IOPAINT_PROVENANCE=max with a proxy URL that holds a password: the runner warns, and the attestation does hold it", async () => {
    const maxImage = `${image}-max`;
    for (const tag of ["gpu-latest", "gpu-1.6.0"]) docker.trackImage(`${maxImage}:${tag}`);
    const proxy = "http://builder:s3cret-pw@proxy.invalid:3128";
    // Every step is cached (proxy args are in no cache key), so no step tries the proxy.
    const result = await retryRegistryRace(() => runnerBake(["gpu", "--push", "--version", "1.6.0"], { IOPAINT_IMAGE: maxImage, IOPAINT_PROVENANCE: "max", HTTP_PROXY: proxy }));
    assert.equal(result.exitCode, 0, String(result.all).split("\n").slice(-30).join("\n"));
    assert.match(result.stderr, /^warning: gpu: provenance mode=max records every build argument .* HTTP_PROXY hold credentials/m);
    assert.doesNotMatch(result.stderr, /s3cret-pw/, "the runner's own output hides the password");
    const provenance = JSON.parse((await docker.docker(["buildx", "imagetools", "inspect", `${maxImage}:gpu-1.6.0`, "--format", "{{json .Provenance}}"], { inEngineNetwork: true })).stdout) as {
      SLSA: { invocation: { parameters: { args?: Record<string, string> } } };
    };
    assert.equal(provenance.SLSA.invocation.parameters.args?.["build-arg:HTTP_PROXY"], proxy);
  });

  describe("faults: one message, exit code 3, nothing tagged", () => {
    /** runnerBake without a cache backend, with the lines that say what went wrong. */
    const bake = async (args: string[], env: Record<string, string>) => {
      const result = await runnerBake(args, { IOPAINT_CACHE: "", ...env });
      const errors = String(result.all)
        .split("\n")
        .filter((line) => line.startsWith("error: "));
      return { exitCode: result.exitCode, all: String(result.all), errors };
    };
    const tagsOf = async (registryAddress: string, name: string) => {
      const answer = await docker.fetch(`http://${registryAddress}/v2/${name}/tags/list`);
      return answer.status === 200 ? ((JSON.parse(answer.body) as { tags: string[] | null }).tags ?? []) : [];
    };

    it("a registry that is not running", async () => {
      const nowhere = "127.0.0.1:5999/iopaint-nowhere";
      for (const tag of ["gpu-latest", "gpu-1.6.0"]) docker.trackImage(`${nowhere}:${tag}`);
      const result = await bake(["gpu", "--push", "--version", "1.6.0"], { IOPAINT_IMAGE: nowhere });
      assert.equal(result.exitCode, 3, result.all.split("\n").slice(-15).join("\n"));
      assert.equal(result.errors.length, 1, result.errors.join("\n"));
      assert.match(result.errors[0], /^error: nothing answers at the registry 127\.0\.0\.1:5999, so 127\.0\.0\.1:5999\/iopaint-nowhere:gpu-(latest|1\.6\.0) was not pushed \(connection refused\)$/);
      assert.match(result.all, /hint: start the registry, or push elsewhere: IOPAINT_IMAGE names the repository/);
    });

    it("a registry that refuses the push (read-only)", async () => {
      const readOnly = await engineRegistry(docker.engine, { port: 5001, readOnly: true });
      try {
        const refused = `${readOnly.address}/iopaint-refused`;
        for (const tag of ["gpu-latest", "gpu-1.6.0"]) docker.trackImage(`${refused}:${tag}`);
        const result = await bake(["gpu", "--push", "--version", "1.6.0"], { IOPAINT_IMAGE: refused });
        assert.equal(result.exitCode, 3, result.all.split("\n").slice(-15).join("\n"));
        assert.equal(result.errors.length, 1, result.errors.join("\n"));
        assert.match(result.errors[0], /^error: the registry 127\.0\.0\.1:5001 refused the push of 127\.0\.0\.1:5001\/iopaint-refused:gpu-/);
        assert.match(result.all, /hint: log in with docker login 127\.0\.0\.1:5001/);
        assert.deepEqual(await tagsOf(readOnly.address, "iopaint-refused"), [], "no tag was written");
      } finally {
        await stopEngineRegistry(docker.engine, 5001);
      }
    });

    it("an arm64 build on a host without emulation", async (t) => {
      if (!emulation.ok) return t.skip(`no binfmt_misc here to turn off: ${emulation.reason}`);
      docker.trackImage(`${registry}/iopaint-noemu:cpu-latest`);
      setArm64Emulation(false);
      let result: Awaited<ReturnType<typeof bake>>;
      try {
        // --no-cache: the release build above left every arm64 step in the cache.
        result = await bake(["cpu", "--platform", "linux/arm64", "--no-cache"], { IOPAINT_IMAGE: `${registry}/iopaint-noemu` });
      } finally {
        setArm64Emulation(true);
      }
      assert.equal(result.exitCode, 3, result.all.split("\n").slice(-15).join("\n"));
      assert.equal(result.errors.length, 1, result.errors.join("\n"));
      assert.match(result.errors[0], /^error: this host cannot run programs for linux\/arm64/);
      assert.match(result.all, /hint: register QEMU's handlers/);
    });
  });
});

/**
 * Debian's registry (distribution 2.8.2) can answer a HEAD for a tag with 500 while a PUT of the
 * same tag is being written: its log says "invalid checksum digest format", the tag's link file
 * read half-written. A bake --push on the docker driver pushes each tag twice (the image exporter,
 * then "pushing … with docker"), so a rehearsal met it once (2026-12-03, 1 of 5 runs). It is the
 * stand-in registry's race, not the release path's: push once more, and say so in the output.
 */
const REGISTRY_RACE = /unexpected status from HEAD request to http:\/\/127\.0\.0\.1:\d+\/v2\/\S+\/manifests\/\S+: 500 Internal Server Error/;

async function retryRegistryRace<T extends { exitCode?: number; all?: unknown }>(push: () => Promise<T>): Promise<T> {
  const first = await push();
  if (first.exitCode === 0 || !REGISTRY_RACE.test(String(first.all))) return first;
  process.stderr.write("# the local registry answered 500 to a HEAD during the push (distribution 2.8's tag race); pushing once more\n");
  return push();
}
