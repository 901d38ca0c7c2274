import assert from "node:assert/strict";
import { cp, mkdir } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";
import { parseProgress } from "../../scripts/bake/progress.ts";

/**
 * What buildx 0.20+ changed for users (issue 23), on the newest engine (Docker 28.5, buildx 0.29):
 * filesystem entitlements for every local path outside bake's directory, the Dockerfile linter
 * behind `--call check`, and bake variables that would otherwise ignore a bad value silently.
 * Everything here is real `docker buildx bake` or `npm run bake` on the fixture.
 */
describe("buildx 0.29 as users run it (newest engine)", { timeout: 20 * 60_000 }, () => {
  let docker: TestEngine;
  /** A directory laid out as the README recommends: the generated files, and the checkout in IOPaint/. */
  let layout: string;
  /** The same checkout outside that directory, as ../IOPaint would be. */
  let outside: string;
  const image = "iopaint-entitlements";

  before(async () => {
    docker = await TestEngine.start("newest");
    layout = (await docker.generateFixture()).dir;
    await cp(join(REPO, "test/fixtures/app"), join(layout, "IOPaint"), { recursive: true });
    outside = join(await docker.tempDir("iopaint-outside-"), "IOPaint");
    await mkdir(outside);
    await cp(join(REPO, "test/fixtures/app"), outside, { recursive: true });
    for (const tag of ["cpu-latest", "gpu-latest", "cpu-dev-latest"]) docker.trackImage(`${image}:${tag}`);
  });
  after(async () => docker?.cleanup());

  const bake = (args: string[], env: Record<string, string>) => docker.docker(["buildx", "bake", ...args], { cwd: layout, env: { IOPAINT_IMAGE: image, ...env }, reject: false });

  it("docker buildx bake cpu with the checkout inside bake's directory builds with no --allow", async () => {
    const result = await bake(["cpu"], { IOPAINT_SRC: "IOPaint" });
    assert.equal(result.exitCode, 0, result.all);
    assert.doesNotMatch(result.all, /requesting privileges/);
    assert.ok(await docker.client.inspectImage(`${image}:cpu-latest`));
  });

  it("with the checkout outside it, buildx refuses before building; npm run bake grants exactly that path and builds", async () => {
    const refused = await bake(["cpu"], { IOPAINT_SRC: outside });
    assert.notEqual(refused.exitCode, 0);
    // buildx names the path relative to its directory when it can (../iopaint-outside-…/IOPaint).
    assert.match(refused.all, new RegExp(`Read access to path \\S*${basename(dirname(outside))}/IOPaint\\n[\\s\\S]*ERROR: additional privileges requested`));
    assert.doesNotMatch(refused.all, /#\d+ \[\w+ \d+\/\d+\]/, "no build step ran");

    const runner = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--config", FIXTURE_CONFIG, "--out", layout, "--source", outside], {
      cwd: REPO,
      reject: false,
      all: true,
      env: { ...docker.engine.env, IOPAINT_IMAGE: image },
    });
    assert.equal(runner.exitCode, 0, runner.all);
    assert.match(runner.stderr, new RegExp(`^granting buildx --allow=fs\\.read=${outside} \\(paths outside ${layout}, where bake runs\\)$`, "m"));
  });

  it("docker buildx bake --call check finds no Dockerfile warning for any target", async () => {
    const result = await bake(["--call", "check", "all", "dev"], { IOPAINT_SRC: "IOPaint" });
    assert.equal(result.exitCode, 0, result.all);
    assert.equal(result.all.match(/Check complete, no warnings found\./g)?.length, 4, result.all);
    assert.doesNotMatch(result.all, /WARNING|warning found/);
  });

  it("the gpu image is built for linux/amd64, its one platform, and cpu for the builder's own", async () => {
    const result = await bake(["all", "--print"], { IOPAINT_SRC: "IOPaint" });
    const printed = JSON.parse(result.stdout) as { target: Record<string, { platforms?: string[] }> };
    assert.deepEqual(printed.target.gpu.platforms, ["linux/amd64"]);
    assert.equal(printed.target.cpu.platforms, undefined);
  });

  it("npm run bake refuses an unknown value of an enumerated variable (exit 2) before any build", async () => {
    for (const [name, value] of [
      ["IOPAINT_PLATFORMS", "foo"],
      ["IOPAINT_CACHE", "bogus"],
      ["IOPAINT_PROVENANCE", "yes"],
    ]) {
      const result = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--config", FIXTURE_CONFIG, "--out", layout], {
        cwd: REPO,
        reject: false,
        all: true,
        env: { ...docker.engine.env, IOPAINT_SRC: join(layout, "IOPaint"), [name]: value },
      });
      assert.equal(result.exitCode, 2, result.all);
      assert.match(result.stderr, new RegExp(`^error: ${name}="${value}" is not a value docker-bake\\.hcl knows: expected `, "m"));
      assert.doesNotMatch(result.stderr, /^#\d+ /m, "nothing was built");
    }
  });

  /**
   * npm run bake in a terminal, as `script` gives it one (a pty; util-linux): stdout and stderr
   * both land in the pty, so the transcript holds buildx's display and the summary table.
   */
  const inTerminal = (args: string[], env: Record<string, string> = {}) => {
    const command = [process.execPath, "--import", "tsx", "scripts/bake/cli.ts", ...args].map((word) => `'${word}'`).join(" ");
    const environment: Record<string, string | undefined> = { ...process.env, ...docker.engine.env, IOPAINT_IMAGE: image, IOPAINT_SRC: join(layout, "IOPaint"), ...env };
    if (!("CI" in env)) delete environment.CI;
    return execa("script", ["-qec", command, "/dev/null"], { cwd: REPO, reject: false, env: environment, extendEnv: false });
  };
  /** The summary's STEPS column for one target ("23/23 cached"). */
  const stepsOf = (transcript: string, target: string) => new RegExp(`^${target} .*  (\\d+)/(\\d+) cached  `, "m").exec(transcript.replace(/\r/g, ""))?.slice(1, 3).map(Number);

  it("in a terminal, buildx's own tty display; the summary counts each target's steps from buildx's build record, as the plain text counts them", async () => {
    const runner = (args: string[]) =>
      execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", ...args, "--config", FIXTURE_CONFIG, "--out", layout, "--json", "--progress", "plain"], {
        cwd: REPO,
        reject: false,
        env: { ...docker.engine.env, IOPAINT_IMAGE: image, IOPAINT_SRC: join(layout, "IOPaint") },
      });
    type Summary = { targets: { target: string; steps: { total: number; cached: number; executed: number } }[] };
    const plain = await runner(["cpu"]);
    assert.equal(plain.exitCode, 0, plain.stderr);
    // The summary's counts come from the record; the plain text the same run printed counts the same.
    const cpu = (JSON.parse(plain.stdout) as Summary).targets[0].steps;
    const { total, cached, executed } = parseProgress(plain.stderr);
    assert.deepEqual(cpu, { total, cached, executed });

    const tty = await inTerminal(["cpu", "cpu-dev", "--config", FIXTURE_CONFIG, "--out", layout]);
    assert.equal(tty.exitCode, 0, tty.stdout);
    // buildx's tty display: "[+] Building", " => [cpu builder 1/5] …" lines redrawn with ANSI escapes, no plain "#12 DONE" lines.
    assert.match(tty.stdout, /\[\+\] Building/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: an ANSI escape is what is looked for
    assert.match(tty.stdout, /\x1b\[/);
    assert.doesNotMatch(tty.stdout, /^#\d+ (DONE|CACHED)/m);
    // cpu was built a moment ago, so all cached. Each target's record has every step it needs, the
    // ones it shares with the other target included (plain text shows a shared step once).
    assert.deepEqual(stepsOf(tty.stdout, "cpu"), [cpu.total, cpu.total], tty.stdout.slice(-1500));
    const dev = stepsOf(tty.stdout, "cpu-dev");
    assert.ok(dev && dev[1] > 0 && dev[0] <= dev[1], tty.stdout.slice(-1500));
  });

  it("in a terminal with CI set, plain progress; a failed step is explained from buildx's record when the display was tty", async () => {
    const ci = await inTerminal(["cpu", "--config", FIXTURE_CONFIG, "--out", layout], { CI: "true" });
    assert.equal(ci.exitCode, 0, ci.stdout);
    assert.match(ci.stdout, /^#\d+ \[internal\] load build definition/m);

    const failed = await inTerminal(["cpu", "--config", FIXTURE_CONFIG, "--out", layout, "--set", "cpu.args.TORCH_VERSION=9.9.9"]);
    assert.equal(failed.exitCode, 1, failed.stdout);
    const text = failed.stdout.replace(/\r/g, "");
    assert.match(text, /\[\+\] Building/);
    // The fixture is locked, so the torch stage installs the locked torch and its check of the pins fails.
    assert.match(text, /^error: the build failed at step \[torch \d+\/\d+\] RUN /m);
    assert.match(text, /^ {2}\| installed versions differ from the pins: torch 2\.1\.2\+cpu \(pinned 9\.9\.9\)$/m);
  });
});
