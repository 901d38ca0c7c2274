import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explainFailure } from "../../scripts/bake/failure.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { readRepoFile } from "../helpers/compile.ts";

/**
 * What the runner says when a build command fails, on outputs captured from real runs
 * (test/fixtures/progress/): buildx 0.13 on Docker 26 and the fallback's `docker push` on 20.10.
 */
const output = (name: string) => readRepoFile(`test/fixtures/progress/${name}`);

describe("explaining a failed build command", () => {
  it("a registry that does not answer (buildx): environment, naming the registry and the tag", () => {
    const failure = explainFailure(output("push-unreachable-buildx.txt"));
    assert.equal(failure.exitCode, ExitCode.environment);
    assert.equal(failure.message, "nothing answers at the registry 127.0.0.1:5999, so 127.0.0.1:5999/iopaint-nowhere:gpu-latest was not pushed (connection refused)");
    assert.match(failure.hint!, /IOPAINT_IMAGE names the repository \(now 127\.0\.0\.1:5999\/iopaint-nowhere\)/);
  });

  it("a registry that does not answer (docker push, the fallback)", () => {
    const failure = explainFailure(output("push-unreachable-docker-push.txt"));
    assert.equal(failure.exitCode, ExitCode.environment);
    assert.match(failure.message, /^nothing answers at the registry 127\.0\.0\.1:5999, so 127\.0\.0\.1:5999\/iopaint-nowhere was not pushed \(connection refused\)$/);
  });

  it("a registry that refuses the push: environment, with the registry's own answer and how to log in", () => {
    const failure = explainFailure(output("push-refused-buildx.txt"));
    assert.equal(failure.exitCode, ExitCode.environment);
    assert.match(failure.message, /^the registry 127\.0\.0\.1:5001 refused the push of 127\.0\.0\.1:5001\/iopaint-refused:gpu-latest: .*405 Method Not Allowed$/);
    assert.match(failure.hint!, /^log in with docker login 127\.0\.0\.1:5001 /);
  });

  it("exec format error while building a foreign platform: no emulator, and how to get one", () => {
    const failure = explainFailure(output("arm64-no-emulation.txt"), ["linux/arm64"]);
    assert.equal(failure.exitCode, ExitCode.environment);
    assert.match(failure.message, /^this host cannot run programs for linux\/arm64: a RUN step for it failed with "exec format error"/);
    assert.match(failure.hint!, /qemu-user-static/);
  });

  it("the same output without a foreign platform is a failed step, exit 1", () => {
    const failure = explainFailure(output("arm64-no-emulation.txt"), []);
    assert.equal(failure.exitCode, ExitCode.failed);
    assert.match(failure.message, /^the build failed at step \[system 2\/2\] RUN missing=/);
    assert.match(failure.message, /exec \/bin\/sh: exec format error/);
  });

  it("a failed step is named with its last lines, exit 1", () => {
    const failure = explainFailure(output("failed-requirement.log"));
    assert.equal(failure.exitCode, ExitCode.failed);
    assert.match(failure.message, /^the build failed at step \[builder /);
    assert.equal(failure.hint, undefined);
  });
});
