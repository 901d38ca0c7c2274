import assert from "node:assert/strict";
import { cp, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa, type ResultPromise } from "execa";
import { parseProgress, stepsRan } from "../../scripts/bake/progress.ts";
import { DEPENDENCY_STAGES } from "../../scripts/bench/figures.ts";
import { netnsPath } from "../../scripts/docker/engine.ts";
import { ensureBuildkitBinaries } from "../../scripts/engine/buildkit-image.ts";
import { type BuildkitNode, ensureBuildkitNodes, NODES_BUILDER, startNode, stopNode } from "../../scripts/engine/buildkit-nodes.ts";
import { ensureArm64Emulation, type Emulation } from "../../scripts/engine/emulation.ts";
import { engineRegistry } from "../../scripts/engine/private-engine.ts";
import { REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";
import { isAttestation, platformsOf, rawIndex } from "../helpers/oci-index.ts";
import { registryBasesConfig } from "../helpers/registry-bases.ts";

/**
 * A builder of two machines (issue 26): two standalone BuildKit daemons from the Go module, each
 * on a test host of its own (a network namespace with its own address on a LAN), joined with
 * buildx's remote driver, linux/amd64 on one node and linux/arm64 under QEMU on the other
 * (scripts/engine/buildkit-nodes.ts). `npm run bake -- --builder iopaint-nodes` runs in the
 * engine's namespace, where the LAN and the registry are, as on a machine that reaches its
 * builders. Which node built what is read from each daemon's own build history (buildctl).
 */
describe("a builder of two nodes (remote driver): one platform on each", { timeout: 20 * 60_000 }, () => {
  let docker: TestEngine;
  let emulation: Emulation;
  let nodes: BuildkitNode[];
  let registry: string;
  let registryDir: string;
  let config: string;
  let source: string;
  let out: string;
  let buildctl: string;
  const repository = `iopaint-nodes-${process.pid}`;
  const repositories = [repository, `${repository}-cache`, `${repository}-cache-arm64`, `${repository}-lost`, `${repository}-stopped`];

  before(async () => {
    docker = await TestEngine.start("newest");
    emulation = await ensureArm64Emulation(() => {});
    if (!emulation.ok) return;
    ({ address: registry, dir: registryDir } = await engineRegistry(docker.engine));
    nodes = await ensureBuildkitNodes(docker.engine, () => {});
    buildctl = join(await ensureBuildkitBinaries(() => {}), "buildctl");
    config = await registryBasesConfig(docker, registry, emulation, "nodes");
    source = await docker.tempDir("iopaint-nodes-src-");
    await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
    out = await docker.tempDir("iopaint-nodes-out-");
  });
  after(async () => {
    // A test that stopped a node leaves it running again for the next.
    if (nodes) for (const node of nodes) await startNode(docker.engine, node, () => {});
    await docker?.cleanup();
    if (registryDir) for (const name of repositories) await rm(join(registryDir, "data/docker/registry/v2/repositories", name), { recursive: true, force: true });
  });

  const skipWithoutEmulation = (t: { skip(message: string): void }) => {
    if (emulation.ok) return false;
    t.skip(`no arm64 node: ${emulation.reason}`);
    return true;
  };

  /** `npm run bake` on the two nodes, run in the engine's namespace; cpu is released for amd64 and arm64. */
  function bake(args: string[], env: Record<string, string> = {}): ResultPromise<{ all: true; reject: false }> {
    return execa(
      "nsenter",
      [
        `--net=${netnsPath(docker.engine.netns)}`,
        process.execPath,
        "--import",
        "tsx",
        "scripts/bake/cli.ts",
        "--config",
        config,
        "--out",
        out,
        "--source",
        source,
        "--builder",
        NODES_BUILDER,
        "--progress",
        "plain",
        ...args,
      ],
      { cwd: REPO, reject: false, all: true, env: { ...docker.engine.env, IOPAINT_PLATFORMS: "release", IOPAINT_IMAGE: `${registry}/${repository}`, ...env } },
    );
  }
  const tail = (text: string) => text.split("\n").slice(-40).join("\n");

  /** The builds a node's BuildKit has recorded: the variant and platform of each, whether it is still running, its error. */
  async function nodeBuilds(node: BuildkitNode) {
    const { stdout } = await execa("nsenter", [`--net=${netnsPath(docker.engine.netns)}`, buildctl, "--addr", node.endpoint, "debug", "histories", "--format", "{{json .}}"]);
    return stdout
      .split("\n")
      .filter(Boolean)
      .map((line) => {
        // BuildKit's history event types: 0 started (running), 1 complete.
        const event = JSON.parse(line) as { type?: number; record: { Ref: string; FrontendAttrs: Record<string, string>; error?: { message?: string } } };
        const attrs = event.record.FrontendAttrs;
        return { ref: event.record.Ref, what: `${attrs["label:io.iopaint.variant"]} ${attrs.platform}`, running: (event.type ?? 0) === 0, error: event.record.error?.message };
      });
  }
  /** What each node built since `before` (refs it had then). */
  const newBuilds = async (before: Map<string, Set<string>>) =>
    Object.fromEntries(await Promise.all(nodes.map(async (node) => [node.platform, (await nodeBuilds(node)).filter((b) => !before.get(node.name)!.has(b.ref))] as const)));
  const recorded = async () => new Map(await Promise.all(nodes.map(async (node) => [node.name, new Set((await nodeBuilds(node)).map((b) => b.ref))] as const)));

  /** Resolves once the plain progress shows a RUN step of `stage` for linux/arm64 started. */
  function whenArm64Runs(child: ResultPromise, stage: RegExp): Promise<string> {
    let seen = "";
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no linux/arm64 step started:\n${tail(seen)}`)), 240_000);
      child.stderr!.on("data", (chunk: Buffer) => {
        seen += chunk.toString();
        // A bake of one target names no target in its steps: "[linux/arm64 python 3/4]".
        const step = new RegExp(`^#\\d+ \\[(cpu )?linux/arm64 ${stage.source}[^\\]]*\\] RUN`, "m").exec(seen);
        if (step) {
          clearTimeout(timer);
          resolve(step[0]);
        }
      });
    });
  }

  it("npm run bake -- all --push --builder iopaint-nodes: amd64 built on one node, arm64 on the other, one index per image", async (t) => {
    if (skipWithoutEmulation(t)) return;
    const before = await recorded();
    const result = await bake(["all", "--push", "--version", "1.6.0"]);
    assert.equal(result.exitCode, 0, tail(result.all));
    // The preflight names the builder, its driver, and each node with its endpoint and status.
    assert.match(result.stderr, /^builder iopaint-nodes \(remote driver; 2 nodes\)$/m);
    for (const node of nodes) assert.match(result.stderr, new RegExp(`^  node ${node.name} at ${node.endpoint}: running; platforms ${node.platform}`, "m"));
    const builds = await newBuilds(before);
    t.diagnostic(JSON.stringify(builds));
    assert.deepEqual(
      builds["linux/arm64"].map((b) => b.what),
      ["cpu linux/arm64"],
      "the arm64 node built cpu's arm64 image and nothing else",
    );
    assert.deepEqual(builds["linux/amd64"].map((b) => b.what).sort(), ["cpu linux/amd64", "gpu linux/amd64"]);
    const cpu = await rawIndex(docker, `${registry}/${repository}:cpu-1.6.0`);
    const gpu = await rawIndex(docker, `${registry}/${repository}:gpu-1.6.0`);
    assert.deepEqual(platformsOf(cpu), ["linux/amd64", "linux/arm64"], "buildx merged the two nodes' images into one index");
    assert.deepEqual(platformsOf(gpu), ["linux/amd64"]);
    assert.equal(cpu.manifests.filter(isAttestation).length, 2, "a provenance attestation per platform (a remote builder stores them)");
  });

  it("IOPAINT_CACHE=registry: the runner warns that two nodes keep one platform's cache; built apart, each keeps its own, and an emptied builder runs no dependency step", async (t) => {
    if (skipWithoutEmulation(t)) return;
    const cacheEnv = (suffix: string) => ({ IOPAINT_CACHE: "registry", IOPAINT_CACHE_REF: `${registry}/${repository}-cache${suffix}`, IOPAINT_IMAGE: `${registry}/${repository}-cache` });
    const release = await bake(["cpu", "--push"], cacheEnv(""));
    assert.equal(release.exitCode, 0, tail(release.all));
    assert.match(release.stderr, /^warning: cpu builds linux\/amd64 and linux\/arm64 on the 2 nodes of iopaint-nodes and exports its cache: .*docker\/buildx#1044/m);
    // What the warning advises, and gpu (one platform): each with a cache of its own.
    const apart = [
      { args: ["cpu", "--platform", "linux/arm64", "--push"], env: cacheEnv("-arm64") },
      { args: ["gpu", "--push"], env: cacheEnv("") },
    ];
    for (const build of apart) {
      const exported = await bake(build.args, build.env);
      assert.equal(exported.exitCode, 0, tail(exported.all));
      assert.doesNotMatch(exported.stderr, /^warning: .*buildx#1044/m);
    }
    await docker.docker(["buildx", "prune", "--all", "--force", "--builder", NODES_BUILDER], { inEngineNetwork: true });
    for (const build of apart) {
      const imported = await bake(build.args, build.env);
      assert.equal(imported.exitCode, 0, tail(imported.all));
      const ran = stepsRan(parseProgress(imported.stderr))
        .filter((step) => DEPENDENCY_STAGES.some((stage) => step.stage.split(" ").includes(stage)))
        .map((step) => `${step.stage} ${step.name.slice(0, 60)}`);
      assert.deepEqual(ran, [], `${build.args.join(" ")}: no system or dependency step ran on the emptied builder`);
    }
  });

  it("a node down before the build: the preflight names it and its endpoint, builds nothing, exit 3", async (t) => {
    if (skipWithoutEmulation(t)) return;
    const arm64 = nodes[1];
    await stopNode(arm64);
    try {
      const result = await bake(["cpu", "--push"]);
      assert.equal(result.exitCode, 3, tail(result.all));
      assert.match(result.stderr, /node iopaint-nodes-arm64 of the iopaint-nodes builder \(remote driver, tcp:\/\/10\.213\.0\.3:1234\) is inactive: buildx cannot reach its BuildKit/);
      assert.match(result.stderr, /docker buildx create --leave --name iopaint-nodes --node iopaint-nodes-arm64/);
      assert.doesNotMatch(result.stderr, /^#\d+ /m, "no build step started");
    } finally {
      await startNode(docker.engine, arm64, () => {});
    }
  });

  it("a node killed in the middle of a build: exit 1 naming the node, and no cpu tag points at an index with a platform missing", async (t) => {
    if (skipWithoutEmulation(t)) return;
    const arm64 = nodes[1];
    const image = `${registry}/${repository}-lost`;
    const child = bake(["cpu", "--push", "--no-cache", "--version", "1.6.0"], { IOPAINT_IMAGE: image });
    try {
      t.diagnostic(`killed the arm64 node's buildkitd (SIGKILL) once this ran: ${await whenArm64Runs(child, /(system|python|builder)/)}`);
      await stopNode(arm64, { kill: true });
      const result = await child;
      assert.equal(result.exitCode, 1, tail(result.all));
      assert.match(result.stderr, /error: node iopaint-nodes-arm64 \(tcp:\/\/10\.213\.0\.3:1234\) of the iopaint-nodes builder stopped answering during the build/);
    } finally {
      child.kill("SIGKILL");
      await startNode(docker.engine, arm64, () => {});
    }
    const tags = await docker.fetch(`http://${registry}/v2/${repository}-lost/tags/list`);
    const listed = tags.status === 200 ? ((JSON.parse(tags.body) as { tags?: string[] }).tags ?? []) : [];
    assert.deepEqual(
      listed.filter((tag) => tag.startsWith("cpu-")),
      [],
      "no cpu tag was pushed",
    );
  });

  it("Ctrl-C cancels the builds on both nodes, leaves no buildx process behind and exits 130", async (t) => {
    if (skipWithoutEmulation(t)) return;
    const before = await recorded();
    const child = bake(["cpu", "--push", "--no-cache"], { IOPAINT_IMAGE: `${registry}/${repository}-stopped` });
    await whenArm64Runs(child, /(system|python|builder)/);
    child.kill("SIGINT");
    const result = await child;
    assert.equal(result.exitCode, 130, tail(result.all));
    const left = await execa("pgrep", ["-f", `${out}/docker-bake.hcl`], { reject: false });
    assert.equal(String(left.stdout).trim(), "", "no buildx process still runs the bake");
    // Each node's build ends, cancelled, within seconds of the interrupt.
    let builds = await newBuilds(before);
    for (let waited = 0; waited < 20_000 && Object.values(builds).some((list) => list.some((b) => b.running)); waited += 500) {
      await new Promise((resolve) => setTimeout(resolve, 500));
      builds = await newBuilds(before);
    }
    t.diagnostic(JSON.stringify(builds));
    for (const node of nodes) {
      assert.ok(builds[node.platform].length > 0, `the ${node.platform} node had started its part`);
      for (const build of builds[node.platform]) {
        assert.equal(build.running, false, `${node.name}: ${build.what} still runs`);
        assert.match(build.error ?? "", /cancel/i, `${node.name}: ${build.what} ended cancelled`);
      }
    }
  });
});
