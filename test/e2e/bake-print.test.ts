import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { REPO_ROOT } from "../../generator/repo.ts";
import { Docker } from "../../scripts/docker/docker.ts";
import { ensureEngine } from "../../scripts/engine/private-engine.ts";
import { buildxPrint, generateInto, goldenDir } from "../../scripts/goldens/buildx-print.ts";
import { PRINT_CASES } from "../fixtures/bake-print/cases.ts";

/**
 * The golden files the reader is checked against (test/unit/bake-print.test.ts) are still what
 * buildx prints for today's generated files: real `docker buildx bake --print`, for every case,
 * with buildx 0.29 (the newest engine) and 0.13.1 (the trixie engine), each against its own files.
 */
for (const engineName of ["newest", "trixie"] as const)
  describe(`buildx --print still gives the golden files (${engineName} engine)`, { timeout: 10 * 60_000 }, () => {
    let docker: Docker;
    let work: string;
    let goldens: string;

    before(async () => {
      docker = new Docker(await ensureEngine(engineName));
      work = await mkdtemp(join(tmpdir(), "iopaint-print-"));
      goldens = goldenDir((await docker.buildxVersion())!);
    });
    after(async () => rm(work, { recursive: true, force: true }));

    it("npm run print, run with this engine's docker, prints what its buildx prints", async () => {
      const printCase = PRINT_CASES.find((c) => c.name === "fixture-release-cache")!;
      const dir = join(work, "npm-run-print");
      await generateInto(printCase.config, dir);
      const ours = await execa(process.execPath, ["--import", "tsx", "generator/cli.ts", "print", "--config", printCase.config, "--out", dir, ...printCase.targets], {
        cwd: REPO_ROOT,
        env: { ...docker.engine.env, DOCKER_CLI: docker.engine.client, ...printCase.env },
      });
      assert.deepEqual(JSON.parse(ours.stdout), await buildxPrint(docker, dir, printCase));
    });

    for (const printCase of PRINT_CASES) {
      it(printCase.name, async () => {
        const dir = join(work, printCase.name);
        await generateInto(printCase.config, dir);
        const golden = JSON.parse(await readFile(join(goldens, `${printCase.name}.json`), "utf8")) as { print: unknown };
        assert.deepEqual(await buildxPrint(docker, dir, printCase), golden.print, "run npm run goldens:bake with this engine's buildx and review the change");
      });
    }
  });
