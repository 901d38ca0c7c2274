import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { execa } from "execa";
import { resolveBake } from "../../generator/bake/resolve.ts";
import { resolve } from "node:path";
import { compile, OUTPUT_FILES } from "../../generator/compile.ts";
import { loadConfigFile } from "../../generator/load.ts";
import type { ProblemsError } from "../../generator/errors.ts";
import { HELPERS } from "../../generator/plan.ts";
import { STANDIN_UV_VERSION } from "../../scripts/engine/base-images.ts";
import { compileText, editedConfig, FIXTURE_CONFIG, MAIN_CONFIG, readRepoFile, REPO, helpers } from "../helpers/compile.ts";

const mainText = readRepoFile(MAIN_CONFIG);
const MIRROR_ARGS = ["NPM_REGISTRY", "DEBIAN_MIRROR", "UBUNTU_MIRROR", "PIP_INDEX_URL"];
const pick = (args: Record<string, string>, keys: string[]) => Object.fromEntries(keys.map((key) => [key, args[key]]));

describe("compile", () => {
  it("is deterministic: the same config gives the same bytes", () => {
    assert.deepEqual(compileText(mainText).outputs, compileText(mainText).outputs);
  });

  it("produces exactly the committed generated files", () => {
    const { outputs } = compileText(mainText);
    for (const [file, text] of Object.entries(outputs)) assert.equal(readRepoFile(file), text, `${file} is stale: run npm run generate`);
  });

  it("starts every generated file with a header naming its source (the helper scripts are copied as they are)", () => {
    for (const [file, text] of Object.entries(compileText(mainText).outputs)) {
      if (file.startsWith(`${HELPERS.dir}/`)) continue;
      assert.match(text.split("\n")[0], /^(#|\/\/) Generated from config\/iopaint\.toml by generator\//, file);
    }
  });

  it("reads as written once: no run of six lines twice, and no script text inside (docker/helpers/ holds it)", async () => {
    const loaded = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    // Both variants locked, as the real-packages test locks them: the pins the locks share stay in the locks.
    const cpuLock = loaded.locks!.cpu;
    const bothLocked = { ...loaded, locks: { ...loaded.locks, gpu: { file: "test/fixtures/locks/gpu.txt", text: cpuLock.text.replace('variant "cpu"', 'variant "gpu"') } } };
    for (const [name, dockerfile] of [
      ["main", compileText(mainText).outputs[OUTPUT_FILES.dockerfile]],
      ["fixture", compile(loaded, helpers, FIXTURE_CONFIG).outputs[OUTPUT_FILES.dockerfile]],
      ["both variants locked", compile(bothLocked, helpers, FIXTURE_CONFIG).outputs[OUTPUT_FILES.dockerfile]],
    ]) {
      const lines = dockerfile.split("\n");
      const seen = new Map<string, number>();
      for (let i = 0; i + 6 <= lines.length; i++) {
        const run = lines.slice(i, i + 6);
        if (run.some((line) => line.trim() === "")) continue;
        const key = run.join("\n");
        assert.ok(!seen.has(key) || seen.get(key)! > i - 6, `${name}: lines ${seen.get(key)! + 1} and ${i + 1} start the same six lines:\n${key}`);
        if (!seen.has(key)) seen.set(key, i);
      }
      assert.doesNotMatch(dockerfile, /#!\/bin\/sh|printf '%s\\n' '#/, `${name}: a script embedded in the Dockerfile`);
      const helperUses = [...dockerfile.matchAll(/source=([\w.-]+),target=\/tmp\/\1 |COPY --from=helpers ([\w.-]+) /g)].map((m) => m[1] ?? m[2]);
      assert.deepEqual([...new Set(helperUses)].sort(), Object.keys(helpers).sort(), `${name}: every helper script is used, and no other`);
    }
  });

  it("writes no # syntax= line and nothing Docker 20.10's frontend rejects", () => {
    const dockerfile = compileText(mainText).outputs[OUTPUT_FILES.dockerfile];
    assert.doesNotMatch(dockerfile, /^#\s*syntax=/im);
    assert.doesNotMatch(dockerfile, /<<[A-Z-]*EOF|COPY --link|RUN --network/);
  });
});

describe("bake file round trip", () => {
  const { plan, outputs } = compileText(mainText);
  const bake = outputs[OUTPUT_FILES.bake];
  const all = plan.targets.map((t) => t.name);

  it("resolves to exactly the planned targets, args, labels and tags", () => {
    const resolved = resolveBake(bake, all, {});
    assert.deepEqual(Object.keys(resolved.target), all);
    for (const target of plan.targets) {
      const variant = plan.variants.find((v) => v.name === target.variant)!;
      const got = resolved.target[target.name];
      assert.equal(got.target, target.stage);
      assert.equal(got.context, "IOPaint");
      assert.equal(got.dockerfile, "cwd://docker/Dockerfile");
      assert.deepEqual(got.args, sorted({ ...plan.args, ...variant.args }));
      assert.deepEqual(got.labels, sorted({ ...plan.labels, "org.opencontainers.image.version": "", "org.opencontainers.image.revision": "", ...variant.labels }));
      assert.deepEqual(got.tags, [`iopaint:${target.name}-latest`]);
      // A variant with one platform (gpu: linux/amd64, where the CUDA wheels are) gets it on every
      // host; one with several builds the builder's own unless IOPAINT_PLATFORMS=release.
      if (variant.releasePlatforms.length === 1) assert.deepEqual(got.platforms, variant.releasePlatforms);
      else assert.equal(got.platforms, undefined, "local builds use the builder's platform");
    }
  });

  it("shows the pins and base images the config names", () => {
    const { target } = resolveBake(bake, ["cpu", "gpu"], {});
    assert.equal(target.cpu.args.BASE_IMAGE, "python:3.10-slim");
    assert.equal(target.gpu.args.BASE_IMAGE, "nvidia/cuda:11.8.0-runtime-ubuntu22.04");
    assert.equal(target.cpu.args.TORCH_VERSION, "2.1.2");
    assert.equal(target.cpu.args.TORCHVISION_VERSION, "0.16.2");
    assert.equal(target.cpu.args.TORCH_INDEX_URL, "https://download.pytorch.org/whl/cpu");
    assert.equal(target.gpu.args.TORCH_INDEX_URL, "https://download.pytorch.org/whl/cu118");
    assert.equal(target.gpu.args.XFORMERS_VERSION, "0.0.23.post1");
    assert.equal(target.cpu.args.XFORMERS_VERSION, "");
  });

  it("tags <image>:<target>-<version> when IOPAINT_VERSION is set, and takes IOPAINT_IMAGE and IOPAINT_SRC", () => {
    const { target } = resolveBake(bake, ["all"], { IOPAINT_VERSION: "1.6.0", IOPAINT_IMAGE: "ghcr.io/me/iopaint", IOPAINT_SRC: "/src/IOPaint" });
    assert.deepEqual(target.cpu.tags, ["ghcr.io/me/iopaint:cpu-latest", "ghcr.io/me/iopaint:cpu-1.6.0"]);
    assert.deepEqual(target.gpu.tags, ["ghcr.io/me/iopaint:gpu-latest", "ghcr.io/me/iopaint:gpu-1.6.0"]);
    assert.equal(target.cpu.labels["org.opencontainers.image.version"], "1.6.0");
    assert.equal(target.cpu.context, "/src/IOPaint");
  });

  it("lists release platforms and per-variant cache scopes only when asked", () => {
    const { target } = resolveBake(bake, ["all"], { IOPAINT_PLATFORMS: "release", IOPAINT_CACHE: "gha" });
    assert.deepEqual(target.cpu.platforms, ["linux/amd64", "linux/arm64"]);
    assert.deepEqual(target.gpu.platforms, ["linux/amd64"]);
    assert.deepEqual(target.cpu["cache-from"], ["type=gha,scope=iopaint-cpu"]);
    assert.deepEqual(target.gpu["cache-to"], ["type=gha,scope=iopaint-gpu,mode=max"]);
    const registry = resolveBake(bake, ["cpu"], { IOPAINT_CACHE: "registry", IOPAINT_CACHE_REF: "ghcr.io/me/cache" });
    assert.deepEqual(registry.target.cpu["cache-from"], ["type=registry,ref=ghcr.io/me/cache:cache-cpu"]);
  });

  it("takes mirrors and indexes from the config's [mirrors] and [python], each overridable by its bake variable, and puts none in a label", () => {
    assert.deepEqual(pick(resolveBake(bake, ["cpu"], {}).target.cpu.args, MIRROR_ARGS), { NPM_REGISTRY: "", DEBIAN_MIRROR: "", UBUNTU_MIRROR: "", PIP_INDEX_URL: "https://pypi.org/simple" });
    const configured = editedConfig("[frontend]", '[mirrors]\nnpm_registry = "https://npm.corp.example/"\ndebian = "http://apt.corp.example/debian"\n\n[frontend]');
    const mirrored = compileText(configured).outputs[OUTPUT_FILES.bake];
    const fromConfig = resolveBake(mirrored, ["all"], {}).target;
    assert.equal(fromConfig.cpu.args.NPM_REGISTRY, "https://npm.corp.example/");
    assert.equal(fromConfig.gpu.args.DEBIAN_MIRROR, "http://apt.corp.example/debian");
    const overridden = resolveBake(mirrored, ["all"], {
      IOPAINT_NPM_REGISTRY: "http://10.0.0.1:4873/",
      IOPAINT_UBUNTU_MIRROR: "http://10.0.0.2/ubuntu",
      IOPAINT_PIP_INDEX_URL: "http://10.0.0.3/simple",
      IOPAINT_TORCH_INDEX_URL: "http://10.0.0.4/whl/{build}",
    }).target;
    assert.deepEqual(pick(overridden.gpu.args, [...MIRROR_ARGS, "TORCH_INDEX_URL"]), {
      NPM_REGISTRY: "http://10.0.0.1:4873/",
      DEBIAN_MIRROR: "http://apt.corp.example/debian",
      UBUNTU_MIRROR: "http://10.0.0.2/ubuntu",
      PIP_INDEX_URL: "http://10.0.0.3/simple",
      TORCH_INDEX_URL: "http://10.0.0.4/whl/cu118",
    });
    assert.equal(overridden.cpu.args.TORCH_INDEX_URL, "http://10.0.0.4/whl/cpu");
    for (const target of Object.values(overridden)) assert.doesNotMatch(JSON.stringify(target.labels), /corp\.example|10\.0\.0\./);
  });

  it("gives every variant and platform the same front-end stage: build platform, shared args only", () => {
    // Why a release builds the front end once: BuildKit runs steps with equal digests once (shared
    // while running, cached after), and the stage's steps are equal when it runs on the build
    // platform and reads no argument that differs between variants (test/e2e/release counts runs).
    const dockerfile = outputs[OUTPUT_FILES.dockerfile];
    const stage = /^FROM (.*) AS frontend\n([\s\S]*?)^FROM /m.exec(dockerfile);
    assert.ok(stage, "the Dockerfile has a frontend stage");
    assert.match(stage[1], /^--platform=\$BUILDPLATFORM /);
    const read = new Set([...`${stage[1]}\n${stage[2]}`.matchAll(/\$\{?([A-Z_]+)/g)].map((m) => m[1]).filter((name) => name !== "BUILDPLATFORM"));
    assert.ok(read.has("NODE_IMAGE") && read.has("NPM_REGISTRY"), [...read].join(" "));
    const { target } = resolveBake(bake, all, { IOPAINT_PLATFORMS: "release", IOPAINT_NPM_REGISTRY: "https://npm.corp.example/" });
    for (const name of read) {
      const values = new Set(Object.values(target).map((t) => (t.args as Record<string, string>)[name]));
      assert.equal(values.size, 1, `${name} differs between targets: ${[...values].join(", ")}`);
    }
  });

  it("expands groups, with default when nothing is named", () => {
    assert.deepEqual(Object.keys(resolveBake(bake, [], {}).target), ["cpu"]);
    assert.deepEqual(Object.keys(resolveBake(bake, ["dev", "cpu"], {}).target), ["cpu-dev", "gpu-dev", "cpu"]);
  });

  it("rejects an unknown target with a did-you-mean", () => {
    assert.throws(
      () => resolveBake(bake, ["gpuu"], {}),
      (error: ProblemsError) => {
        assert.match(error.problems[0].message, /unknown target or group "gpuu"/);
        assert.equal(error.problems[0].hint, 'did you mean "gpu"?');
        return true;
      },
    );
  });
});

describe("a version bump", () => {
  it("torch 2.2.2 alone fails, naming torchvision 0.17.2 and the xformers release for it", () => {
    assert.throws(
      () => compileText(editedConfig(/^torch = "2.1.2"/m, 'torch = "2.2.2"')),
      (error: ProblemsError) => {
        const text = error.problems.map((p) => `${p.location?.line}: ${p.message} | ${p.hint}`).join("\n");
        assert.match(text, /torchvision 0\.16\.2 does not match torch 2\.2\.2 \| set torchvision = "0\.17\.2"/);
        assert.match(text, /xformers 0\.0\.23\.post1 is built for torch 2\.1\.2.*set xformers = "0\.0\.25\.post1"/);
        assert.equal(error.exitCode, 2);
        return true;
      },
    );
  });

  it("with its partners fixed, changes only pinned values in the outputs", () => {
    const bumped = editedConfig(/^torch = "2.1.2"\ntorchvision = "0.16.2"\nxformers = "0.0.23.post1"/m, 'torch = "2.2.2"\ntorchvision = "0.17.2"\nxformers = "0.0.25.post1"');
    const before = compileText(mainText).outputs;
    const after = compileText(bumped).outputs;
    for (const file of Object.keys(before)) {
      const a = before[file].split("\n");
      const b = after[file].split("\n");
      assert.equal(a.length, b.length, file);
      const changed = a.map((line, i) => [line, b[i]]).filter(([x, y]) => x !== y);
      for (const [x, y] of changed) assert.match(`${x}\n${y}`, /2\.1\.2|0\.16\.2|0\.0\.23\.post1/, `${file}: unexpected change ${x} → ${y}`);
    }
  });
});

describe("the fixture config", () => {
  it("pins the uv release whose real wheel the stand-in wheelhouse holds", async () => {
    const { raw } = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    assert.equal((raw.versions as Record<string, string>).uv, STANDIN_UV_VERSION);
  });

  it("yields the committed Dockerfile but for ARG defaults and its lock: CI builds the real template", async () => {
    const fixture = compile(await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG), helpers, FIXTURE_CONFIG).outputs;
    assert.match(fixture[OUTPUT_FILES.dockerfile], /^FROM python AS lock-cpu\nRUN --mount=type=bind,from=locks,source=cpu\.txt,/m, "the fixture's cpu variant builds from its lock");
    // The real config's variants have no lock yet: a lock stage's body, and the locks context that
    // comes with the first lock (its overview line, ARG and stage), are what may differ.
    const template = (text: string) =>
      text
        .split("\n")
        .slice(2)
        .join("\n")
        .replaceAll(/(?:config|test\/fixtures)\/locks\//g, "<locks>/")
        .replace(/^# {3}locks {8}.*\n/m, "")
        .replace(/^# The locks .*\nARG LOCKS_IMAGE=.*\n/m, "")
        .replace(/^# locks: .*\nFROM \$\{LOCKS_IMAGE\} AS locks\n\n/m, "")
        .replace(/^# (lock-[a-z0-9-]+): .*\nFROM \w+ AS \1\n(?:(?:RUN| {4}).*\n)*/gm, "$1\n")
        .split("\n")
        .map((line) => line.replace(/^(ARG [A-Z_]+)=.*$/, "$1"));
    assert.deepEqual(template(fixture[OUTPUT_FILES.dockerfile]), template(readRepoFile(OUTPUT_FILES.dockerfile)));
    assert.deepEqual(fixture[OUTPUT_FILES.ignore].split("\n").slice(2), readRepoFile(OUTPUT_FILES.ignore).split("\n").slice(2));
  });
});

function sorted(map: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(map).sort(([a], [b]) => (a < b ? -1 : 1)));
}

describe(".gitattributes", () => {
  it("marks every generated file linguist-generated (git check-attr), and no hand-written helper", async () => {
    const generated = [
      ...Object.keys(compileText(mainText).outputs).filter((file) => !file.startsWith(`${HELPERS.dir}/`)),
      "generator/config-types.ts",
      "docs/config.md",
      "config/locks/cpu.txt",
      "test/fixtures/locks/cpu.txt",
    ];
    const handWritten = [...Object.keys(helpers).map((file) => `${HELPERS.dir}/${file}`), "README.md", "generator/compile.ts"];
    const { stdout } = await execa("git", ["check-attr", "linguist-generated", "--", ...generated, ...handWritten], { cwd: REPO });
    const value = Object.fromEntries(stdout.split("\n").map((line) => line.split(": linguist-generated: ")));
    for (const file of generated) assert.equal(value[file], "set", `${file} is generated`);
    for (const file of handWritten) assert.equal(value[file], "unspecified", `${file} is hand-written`);
  });
});
