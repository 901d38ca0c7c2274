import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Docker } from "../../scripts/docker/docker.ts";
import { CONTAINER_BUILDER } from "../../scripts/engine/buildkit-image.ts";
import { engineStatus, ensureEngine } from "../../scripts/engine/private-engine.ts";
import { TEST_ENGINES } from "../helpers/engine.ts";

/**
 * Runs last (the file name sorts last): the suites before it removed what they made, also when
 * they failed, so each engine holds only the stand-in base images (and the bench's packages
 * image), no containers, no volumes and only Docker's own networks. Build cache stays: it is
 * what makes the next run fast. So does the docker-container builder `npm run engine --
 * container-builder` made (its BuildKit container and that container's state volume): it is the
 * engine's infrastructure, like its registry, and its cache serves the next run.
 */
describe("nothing left behind in the engines", () => {
  for (const name of TEST_ENGINES) {
    it(`${name}: only the stand-in base images, no containers, volumes or extra networks`, async (t) => {
      if (!(await engineStatus(name)).running) return t.skip(`the ${name} engine did not run in this test run`);
      const docker = new Docker(await ensureEngine(name));
      const images = await docker.lines(["image", "ls", "--all", "--format", "{{.Repository}}:{{.Tag}}"]);
      // Kept on purpose: the stand-in base images, and the bench's image of the old way's Debian
      // packages (made once, like a base image, so that its runs measure builds, not apt).
      const kept = (ref: string) => ref.startsWith("iopaint-standin/") || ref.startsWith("iopaint-bench/baseline-packages:");
      assert.deepEqual(
        images.filter((ref) => !kept(ref)),
        [],
        "images other than the stand-ins",
      );
      const builder = `buildx_buildkit_${CONTAINER_BUILDER}0`;
      assert.deepEqual(
        (await docker.lines(["ps", "--all", "--format", "{{.Names}} {{.Image}} {{.Status}}"])).filter((line) => !line.startsWith(`${builder} `)),
        [],
        "containers",
      );
      assert.deepEqual(
        (await docker.lines(["volume", "ls", "--quiet"])).filter((volume) => volume !== `${builder}_state`),
        [],
        "volumes",
      );
      assert.deepEqual((await docker.lines(["network", "ls", "--format", "{{.Name}}"])).sort(), ["bridge", "host", "none"], "networks");
    });
  }
});
