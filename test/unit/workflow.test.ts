import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { resolveBake } from "../../generator/bake/resolve.ts";
import { compileText, MAIN_CONFIG, readRepoFile, REPO } from "../helpers/compile.ts";
import { evaluate, githubContext, jobEnv, listInput, loadWorkflow, WORKFLOW, type Contexts } from "../helpers/workflow.ts";

/**
 * .github/workflows/images.yml can only be run on GitHub, so what can be checked here is checked,
 * on the workflow as GitHub's own parser reads it and with its expressions evaluated by GitHub's
 * evaluator: everything it names must exist (bake targets and groups, files, npm scripts,
 * IOPAINT_* bake variables), the metadata steps must really reach the targets that get built, and
 * it may push only for a version tag. test/e2e/release.test.ts runs its tag-push invocation.
 */
const workflow = loadWorkflow();
const bakeText = readRepoFile("docker-bake.hcl");
const steps = Object.values(workflow.jobs).flatMap((job) => job.steps);
const action = (name: string) => steps.filter((step) => step.uses?.split("@")[0] === name);
const bakeStep = action("docker/bake-action")[0];
const metadataSteps = action("docker/metadata-action");

/** The contexts of one event, with each metadata step's bake-file outputs named after the step. */
function contextsFor(event: Parameters<typeof githubContext>[0]): Contexts {
  const github = githubContext(event);
  const outputs = Object.fromEntries(metadataSteps.map((step) => [step.id!, { outputs: { "bake-file-tags": `/tmp/${step.id}-tags.json`, "bake-file-labels": `/tmp/${step.id}-labels.json` } }]));
  return { github, env: jobEnv(workflow, "images", github), vars: {}, secrets: {}, inputs: {}, steps: outputs };
}
const TAG_PUSH = { name: "push", ref: "refs/tags/v1.6.0" } as const;

/** Bake variables declared in the bake file (`variable "NAME" {`). */
function declaredVariables(text: string): Set<string> {
  return new Set([...text.matchAll(/^variable "([A-Za-z0-9_]+)"/gm)].map((match) => match[1]));
}

/** Every IOPAINT_* variable the workflow sets: env blocks at any level, and `NAME=… >> $GITHUB_ENV` in scripts. */
function iopaintVariablesSet(): string[] {
  const envBlocks = [workflow.env, ...Object.values(workflow.jobs).flatMap((job) => [job.env, ...job.steps.map((step) => step.env)])];
  const fromEnv = envBlocks.flatMap((env) => Object.keys(env ?? {}));
  const fromScripts = steps.flatMap((step) => [...(step.run ?? "").matchAll(/\b(IOPAINT_[A-Z0-9_]+)=/g)].map((match) => match[1]));
  return [...new Set([...fromEnv, ...fromScripts].filter((name) => name.startsWith("IOPAINT_")))];
}

describe(WORKFLOW, () => {
  it("builds targets and groups that docker-bake.hcl defines", () => {
    const named = [...listInput(bakeStep.with?.targets), ...metadataSteps.map((step) => String(step.with?.["bake-target"] ?? "docker-metadata-action"))];
    assert.ok(named.includes("all"), "the all group is built");
    for (const name of named) {
      assert.doesNotThrow(() => resolveBake(bakeText, [name], {}), `${name} is a target or group of docker-bake.hcl`);
    }
  });

  it("names only files that exist in the repository", () => {
    const files = listInput(evaluate(bakeStep.with?.files, contextsFor(TAG_PUSH)))
      .filter((file) => !file.startsWith("cwd:///tmp/"))
      .map((file) => file.replace(/^cwd:\/\//, ""));
    const paths = [...files, String(bakeStep.with?.source), ...action("actions/setup-node").map((step) => String(step.with?.["cache-dependency-path"]))];
    assert.ok(files.includes("./docker-bake.hcl"));
    for (const path of paths) assert.ok(existsSync(join(REPO, path)), `${path} exists`);
  });

  it("runs only npm scripts that package.json defines", () => {
    const scripts = Object.keys((JSON.parse(readRepoFile("package.json")) as { scripts: Record<string, string> }).scripts);
    const used = steps.flatMap((step) => [...(step.run ?? "").matchAll(/npm run (?:-s )?([\w:-]+)/g)].map((match) => match[1]));
    assert.ok(used.includes("check"));
    for (const name of used) assert.ok(scripts.includes(name), `npm run ${name} exists`);
  });

  it("sets only IOPAINT_* variables that docker-bake.hcl declares", () => {
    const declared = declaredVariables(bakeText);
    const set = iopaintVariablesSet();
    assert.ok(set.includes("IOPAINT_CACHE") && set.includes("IOPAINT_SRC") && set.includes("IOPAINT_VERSION"), `found ${set.join(", ")}`);
    for (const name of set) assert.ok(declared.has(name), `${name} is declared in docker-bake.hcl (declared: ${[...declared].join(", ")})`);
  });

  it("gives each variant its own gha cache scope through the bake file's variables", () => {
    const images = workflow.jobs.images;
    assert.equal(images.env?.IOPAINT_CACHE, "gha");
    const resolved = resolveBake(bakeText, listInput(bakeStep.with?.targets), { IOPAINT_CACHE: "gha" }).target;
    const scopes = Object.values(resolved).map((target) => target["cache-to"]?.[0]);
    assert.deepEqual(scopes, ["type=gha,scope=iopaint-cpu,mode=max", "type=gha,scope=iopaint-gpu,mode=max"]);
  });

  it("feeds the metadata steps' bake files to targets that are built", () => {
    // The metadata action writes a bake file defining its bake-target; merged after ours, its
    // tags and labels must land on the images. Simulate each step's file and resolve the build.
    const simulated = metadataSteps.map((step, i) => {
      const target = String(step.with?.["bake-target"] ?? "docker-metadata-action");
      return `target "${target}" {\n  tags = ["example/step${i}:t"]\n  labels = {\n    "step${i}" = "yes"\n  }\n}\n`;
    });
    const resolved = resolveBake(`${bakeText}\n${simulated.join("")}`, listInput(bakeStep.with?.targets), {}).target;
    metadataSteps.forEach((step, i) => {
      const output = String(step.with?.["bake-target"] ?? "docker-metadata-action");
      const reached = Object.entries(resolved)
        .filter(([, target]) => target.tags.includes(`example/step${i}:t`) || target.labels[`step${i}`] === "yes")
        .map(([name]) => name);
      assert.ok(reached.length, `${step.name} (bake-target ${output}) reaches a built target`);
      assert.ok(
        listInput(evaluate(bakeStep.with?.files, contextsFor(TAG_PUSH))).some((file) => file.startsWith(`cwd:///tmp/${step.id}-`)),
        `${step.name}'s bake file is passed to bake`,
      );
    });
    // Each variant keeps its own tags: the cpu step's never reach gpu.
    const cpuStep = metadataSteps.findIndex((step) => step.with?.["bake-target"] === "docker-metadata-action-cpu");
    assert.ok(resolved.cpu.tags.includes(`example/step${cpuStep}:t`));
    assert.ok(!resolved.gpu.tags.includes(`example/step${cpuStep}:t`));
  });

  it("restores the config's description of the software over the metadata action's", () => {
    const { plan } = compileText(readRepoFile(MAIN_CONFIG));
    const shared = metadataSteps.find((step) => step.with?.["bake-target"] === undefined)!;
    const labels = Object.fromEntries(listInputLines(evaluate(shared.with?.labels, contextsFor(TAG_PUSH))).map((line) => [line.slice(0, line.indexOf("=")), line.slice(line.indexOf("=") + 1)]));
    for (const key of ["org.opencontainers.image.title", "org.opencontainers.image.description", "org.opencontainers.image.licenses"]) {
      assert.equal(labels[key], plan.labels[key], `${key} as in ${MAIN_CONFIG}`);
    }
  });

  it("pushes and logs in only for a version tag; pull requests and branches build without pushing", () => {
    const login = action("docker/login-action")[0];
    const events = [
      { event: TAG_PUSH, pushes: true },
      { event: { name: "push", ref: "refs/tags/v1.7.0-rc1" } as const, pushes: true },
      { event: { name: "push", ref: "refs/heads/main" } as const, pushes: false },
      { event: { name: "pull_request", ref: "refs/pull/12/merge" } as const, pushes: false },
    ];
    for (const { event, pushes } of events) {
      const contexts = contextsFor(event);
      assert.equal(evaluate(bakeStep.with?.push, contexts), String(pushes), `${event.name} ${event.ref}: push`);
      assert.equal(evaluate(`\${{ ${login.if} }}`, contexts), String(pushes), `${event.name} ${event.ref}: login`);
      assert.equal(contexts.env.IOPAINT_PROVENANCE, "min", "a provenance attestation unless the repository variable says otherwise");
      // Empty, bake-action would pass --provenance mode=max on a public repository.
      assert.equal(evaluate(bakeStep.with?.provenance, contexts), "mode=min", "bake-action passes the bake file's provenance setting");
    }
    for (const [variable, passed] of [
      ["false", "false"],
      ["max", "mode=max"],
    ]) {
      const github = githubContext(TAG_PUSH);
      const env = jobEnv(workflow, "images", github, { IOPAINT_PROVENANCE: variable });
      assert.equal(env.IOPAINT_PROVENANCE, variable);
      assert.equal(evaluate(bakeStep.with?.provenance, { github, env, vars: { IOPAINT_PROVENANCE: variable }, secrets: {}, inputs: {}, steps: {} }), passed);
    }
    assert.match(String(login.with?.password), /secrets\./, "the registry password comes from secrets");
    assert.ok("pull_request" in workflow.on && "push" in workflow.on);
  });

  it("checks the generated files first, with npm ci && npm run check", () => {
    assert.ok(workflow.jobs.check.steps.some((step) => step.run === "npm ci && npm run check"));
    assert.equal(workflow.jobs.images.needs, "check");
  });

  it("runs on actions that still run: the Node 24 majors (GitHub removed Node 20 from its runners on 2026-09-16), and builds with Node 24", () => {
    const NODE24_MAJORS: Record<string, number> = {
      "actions/checkout": 6,
      "actions/setup-node": 6,
      "docker/setup-qemu-action": 4,
      "docker/setup-buildx-action": 4,
      "docker/metadata-action": 6,
      "docker/login-action": 4,
      "docker/bake-action": 7,
    };
    const used = [...Object.values(workflow.jobs).flatMap((job) => job.steps)].map((step) => step.uses).filter((uses): uses is string => Boolean(uses));
    assert.ok(used.length >= 8);
    for (const uses of used) {
      const [name, ref] = uses.split("@");
      assert.ok(name in NODE24_MAJORS, `${uses}: an action this test does not know; add its Node 24 major`);
      assert.equal(ref, `v${NODE24_MAJORS[name]}`, `${uses}: expected ${name}@v${NODE24_MAJORS[name]}`);
    }
    const setupNode = workflow.jobs.check.steps.find((step) => step.uses?.startsWith("actions/setup-node@"));
    assert.equal(String(setupNode?.with?.["node-version"]), "24");
    // bake-action v7 has no workdir input (merged into source): the build reads this checkout.
    const bake = action("docker/bake-action")[0];
    assert.equal(bake.with?.source, ".");
    assert.equal(bake.with?.workdir, undefined);
  });

  it("uses the actions docs/ci.md describes, at the versions it names", () => {
    const doc = readRepoFile("docs/ci.md");
    for (const uses of new Set(steps.map((step) => step.uses).filter(Boolean))) assert.ok(doc.includes(uses!), `docs/ci.md names ${uses}`);
  });
});

/** A multi-line input, one entry per line (values may contain commas). */
function listInputLines(value: unknown): string[] {
  return String(value ?? "")
    .split("\n")
    .map((line) => line.trim())
    .filter(Boolean);
}
