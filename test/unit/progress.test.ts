import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { describeFailure, parseProgress } from "../../scripts/bake/progress.ts";
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
    assert.deepEqual(report.steps.map((s) => [s.stage, s.name, s.state]), [["1/3", "FROM base", "done"], ["2/3", "RUN echo hi", "done"], ["", "[internal] load build context", "done"]]);
    assert.equal(report.executed, 1);
  });
});
