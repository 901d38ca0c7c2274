import assert from "node:assert/strict";
import { chmod, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { ExitCode } from "../../generator/exit-codes.ts";
import { findScanner, scanArgs } from "../../scripts/scan/scanners.ts";
import { REPO } from "../helpers/compile.ts";

/**
 * `npm run scan` without a scanner (the message and exit code a user gets), and with stand-in
 * scanners on PATH that record how they were called and exit as a real one would.
 */
describe("npm run scan", () => {
  let empty: string;
  let fakes: string;

  before(async () => {
    empty = await mkdtemp(join(tmpdir(), "iopaint-scan-empty-"));
    fakes = await mkdtemp(join(tmpdir(), "iopaint-scan-fakes-"));
    // A stand-in scanner: prints its name and arguments, exits with $FAKE_SCAN_EXIT (default 0).
    for (const name of ["trivy", "grype"]) {
      await writeFile(join(fakes, name), `#!/bin/sh\necho "${name} $*"\nexit "\${FAKE_SCAN_EXIT:-0}"\n`);
      await chmod(join(fakes, name), 0o755);
    }
  });
  after(async () => {
    await rm(empty, { recursive: true, force: true });
    await rm(fakes, { recursive: true, force: true });
  });

  // Only PATH and what the case sets: no IOPAINT_* from the caller changes the image names.
  // PATH holds only what the case needs; sh stays reachable for the stand-ins through /bin.
  const scan = (args: string[], path: string, env: Record<string, string> = {}) =>
    execa(process.execPath, ["--import", "tsx", "scripts/scan.ts", ...args], { cwd: REPO, reject: false, all: true, env: { PATH: path, ...env }, extendEnv: false });

  it("with neither trivy nor grype, says so, links their install docs and exits with the environment code", async () => {
    const result = await scan([], empty);
    assert.equal(result.exitCode, ExitCode.environment, result.all);
    assert.match(result.stderr, /^error: no image scanner found: neither `trivy` nor `grype` is on PATH, so iopaint:cpu-latest cannot be scanned$/m);
    assert.match(result.stderr, /hint: install trivy \(https:\/\/trivy\.dev\/\S+\) or grype \(https:\/\/github\.com\/anchore\/grype#installation\)/);
    assert.doesNotMatch(result.all ?? "", /internal error|at .*\.ts:\d+/, "no stack trace");
  });

  it("names the images of every target asked for, from the config's bake file", async () => {
    const result = await scan(["all"], empty, { IOPAINT_IMAGE: "ghcr.io/you/iopaint" });
    assert.equal(result.exitCode, ExitCode.environment);
    assert.match(result.stderr, /so ghcr\.io\/you\/iopaint:cpu-latest, ghcr\.io\/you\/iopaint:gpu-latest cannot be scanned/);
  });

  it("reports an unknown target as a usage error before looking for a scanner", async () => {
    const result = await scan(["cpuu"], empty);
    assert.equal(result.exitCode, ExitCode.badInput);
    assert.match(result.stderr, /unknown target or group "cpuu"\n {2}hint: did you mean "cpu"\?/);
  });

  it("runs trivy on the cpu image, failing on HIGH and CRITICAL, and passes its verdict on", async () => {
    const path = `${fakes}:/bin:/usr/bin`;
    const clean = await scan([], path);
    assert.equal(clean.exitCode, ExitCode.ok, clean.all);
    assert.match(clean.stdout, /^trivy image --exit-code 1 --severity HIGH,CRITICAL --image-src docker iopaint:cpu-latest$/m);
    assert.match(clean.stderr, /cpu: iopaint:cpu-latest: no HIGH or CRITICAL vulnerabilities/);
    const findings = await scan([], path, { FAKE_SCAN_EXIT: "1" });
    assert.equal(findings.exitCode, ExitCode.failed, findings.all);
    assert.match(findings.stderr, /error: cpu: iopaint:cpu-latest: trivy exited with 1: HIGH or CRITICAL findings/);
  });

  it("uses grype when asked (or when it is the only one installed)", async () => {
    const result = await scan(["gpu", "--scanner", "grype"], `${fakes}:/bin:/usr/bin`);
    assert.equal(result.exitCode, ExitCode.ok, result.all);
    assert.match(result.stdout, /^grype docker:iopaint:gpu-latest --fail-on high$/m);
  });
});

describe("scanner lookup", () => {
  const onPath = (files: string[]) => (file: string) => files.includes(file);
  it("prefers trivy, searches PATH in order, and honours --scanner", () => {
    assert.deepEqual(findScanner("/a:/b", undefined, onPath(["/b/trivy", "/a/grype"])), { name: "trivy", path: "/b/trivy" });
    assert.deepEqual(findScanner("/a:/b", undefined, onPath(["/b/grype"])), { name: "grype", path: "/b/grype" });
    assert.deepEqual(findScanner("/a:/b", "grype", onPath(["/a/trivy", "/b/grype"])), { name: "grype", path: "/b/grype" });
    assert.equal(
      findScanner("", undefined, () => true),
      undefined,
    );
    assert.equal(
      findScanner(undefined, undefined, () => true),
      undefined,
    );
    assert.equal(findScanner(dirname(process.execPath), "trivy", onPath([])), undefined);
  });

  it("reads the image from the local daemon only", () => {
    assert.ok(scanArgs("trivy", "x:1").includes("--image-src"));
    assert.equal(scanArgs("grype", "x:1")[0], "docker:x:1");
  });
});
