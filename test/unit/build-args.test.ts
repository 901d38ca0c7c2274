import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { bakeArgs, dockerBuildArgs } from "../../scripts/docker/build-args.ts";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compileConfigOption } from "../../generator/repo.ts";
import { writeOutputs } from "../../generator/write.ts";
import { contextDirectories, contextImageRef, contextImages, contextImagesOfOutputs } from "../../scripts/docker/context-images.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";

/** Golden argument lists for both build paths (scripts/docker/build-args.ts). */
describe("build arguments", () => {
  it("bake: the file, progress and metadata first, flags, --set overrides, then the targets", () => {
    assert.deepEqual(bakeArgs({ file: "/w/docker-bake.hcl", targets: ["cpu", "gpu"] }), ["buildx", "bake", "--file", "/w/docker-bake.hcl", "--progress", "plain", "cpu", "gpu"]);
    assert.deepEqual(
      bakeArgs({
        file: "f.hcl",
        targets: ["all"],
        progress: "rawjson",
        metadataFile: "/tmp/m.json",
        noCache: true,
        pull: true,
        push: true,
        load: true,
        sets: ["cpu.args.APP_UID=1001"],
        platform: "linux/arm64",
      }),
      [
        "buildx",
        "bake",
        "--file",
        "f.hcl",
        "--progress",
        "rawjson",
        "--metadata-file",
        "/tmp/m.json",
        "--no-cache",
        "--pull",
        "--push",
        "--load",
        "--set",
        "cpu.args.APP_UID=1001",
        "--set",
        "*.platform=linux/arm64",
        "all",
      ],
    );
  });

  const target: ResolvedTarget = {
    context: "../iopaint",
    dockerfile: "cwd://docker/Dockerfile",
    target: "runtime",
    args: { VARIANT: "cpu", NODE_IMAGE: "node:18-bookworm" },
    labels: { "org.opencontainers.image.version": "1.6.0" },
    tags: ["iopaint:cpu-1.6.0", "iopaint:cpu-latest"],
    platforms: ["linux/amd64"],
    "cache-from": ["type=gha,scope=cpu"],
  } as ResolvedTarget;

  it("fallback: cwd:// is relative to where bake runs, and what docker build cannot honour is named", () => {
    const { argv, unsupported } = dockerBuildArgs(target, "/repo", { noCache: true });
    assert.deepEqual(argv, [
      "build",
      "--file",
      "/repo/docker/Dockerfile",
      "--progress",
      "plain",
      "--target",
      "runtime",
      "--platform",
      "linux/amd64",
      "--no-cache",
      "--build-arg",
      "VARIANT=cpu",
      "--build-arg",
      "NODE_IMAGE=node:18-bookworm",
      "--label",
      "org.opencontainers.image.version=1.6.0",
      "--tag",
      "iopaint:cpu-1.6.0",
      "--tag",
      "iopaint:cpu-latest",
      "/iopaint",
    ]);
    assert.deepEqual(unsupported, ["cache-from (type=gha,scope=cpu)"]);
  });

  it("fallback: a plain relative dockerfile is relative to the context", () => {
    assert.equal(dockerBuildArgs({ ...target, dockerfile: "Dockerfile" }, "/repo").argv[2], "/iopaint/Dockerfile");
  });

  it("fallback: secrets (the extra CA) go as --secret, as bake's secret attribute gives them", () => {
    const { argv } = dockerBuildArgs({ ...target, secret: ["id=iopaint-ca,src=/etc/corp/ca.pem"] }, "/repo");
    assert.deepEqual(argv.slice(argv.indexOf("--secret"), argv.indexOf("--secret") + 2), ["--secret", "id=iopaint-ca,src=/etc/corp/ca.pem"]);
  });

  it("fallback: two platforms at once need buildx", () => {
    assert.throws(() => dockerBuildArgs({ ...target, platforms: ["linux/amd64", "linux/arm64"] }, "/repo"), /needs buildx/);
  });

  it("fallback: the project's named contexts become local images named by their content, passed as HELPERS_IMAGE and LOCKS_IMAGE; another named context needs buildx", () => {
    const withContexts = { ...target, contexts: { "iopaint-helpers": "cwd://docker/helpers", "iopaint-locks": "cwd://config/locks", extra: "../extra" } };
    assert.deepEqual(contextDirectories(withContexts, "/repo"), { "iopaint-helpers": "/repo/docker/helpers", "iopaint-locks": "/repo/config/locks" });
    const ref = contextImageRef("iopaint-helpers", { "a.sh": "echo a\n", "b.sh": "echo b\n" });
    assert.match(ref, /^iopaint-helpers:[0-9a-f]{12}$/);
    assert.equal(contextImageRef("iopaint-helpers", { "b.sh": "echo b\n", "a.sh": "echo a\n" }), ref, "the order files are read in does not matter");
    assert.notEqual(contextImageRef("iopaint-helpers", { "a.sh": "echo A\n", "b.sh": "echo b\n" }), ref, "a changed file changes the name");
    assert.notEqual(contextImageRef("iopaint-helpers", { "c.sh": "echo a\n", "b.sh": "echo b\n" }), ref, "a renamed file changes the name");
    const { argv, unsupported } = dockerBuildArgs(withContexts, "/repo", { contextImages: { "iopaint-helpers": ref, "iopaint-locks": "iopaint-locks:0123456789ab" } });
    const buildArgs = argv.flatMap((arg, i) => (argv[i - 1] === "--build-arg" && /^(HELPERS|LOCKS)_IMAGE=/.test(arg) ? [arg] : []));
    assert.deepEqual(buildArgs, [`HELPERS_IMAGE=${ref}`, "LOCKS_IMAGE=iopaint-locks:0123456789ab"]);
    assert.deepEqual(unsupported, ["contexts.extra", "cache-from (type=gha,scope=cpu)"]);
  });

  it("fallback: --print names the context images from the compile's outputs as a build names them from the files written", async () => {
    const out = await mkdtemp(join(tmpdir(), "iopaint-contexts-"));
    try {
      const { outputs } = await compileConfigOption(join(REPO, FIXTURE_CONFIG), out);
      await writeOutputs(out, outputs);
      const fixtureTarget = { ...target, contexts: { "iopaint-helpers": "cwd://docker/helpers", "iopaint-locks": "cwd://test/fixtures/locks" } };
      const onDisk = await contextImages(fixtureTarget, out);
      assert.deepEqual(Object.keys(onDisk), ["iopaint-helpers", "iopaint-locks"]);
      assert.deepEqual(contextImagesOfOutputs(fixtureTarget, out, outputs), onDisk);
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
