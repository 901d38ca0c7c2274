import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeFailure, parseProgress, parseSolveStatus, reportOf, stepsRan } from "../../scripts/bake/progress.ts";
import { failedSince } from "../../scripts/docker/build-history.ts";
import { readRepoFile } from "../helpers/compile.ts";

// Real output of Docker 20.10's BuildKit (docker build --progress=plain) on the private engine.
describe("BuildKit progress", () => {
  it("counts a fully cached rebuild as all steps cached, and reads the context size", () => {
    const report = parseProgress(readRepoFile("test/fixtures/progress/warm-cpu.log"));
    assert.equal(report.executed, 0);
    assert.equal(report.cached, report.total);
    assert.ok(report.total >= 15, `found ${report.total} steps`);
    assert.ok(report.steps.some((s) => s.stage === "frontend 6/6" && s.name === "RUN npm run build" && s.state === "cached"));
    assert.equal(report.contextBytes, 709);
    assert.equal(report.failed, undefined);
  });

  it("names the failing step and keeps its last lines", () => {
    const report = parseProgress(readRepoFile("test/fixtures/progress/failed-requirement.log"));
    assert.equal(report.failed?.stage, "builder 5/5");
    assert.match(report.failed!.name, /^RUN .*pip install .*-r \/tmp\/requirements\.txt/);
    const message = describeFailure(report.failed!);
    assert.match(message, /^step \[builder 5\/5\] RUN/);
    assert.match(message, /\| ERROR: No matching distribution found for nonexistent-package==1\.0/);
    assert.ok(report.executed >= 1);
  });

  it("reads steps of a Dockerfile stage without a name ([2/5] RUN …)", () => {
    const report = parseProgress("#5 [1/3] FROM base\n#5 DONE 0.0s\n#6 [2/3] RUN echo hi\n#6 DONE 0.1s\n#7 [internal] load build context\n#7 DONE 0.0s\n");
    assert.deepEqual(
      report.steps.map((s) => [s.stage, s.name, s.state]),
      [
        ["1/3", "FROM base", "done"],
        ["2/3", "RUN echo hi", "done"],
        ["", "[internal] load build context", "done"],
      ],
    );
    assert.equal(report.executed, 1);
  });

  it("lists the Dockerfile steps a build ran: not FROM, not internal, not cached", () => {
    const report = parseProgress(
      "#5 [app 1/4] FROM base\n#5 DONE 0.0s\n#6 [internal] load build context\n#6 DONE 0.0s\n#7 [app 2/4] COPY . /src\n#7 CACHED\n#8 [app 3/4] RUN make\n#8 DONE 1.0s\n#9 [app 4/4] RUN check\n#9 ERROR: exit code 1\n",
    );
    assert.deepEqual(
      stepsRan(report).map((s) => [s.stage, s.state]),
      [
        ["app 3/4", "done"],
        ["app 4/4", "error"],
      ],
    );
  });

  it("counts a CANCELED step as run (BuildKit had started it), so every step is cached or run", () => {
    const lone = parseProgress("#8 [frontend 6/6] RUN npm run build\n#8 CANCELED\n#9 [app 1/3] COPY . /src\n#9 CACHED\n");
    assert.deepEqual([lone.total, lone.cached, lone.executed], [2, 1, 1]);
    const twins = parseProgress("#8 [frontend 6/6] RUN npm run build\n#8 CANCELED\n#12 [frontend 6/6] RUN npm run build\n#12 CACHED\n");
    assert.deepEqual([twins.total, twins.cached, twins.executed], [1, 0, 1]);
  });

  // Real output of `docker buildx bake --progress plain cpu gpu` (buildx 0.13.1, Docker 26.1) from
  // cold: each step carries its target's name, and a step both targets share is shown once.
  it("splits a multi-target bake into each target's own steps", () => {
    const whole = parseProgress(readRepoFile("test/fixtures/progress/bake-cpu-gpu-cold.txt"), ["cpu", "gpu"]);
    assert.ok(whole.steps.some((s) => s.target === "cpu" && s.stage === "builder 3/5"));
    assert.ok(whole.steps.some((s) => s.target === "gpu" && s.stage === "builder 3/5"));
    const cpu = reportOf(whole, "cpu");
    const gpu = reportOf(whole, "gpu");
    // As many steps as a build of the target alone shows (20 here): its own, plus the shared ones.
    for (const report of [cpu, gpu]) {
      assert.equal(report.total, 20);
      assert.ok(
        report.steps.some((s) => s.stage.startsWith("frontend ")),
        "the shared front end counts for both",
      );
      assert.ok(report.contextBytes > 0, "each target's own context transfer");
    }
    assert.ok(cpu.executed > 15, "a cold build ran");
    // The gpu's front-end build matched the cpu's, solved a moment earlier: one npm run build ran.
    const builds = [cpu, gpu].flatMap((r) => r.steps.filter((s) => s.name === "RUN npm run build" && s.state === "done"));
    assert.equal(builds.length, 1);
    assert.ok(gpu.executed < gpu.total);
  });

  it("reads a target's internal steps ([cpu internal]) and ignores export lines ([cpu] exporting…)", () => {
    const report = parseProgress("#7 [cpu internal] load build context\n#7 transferring context: 2.5kB done\n#7 DONE 0.0s\n#52 [cpu] exporting to image\n#52 DONE 1.0s\n", ["cpu", "gpu"]);
    assert.deepEqual(
      report.steps.map((s) => [s.target, s.name]),
      [["cpu", "[internal] load build context"]],
    );
    assert.equal(report.contextBytes, 2500);
  });
});

// buildx 0.29.1's build history on Docker 28.5 (newest engine): one record, as rawjson and as plain.
describe("buildx's build records", () => {
  const raw = readRepoFile("test/fixtures/progress/history-cpu-rawjson-buildx-0.29.json");
  const plain = readRepoFile("test/fixtures/progress/history-cpu-plain-buildx-0.29.log");

  it("reads a record's solve status (rawjson) to the same steps, states, output and context size as its plain text", () => {
    const fromRaw = parseSolveStatus(raw);
    const fromPlain = parseProgress(plain);
    assert.deepEqual([fromRaw.total, fromRaw.cached, fromRaw.executed, fromRaw.contextBytes], [fromPlain.total, fromPlain.cached, fromPlain.executed, fromPlain.contextBytes]);
    assert.ok(fromRaw.total >= 20 && fromRaw.executed > 0, JSON.stringify(fromRaw.total));
    const byStep = (steps: typeof fromRaw.steps) => new Map(steps.filter((s) => s.stage).map((s) => [`${s.stage} ${s.name}`, s.state]));
    assert.deepEqual(byStep(fromRaw.steps), byStep(fromPlain.steps));
    const torch = (steps: typeof fromRaw.steps) => steps.find((s) => s.stage === "builder 1/5")!.output;
    assert.deepEqual(torch(fromRaw.steps), torch(fromPlain.steps));
    assert.ok(torch(fromRaw.steps).some((line) => /^Successfully installed torch-2\.1\.2\+cpu/.test(line)));
  });

  it("names a failed record's step, with the error after what the step printed", () => {
    const report = parseSolveStatus(readRepoFile("test/fixtures/progress/history-failed-rawjson-buildx-0.29.json"));
    assert.equal(report.failed?.stage, "builder 4/5");
    const [printed, error] = report.failed!.output.slice(-2);
    assert.equal(printed, "installed versions differ from the pins: torch 2.1.2+cpu (pinned 9.9.9)");
    assert.match(error, /^ERROR: process "\/bin\/sh -c .*" did not complete successfully: exit code: 1$/);
  });

  it("finds a failed bake's records by time: failed ones created since it started, not older ones or successes", () => {
    const listing = [
      { ref: "default/default/new-error", status: "Error", created_at: "2026-12-04T22:04:21.5Z" },
      { ref: "default/default/new-ok", status: "Completed", created_at: "2026-12-04T22:04:21.6Z" },
      { ref: "default/default/old-error", status: "Error", created_at: "2026-12-04T22:00:00Z" },
    ]
      .map((r) => JSON.stringify({ cached_steps: 0, total_steps: 1, ...r }))
      .join("\n");
    assert.deepEqual(failedSince(`${listing}\n`, new Date("2026-12-04T22:04:20Z")), ["default/default/new-error"]);
  });
});
