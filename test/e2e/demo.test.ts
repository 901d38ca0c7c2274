import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { execa } from "execa";
import { REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";

/** The README's first set-up command, `npm run demo`, as a new user runs it (no DOCKER_HOST). */
describe("npm run demo", { timeout: 20 * 60_000 }, () => {
  let docker: TestEngine | undefined;
  after(async () => {
    docker = await TestEngine.start();
    await docker.docker(["rm", "--force", "--volumes", "iopaint-demo"], { reject: false });
    for (const tag of ["cpu-latest", "cpu-1.6.0", "gpu-latest", "gpu-1.6.0"]) docker.trackImage(`iopaint-fixture:${tag}`);
    await docker.cleanup();
  });

  it("builds the example app's images, runs the cpu one and says where the UI answers", async () => {
    const env: NodeJS.ProcessEnv = { ...process.env, IOPAINT_DEMO_PORT: "18190" };
    delete env.DOCKER_HOST;
    const result = await execa("npm", ["run", "-s", "demo"], { cwd: REPO, env, reject: false, all: true });
    assert.equal(result.exitCode, 0, result.all);
    assert.match(result.stdout, /^ {2}log: {10}Using device: cpu$/m);
    assert.match(result.stdout, /GET \/api\/v1\/model → \{"name": "lama", "device": "cpu"/);
    assert.match(result.stdout, /GET \/ {9}→ .*\(built by npm run build; src-sha256=[0-9a-f]+\)/);
    assert.match(result.stdout, /The UI answers at http:\/\/127\.0\.0\.1:18190\/ inside the private engine's network namespace/);
    assert.match(result.stderr, /^cpu\s+[0-9a-f]{12}\s+\S+ \/ 600MB/m, "the build summary is shown");
  });
});
