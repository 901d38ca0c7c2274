import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { explainFailure } from "../../scripts/bake/failure.ts";
import {
  describeBuilder,
  directoriesToMake,
  filesystemGrants,
  multiNodeCacheWarnings,
  nodeProblems,
  platformProblems,
  progressMode,
  storageDecisions,
  variableProblems,
} from "../../scripts/bake/decisions.ts";
import { parseBuilderInspect, type Builder } from "../../scripts/docker/builder.ts";
import { compileText, readRepoFile } from "../helpers/compile.ts";

function target(overrides: Partial<ResolvedTarget> = {}): ResolvedTarget {
  return { context: "IOPaint", dockerfile: "cwd://docker/Dockerfile", args: {}, labels: {}, tags: ["iopaint:cpu-latest"], ...overrides };
}

const dockerDriver = (platforms: string[]): Builder => ({ name: "default", driver: "docker", nodes: [{ name: "default", endpoint: "default", status: "running", platforms }] });

describe("filesystem grants (buildx 0.17+ entitlements)", () => {
  const targets = {
    cpu: target({
      context: "/src/IOPaint",
      secret: ["id=iopaint-ca,src=/etc/corp/ca.pem"],
      "cache-from": ["type=local,src=/var/cache/buildx/cpu"],
      "cache-to": ["type=local,dest=/var/cache/buildx/cpu,mode=max"],
    }),
    gpu: target({ context: "/src/IOPaint", "cache-from": ["type=registry,ref=ghcr.io/x/cache:gpu"], "cache-to": ["type=gha,scope=gpu,mode=max"] }),
  };

  it("grants exactly the local paths outside bake's directory: the checkout, a CA file, a local cache", () => {
    assert.deepEqual(filesystemGrants(targets, "/work/repo", "0.29.1"), ["fs.read=/etc/corp/ca.pem", "fs.read=/src/IOPaint", "fs.read=/var/cache/buildx/cpu", "fs.write=/var/cache/buildx/cpu"]);
  });

  it("grants nothing inside bake's directory (the recommended IOPaint/ layout) and nothing for remote caches", () => {
    assert.deepEqual(filesystemGrants({ cpu: target({ secret: ["id=iopaint-ca,src=certs/ca.pem"] }), gpu: targets.gpu }, "/src", "0.29.1"), []);
    assert.deepEqual(filesystemGrants({ cpu: target({ context: "../IOPaint" }) }, "/work/repo", "0.29.1"), ["fs.read=/work/IOPaint"]);
  });

  it("names the directories to make first (buildx asks for their parent when they do not exist): a local cache, a directory output, not a .tar file", () => {
    assert.deepEqual(directoriesToMake(targets, "/work/repo", ["cpu.output=type=oci,dest=/tmp/layout,tar=false", "gpu.output=type=oci,dest=/tmp/gpu.tar", "cpu.output=type=local,dest=out/reports"]), [
      "/tmp/layout",
      "/var/cache/buildx/cpu",
      "/work/repo/out/reports",
    ]);
  });

  it("grants writing an output given with --set T.output=…,dest=PATH (npm run lock, the reproducibility checks)", () => {
    assert.deepEqual(
      filesystemGrants({ cpu: target() }, "/work/repo", "0.29.1", ["cpu.output=type=oci,dest=/tmp/out/cpu.tar,rewrite-timestamp=true", "cpu.args.X=1", "cpu.output=type=local,dest=locks-out"]),
      ["fs.write=/tmp/out/cpu.tar"],
    );
  });

  it("passes no --allow to a buildx older than 0.17, which has no fs entitlement and would reject the flag", () => {
    assert.deepEqual(filesystemGrants(targets, "/work/repo", "0.13.1"), []);
    assert.equal(filesystemGrants(targets, "/work/repo", "0.17.0").length, 4);
  });

  it("explains buildx's refusal (exit 3, the grants it asked for, the layout that needs none), from buildx 0.29's real output", () => {
    const failure = explainFailure(readRepoFile("test/fixtures/progress/entitlement-refused-buildx-0.29.txt"));
    assert.equal(failure.exitCode, ExitCode.environment);
    assert.match(failure.message, /^buildx refused to build: it was not granted fs\.read=\/work\/main\/test\/fixtures\/app \(filesystem entitlements, buildx 0\.20 and later\), so nothing was built$/);
    assert.match(failure.hint!, /IOPaint\/ in the repository root/);
    assert.match(failure.hint!, /--allow=fs\.read=\/work\/main\/test\/fixtures\/app to docker buildx bake/);
  });
});

describe("what the builder can store: provenance and cache export", () => {
  const auto = { cpu: target(), gpu: target() };
  const min = { cpu: target({ attest: ["type=provenance,mode=min"] }) };
  const off = { cpu: target({ attest: ["type=provenance,disabled=true"] }) };
  const cached = { cpu: target({ "cache-to": ["type=local,dest=/c/cpu,mode=max"] }) };
  const sbom = { cpu: target({ attest: ["type=sbom,generator=127.0.0.1:5000/iopaint-standin/sbom-scanner:1"] }) };
  const classic = parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.29-classic.txt"));

  it("on the docker driver with the classic image store: auto says in one line that none is attached", () => {
    const { problems, notes } = storageDecisions(auto, classic, "graphdriver");
    assert.deepEqual(problems, []);
    assert.equal(notes.length, 1);
    assert.match(
      notes[0],
      /^no provenance attestation: the default builder \(docker driver\) on the classic image store cannot store one \(IOPAINT_PROVENANCE=auto\); to attach one, turn on the containerd image store/,
    );
    assert.deepEqual(storageDecisions(off, classic, "graphdriver"), { problems: [], notes: [] }, "false asks for none: nothing to say");
  });

  it("an explicit min or max, or a cache export, is an environment problem with the fix", () => {
    const [provenance] = storageDecisions(min, classic, "graphdriver").problems;
    assert.equal(provenance.kind, "environment");
    assert.match(provenance.message, /IOPAINT_PROVENANCE asks for a provenance attestation, which the default builder \(docker driver\) on the classic image store cannot store/);
    assert.match(provenance.hint!, /IOPAINT_PROVENANCE=auto .* or false, or turn on the containerd image store .* docker-container builder/);
    const [cache] = storageDecisions(cached, classic, "graphdriver").problems;
    assert.match(cache.message, /IOPAINT_CACHE exports the build cache, which the default builder \(docker driver\) on the classic image store cannot do/);
    const [bom] = storageDecisions(sbom, classic, "graphdriver").problems;
    assert.match(bom.message, /IOPAINT_SBOM=true asks for an SBOM attestation, which the default builder \(docker driver\) on the classic image store cannot store/);
    assert.match(bom.hint!, /unset IOPAINT_SBOM, or turn on the containerd image store/);
  });

  it("the containerd image store, or any driver but docker, stores both", () => {
    for (const [builder, store] of [
      [classic, "containerd"],
      [{ ...classic!, driver: "docker-container" }, "graphdriver"],
    ] as const) {
      for (const targets of [auto, min, cached, sbom]) assert.deepEqual(storageDecisions(targets, builder, store), { problems: [], notes: [] });
    }
  });
});

describe("platforms the builder runs", () => {
  it("names a target's platform that no node runs, with how to add emulation", () => {
    const arm64Host = dockerDriver(["linux/arm64", "linux/arm/v7"]);
    const [problem] = platformProblems({ cpu: target(), gpu: target({ platforms: ["linux/amd64"] }) }, arm64Host);
    assert.equal(problem.kind, "environment");
    assert.match(problem.message, /^gpu builds for linux\/amd64, which no node of the default builder \(docker driver\) runs: it lists linux\/arm64, linux\/arm\/v7$/);
    assert.match(problem.hint!, /tonistiigi\/binfmt --install amd64/);
  });

  it("accepts what a node lists (buildx 0.13's inspect, with QEMU registered for arm64), and a builder it could not inspect", () => {
    const builder = parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.13.txt"));
    assert.deepEqual(platformProblems({ cpu: target({ platforms: ["linux/amd64", "linux/arm64"] }), gpu: target({ platforms: ["linux/amd64"] }) }, builder), []);
    assert.deepEqual(platformProblems({ gpu: target({ platforms: ["linux/s390x"] }) }, undefined), []);
  });
});

describe("the builder's nodes", () => {
  // buildx 0.29.1's inspect of the two-node remote builder (scripts/engine/buildkit-nodes.ts), its arm64 node's buildkitd stopped.
  const remote = parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.29-remote.txt"))!;

  it("names a remote node buildx cannot reach, with its endpoint and how to build without it", () => {
    const [problem, ...more] = nodeProblems(remote);
    assert.deepEqual(more, []);
    assert.equal(problem.kind, "environment");
    assert.equal(problem.message, "node iopaint-nodes-arm64 of the iopaint-nodes builder (remote driver, tcp://10.213.0.3:1234) is inactive: buildx cannot reach its BuildKit");
    assert.match(problem.hint!, /docker buildx create --leave --name iopaint-nodes --node iopaint-nodes-arm64/);
  });

  it("leaves an inactive docker-container node to buildx, which starts it, and has nothing to say of running nodes", () => {
    const container: Builder = { name: "ci", driver: "docker-container", nodes: [{ name: "ci0", endpoint: "unix:///var/run/docker.sock", status: "inactive", platforms: [] }] };
    assert.deepEqual(nodeProblems(container), []);
    assert.equal(nodeProblems({ ...container, nodes: [{ ...container.nodes[0], status: "error: no such container" }] }).length, 1);
    assert.deepEqual(nodeProblems(dockerDriver(["linux/amd64"])), []);
    assert.deepEqual(nodeProblems(undefined), []);
  });

  it("warns that a multi-platform target's cache export on several nodes keeps one platform's (docker/buildx#1044)", () => {
    const release = target({ platforms: ["linux/amd64", "linux/arm64"], "cache-to": ["type=registry,ref=r:cache-cpu,mode=max"] });
    const [warning, ...more] = multiNodeCacheWarnings({ cpu: release, gpu: target({ platforms: ["linux/amd64"], "cache-to": ["type=registry,ref=r:cache-gpu,mode=max"] }) }, remote);
    assert.deepEqual(more, [], "gpu builds one platform: its cache is whole");
    assert.match(warning, /^cpu builds linux\/amd64 and linux\/arm64 on the 2 nodes of iopaint-nodes and exports its cache: .*docker\/buildx#1044/);
    assert.deepEqual(multiNodeCacheWarnings({ cpu: release }, dockerDriver(["linux/amd64", "linux/arm64"])), [], "one node: one cache");
    assert.deepEqual(multiNodeCacheWarnings({ cpu: target({ platforms: ["linux/amd64", "linux/arm64"] }) }, remote), [], "no export");
  });

  it("describes each node of a builder that is not the daemon's own: endpoint, status and platforms", () => {
    assert.deepEqual(describeBuilder(remote, "containerd"), [
      "builder iopaint-nodes (remote driver; 2 nodes)",
      "  node iopaint-nodes-amd64 at tcp://10.213.0.2:1234: running; platforms linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/amd64/v4, linux/arm64, linux/386",
      "  node iopaint-nodes-arm64 at tcp://10.213.0.3:1234: inactive; platforms linux/arm64",
    ]);
    assert.deepEqual(describeBuilder(dockerDriver(["linux/amd64"]), "graphdriver"), ["builder default (docker driver, classic image store; 1 node)"]);
  });
});

describe("docker buildx inspect, parsed", () => {
  it("reads the builder's name, driver and each node's status and platforms (buildx 0.13.1 and 0.29.1)", () => {
    assert.deepEqual(parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.13.txt")), {
      name: "default",
      driver: "docker",
      nodes: [{ name: "default", endpoint: "default", status: "running", platforms: ["linux/amd64", "linux/amd64/v2", "linux/amd64/v3", "linux/arm64"] }],
    });
    assert.equal(parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.29-classic.txt"))?.nodes[0].platforms.includes("linux/386"), true);
  });

  it("takes several nodes, and drops the * buildx puts after a platform a node was configured with", () => {
    const text =
      "Name:          multi\nDriver:        remote\nLast Activity: 2026-12-04\n\nNodes:\nName:      multi0\nEndpoint:  tcp://10.0.0.1:1234\nStatus:    running\nPlatforms: linux/amd64*\n\nName:      multi1\nEndpoint:  tcp://10.0.0.2:1234\nStatus:    inactive\nPlatforms: linux/arm64*, linux/arm/v7\n";
    assert.deepEqual(parseBuilderInspect(text), {
      name: "multi",
      driver: "remote",
      nodes: [
        { name: "multi0", endpoint: "tcp://10.0.0.1:1234", status: "running", platforms: ["linux/amd64"] },
        { name: "multi1", endpoint: "tcp://10.0.0.2:1234", status: "inactive", platforms: ["linux/arm64", "linux/arm/v7"] },
      ],
    });
    assert.equal(parseBuilderInspect("ERROR: no builder"), undefined);
  });
});

describe("enumerated bake variables", () => {
  const { plan } = compileText(readRepoFile("config/iopaint.toml"));

  it("refuses a value the bake file would silently ignore, naming the allowed ones (exit 2)", () => {
    const problems = variableProblems(plan.variables, { IOPAINT_PLATFORMS: "foo", IOPAINT_CACHE: "bogus", IOPAINT_PROVENANCE: "mode=max" });
    assert.deepEqual(
      problems.map((p) => p.kind),
      ["usage", "usage", "usage"],
    );
    assert.equal(problems[0].message, 'IOPAINT_PLATFORMS="foo" is not a value docker-bake.hcl knows: expected "", "release"');
    assert.equal(problems[1].message, 'IOPAINT_CACHE="bogus" is not a value docker-bake.hcl knows: expected "", "gha", "registry", "local"');
    assert.equal(problems[2].message, 'IOPAINT_PROVENANCE="mode=max" is not a value docker-bake.hcl knows: expected "auto", "min", "max", "false"');
    assert.match(problems[2].hint!, /Unset it for the default \("auto"\)\.$/);
  });

  it("accepts each allowed value and leaves free-form variables alone", () => {
    for (const variable of plan.variables.filter((v) => v.allowed)) {
      for (const value of variable.allowed!) assert.deepEqual(variableProblems(plan.variables, { [variable.name]: value }), [], `${variable.name}=${value}`);
    }
    assert.deepEqual(variableProblems(plan.variables, { IOPAINT_VERSION: "anything", IOPAINT_CACHE_REF: "/x" }), []);
  });

  it("the bake file lists the allowed values beside each enumerated variable", () => {
    const bake = readRepoFile("docker-bake.hcl");
    for (const variable of plan.variables.filter((v) => v.allowed)) {
      assert.match(bake, new RegExp(`# Allowed: ${variable.allowed!.map((v) => JSON.stringify(v)).join(", ")}; npm run bake refuses any other\\.\\nvariable "${variable.name}"`));
    }
  });
});

describe("the progress shown", () => {
  const terminal = { terminal: true, env: {}, fallback: false };
  it("auto: buildx's tty display in a terminal, plain in CI, when piped, and on the fallback", () => {
    assert.deepEqual(progressMode("auto", terminal), { mode: "tty" });
    assert.deepEqual(progressMode("auto", { ...terminal, env: { CI: "true" } }), { mode: "plain" });
    assert.deepEqual(progressMode("auto", { ...terminal, env: { CI: "false" } }), { mode: "tty" });
    assert.deepEqual(progressMode("auto", { ...terminal, terminal: false }), { mode: "plain" });
    assert.deepEqual(progressMode("auto", { ...terminal, fallback: true }), { mode: "plain" });
  });

  it("plain always; tty where it can be shown, else plain with a note saying why", () => {
    assert.deepEqual(progressMode("plain", terminal), { mode: "plain" });
    assert.deepEqual(progressMode("tty", { ...terminal, env: { CI: "true" } }), { mode: "tty" });
    assert.match(progressMode("tty", { ...terminal, terminal: false }).note ?? "", /needs a terminal/);
    assert.match(progressMode("tty", { ...terminal, fallback: true }).note ?? "", /fallback shows plain progress/);
  });
});
