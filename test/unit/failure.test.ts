import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { explainFailure, lostNodes } from "../../scripts/bake/failure.ts";
import { parseBuilderInspect } from "../../scripts/docker/builder.ts";
import { parseSolveStatus } from "../../scripts/bake/progress.ts";
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

  // A failed pip step in the shape of BuildKit's plain progress, printing `line`; the real npm cases run in test/e2e/ca-cert.test.ts and mirrors.test.ts.
  const failedStep = (line: string) =>
    [
      "#9 [builder 1/5] RUN pip install --index-url https://pypi.corp.example/simple torch",
      `#9 1.234 ${line}`,
      '#9 ERROR: process "/bin/sh -c pip install" did not complete successfully: exit code: 1',
      "",
    ].join("\n");

  for (const line of [
    "npm error code UNABLE_TO_GET_ISSUER_CERT_LOCALLY",
    "npm ERR! code SELF_SIGNED_CERT_IN_CHAIN",
    "ERROR: Could not install packages: [SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed: self-signed certificate in certificate chain (_ssl.c:1006)",
    "Err:1 https://deb.corp.example/debian bookworm InRelease  Certificate verification failed: The certificate is NOT trusted. The certificate issuer is unknown.",
  ]) {
    it(`a certificate from an unknown CA (${line.slice(0, 40)}…): the step, and --ca-cert / IOPAINT_CA_CERT`, () => {
      const failure = explainFailure(failedStep(line));
      assert.equal(failure.exitCode, ExitCode.failed);
      assert.match(failure.message, /^the build failed at step \[builder 1\/5\]/);
      assert.match(failure.hint!, /signed by a CA this step does not trust .*--ca-cert FILE \(npm run bake\) or IOPAINT_CA_CERT=FILE/);
    });
  }

  for (const line of [
    "npm ERR! request to https://registry.npmjs.org/escape-html/-/escape-html-1.0.3.tgz failed, reason: getaddrinfo EAI_AGAIN registry.npmjs.org",
    "WARNING: Retrying (Retry(total=4)) after connection broken by 'NewConnectionError(': Failed to establish a new connection: [Errno 101] Network is unreachable')': /simple/torch/",
    "W: Failed to fetch http://deb.debian.org/debian/dists/bookworm/InRelease  Temporary failure resolving 'deb.debian.org'",
  ]) {
    it(`a server the step cannot reach (${line.slice(0, 40)}…): mirrors and proxies`, () => {
      const failure = explainFailure(failedStep(line));
      assert.match(failure.hint!, /could not reach its server; .*IOPAINT_NPM_REGISTRY.*HTTPS_PROXY/);
    });
  }

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

  it("with tty progress (nothing kept), the failed step from buildx's record; with no record, points at buildx's own message", () => {
    const record = parseSolveStatus(output("history-failed-rawjson-buildx-0.29.json"));
    const failure = explainFailure("", [], [record]);
    assert.equal(failure.exitCode, ExitCode.failed);
    assert.match(failure.message, /^the build failed at step \[builder 4\/5\] RUN /);
    assert.match(failure.message, /\| installed versions differ from the pins: torch 2\.1\.2\+cpu \(pinned 9\.9\.9\)/);
    assert.deepEqual(explainFailure(""), { message: "the build failed (buildx's own message is above)", exitCode: ExitCode.failed });
  });
});

describe("a node lost during the build", () => {
  // buildx 0.29.1's inspect of the two-node remote builder after its arm64 node's buildkitd stopped.
  const afterLoss = parseBuilderInspect(readRepoFile("test/fixtures/progress/buildx-inspect-0.29-remote.txt"))!;

  it("names the node that no longer answers and says no tag of its images was pushed (exit 1)", () => {
    const failure = lostNodes(afterLoss)!;
    assert.equal(failure.exitCode, ExitCode.failed);
    assert.match(failure.message, /^node iopaint-nodes-arm64 \(tcp:\/\/10\.213\.0\.3:1234\) of the iopaint-nodes builder stopped answering during the build/);
    assert.match(failure.message, /no tag of an image it built part of was pushed/);
    assert.match(failure.hint!, /docker buildx create --leave --name iopaint-nodes --node iopaint-nodes-arm64/);
  });

  it("says nothing when every node still runs, or the builder could not be inspected", () => {
    assert.equal(lostNodes({ ...afterLoss, nodes: afterLoss.nodes.map((node) => ({ ...node, status: "running" })) }), undefined);
    assert.equal(lostNodes(undefined), undefined);
  });
});
