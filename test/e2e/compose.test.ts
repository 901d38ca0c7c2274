import assert from "node:assert/strict";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { compileText, MAIN_CONFIG, readRepoFile, REPO } from "../helpers/compile.ts";
import { TestEngine, type Fixture } from "../helpers/engine.ts";

/**
 * Compose v2 for real (the newest engine's `docker compose` plugin, 2.40): it accepts the
 * committed docker/compose.yaml with every profile and override, and on the fixture's bake-built
 * image `up -d --wait` turns healthy (within seconds: the start interval), serves the UI on the published port, writes to the named
 * volumes, and `down` stops it cleanly.
 */
describe("docker compose (v2) on docker/compose.yaml", { timeout: 15 * 60_000 }, () => {
  let docker: TestEngine;
  let fixture: Fixture;
  const project = `iopaint-compose-${process.pid}`;
  const port = "18300";

  before(async () => {
    docker = await TestEngine.start("newest");
    fixture = await docker.generateFixture();
    await docker.build(fixture, "cpu");
  });
  after(async () => {
    await docker?.docker(["compose", "-f", join(fixture.dir, "docker/compose.yaml"), "-p", project, "--profile", "cpu", "down", "--volumes", "--timeout", "5"], { reject: false, cwd: fixture.dir });
    await docker?.cleanup();
  });

  const compose = (file: string, args: string[], env: Record<string, string> = {}) =>
    docker.docker(["compose", "-f", file, "-p", project, ...args], { reject: false, cwd: REPO, env: { COMPOSE_PROFILES: "", ...env } });

  it("accepts the committed file with each profile, alone and with settings overridden", async () => {
    const { plan } = compileText(readRepoFile(MAIN_CONFIG));
    const profiles = [[], ...plan.targets.filter((t) => t.stage === "runtime").map((t) => [t.name])];
    for (const chosen of profiles) {
      for (const env of [{}, { IOPAINT_MODELS: "/srv/models", PORT: "9000", IOPAINT_VERSION: "1.6.0" }] as Record<string, string>[]) {
        const result = await compose(join(REPO, "docker/compose.yaml"), [...chosen.flatMap((p) => ["--profile", p]), "config", "--quiet"], env);
        assert.equal(result.exitCode, 0, `profiles ${chosen.join(",") || "none"} ${JSON.stringify(env)}:\n${result.all}`);
      }
    }
  });

  it("without -p the project is the file's own (iopaint-fixture), and up before a build names the missing image instead of pulling it", async () => {
    const file = join(fixture.dir, "docker/compose.yaml");
    const missing = `iopaint-never-built-${process.pid}`;
    const plain = (args: string[]) => docker.docker(["compose", "-f", file, "--profile", "cpu", ...args], { reject: false, cwd: REPO, env: { IOPAINT_IMAGE: missing, IOPAINT_PORT: port } });
    try {
      const config = JSON.parse((await plain(["config", "--format", "json"])).stdout) as { name: string; services: { cpu: { pull_policy: string } } };
      assert.equal(config.name, "iopaint-fixture");
      assert.equal(config.services.cpu.pull_policy, "never");
      const up = await plain(["up", "--detach"]);
      assert.notEqual(up.exitCode, 0);
      assert.match(up.all, new RegExp(`No such image: ${missing}:cpu-latest`));
      assert.doesNotMatch(up.all, /Pulling|pull access denied/, "nothing was pulled");
    } finally {
      await plain(["down", "--volumes"]);
    }
  });

  it("up --wait turns healthy, serves the UI on the published port, writes to the named volumes; down exits 0", async () => {
    const file = join(fixture.dir, "docker/compose.yaml");
    const started = performance.now();
    // The variables docker run users set (-e MODEL=…) work the same way here.
    const up = await compose(file, ["--profile", "cpu", "up", "--detach", "--wait"], { IOPAINT_PORT: port, MODEL: "sd1.5" });
    const seconds = (performance.now() - started) / 1000;
    assert.equal(up.exitCode, 0, up.all);
    // healthcheck.start_interval (1 s) probes while the server starts, instead of the first probe
    // after the 30 s interval; the server answers within a second or two (a generous bound here).
    assert.ok(seconds < 15, `up --wait took ${seconds.toFixed(1)} s`);
    const ps = JSON.parse(`[${(await compose(file, ["--profile", "cpu", "ps", "--format", "json"])).stdout.trim().split("\n").join(",")}]`) as { Service: string; Health: string; State: string }[];
    assert.deepEqual(
      ps.map((s) => [s.Service, s.State, s.Health]),
      [["cpu", "running", "healthy"]],
    );

    assert.equal(JSON.parse((await docker.fetch(`http://127.0.0.1:${port}/api/v1/model`)).body).name, "sd1.5");
    const page = await docker.fetch(`http://127.0.0.1:${port}/`);
    assert.equal(page.status, 200);
    assert.match(page.body, /built by npm run build/);
    const saved = JSON.parse((await docker.fetch(`http://127.0.0.1:${port}/api/v1/inpaint`, { method: "POST", body: "from compose" })).body) as { file: string };
    const listed = await docker.docker(["run", "--rm", "-v", "iopaint-outputs:/o", "--entrypoint", "cat", fixture.targets.cpu.tags[0], `/o/${saved.file}`]);
    assert.equal(listed.stdout, "from compose", "the output landed in the iopaint-outputs volume");

    const down = await compose(file, ["--profile", "cpu", "down", "--volumes"]);
    assert.equal(down.exitCode, 0, down.all);
    const left = await docker.docker(["ps", "--all", "--quiet", "--filter", `label=com.docker.compose.project=${project}`]);
    assert.equal(left.stdout.trim(), "", "no container of the project is left");
    const volumes = await docker.docker(["volume", "ls", "--quiet", "--filter", "name=iopaint-outputs"]);
    assert.equal(volumes.stdout.trim(), "", "down --volumes removed the named volumes");
  });
});
