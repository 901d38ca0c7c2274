import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { bakeArgs, dockerBuildArgs } from "../../scripts/docker/build-args.ts";
import { contextImageRef, helpersDirectory, helpersImageOfOutputs, helpersImageRef } from "../../scripts/docker/context-images.ts";
import { compileText, MAIN_CONFIG, REPO, readRepoFile } from "../helpers/compile.ts";

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

  it("fallback: the helpers' named context becomes a local image named by its content, passed as HELPERS_IMAGE; another named context needs buildx", () => {
    const withContexts = { ...target, contexts: { "iopaint-helpers": "cwd://docker/helpers", extra: "../extra" } };
    assert.equal(helpersDirectory(withContexts, "/repo"), "/repo/docker/helpers");
    const ref = contextImageRef("iopaint-helpers", { "a.sh": "echo a\n", "b.sh": "echo b\n" });
    assert.match(ref, /^iopaint-helpers:[0-9a-f]{12}$/);
    assert.equal(contextImageRef("iopaint-helpers", { "b.sh": "echo b\n", "a.sh": "echo a\n" }), ref, "the order files are read in does not matter");
    assert.notEqual(contextImageRef("iopaint-helpers", { "a.sh": "echo A\n", "b.sh": "echo b\n" }), ref, "a changed file changes the name");
    assert.notEqual(contextImageRef("iopaint-helpers", { "c.sh": "echo a\n", "b.sh": "echo b\n" }), ref, "a renamed file changes the name");
    const { argv, unsupported } = dockerBuildArgs(withContexts, "/repo", { helpersImage: ref });
    assert.deepEqual(argv.slice(argv.indexOf(`HELPERS_IMAGE=${ref}`) - 1, argv.indexOf(`HELPERS_IMAGE=${ref}`) + 1), ["--build-arg", `HELPERS_IMAGE=${ref}`]);
    assert.deepEqual(unsupported, ["contexts.extra", "cache-from (type=gha,scope=cpu)"]);
  });

  it("fallback: --print names the helpers image from the compile's outputs as a build names it from the files", async () => {
    const onDisk = await helpersImageRef({ ...target, contexts: { "iopaint-helpers": "cwd://docker/helpers" } }, REPO);
    assert.equal(helpersImageOfOutputs(compileText(readRepoFile(MAIN_CONFIG)).outputs), onDisk);
  });
});
