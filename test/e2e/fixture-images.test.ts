import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { REPO } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine, type Fixture } from "../helpers/engine.ts";

/**
 * Issue 2's proof: the fixture's cpu and gpu images build on a real engine from the generated
 * bake file and Dockerfile, start, and serve the front end that the build produced; on the
 * newest engine each is built by `docker buildx bake <target>`.
 */
for (const engineName of TEST_ENGINES)
  describe(`fixture images built from the generated files (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    let fixture: Fixture;

    before(async () => {
      docker = await TestEngine.start(engineName);
      fixture = await docker.generateFixture();
    });
    after(async () => docker?.cleanup());

    const cases = [
      { name: "cpu", port: 18180, device: "cpu" },
      { name: "gpu", port: 18181, device: "cpu \\(cuda was asked for, but no CUDA device is visible; start the container with --gpus all\\)" },
    ];
    it("builds the dev group (cpu-dev, gpu-dev): the builder with the app and its source, run as root, with pip", async () => {
      await docker.build(fixture, "dev");
      const dev = fixture.resolve(["dev"]);
      for (const name of ["cpu-dev", "gpu-dev"]) {
        const image = dev[name].tags[0];
        assert.equal(image, `iopaint-fixture:${name}-latest`);
        const probe = await docker.docker(["run", "--rm", "--entrypoint", "sh", image, "-c", "id -u; pwd; pip --version >/dev/null && echo pip-ok; ls setup.py"]);
        assert.deepEqual(probe.stdout.trim().split("\n"), ["0", "/src", "pip-ok", "setup.py"], name);
      }
    });

    for (const { name, port, device } of cases) {
      it(`builds ${name}, runs it, and serves the built web UI on port 8080`, async () => {
        const target = fixture.targets[name];
        assert.deepEqual(target.tags, [`iopaint-fixture:${name}-latest`]);
        await docker.build(fixture, name);

        const container = await docker.run(target.tags[0], { publish: `127.0.0.1:${port}:8080` });
        await docker.waitForHttp(`http://127.0.0.1:${port}/api/v1/model`, container);

        const page = await docker.fetch(`http://127.0.0.1:${port}/`);
        assert.equal(page.status, 200);
        const source = await readFile(join(REPO, "test/fixtures/app/web_app/src/index.html"), "utf8");
        assert.match(page.body, /built by npm run build/, "the served page comes from the build");
        assert.doesNotMatch(source, /built by npm run build/, "and not from the source tree");

        const model = JSON.parse((await docker.fetch(`http://127.0.0.1:${port}/api/v1/model`)).body);
        assert.equal(model.name, "lama");
        assert.match(model.torch, name === "cpu" ? /^2\.1\.2\+cpu$/ : /^2\.1\.2\+cu118$/);
        assert.match(await docker.logs(container), new RegExp(`^Using device: ${device}$`, "m"));
      });
    }
  });
