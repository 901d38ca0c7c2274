import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Docker } from "../../scripts/docker/docker.ts";
import { ensureEngine } from "../../scripts/engine/private-engine.ts";
import { buildxPrint, generateInto } from "../../scripts/goldens/buildx-print.ts";
import { PRINT_CASES } from "../fixtures/bake-print/cases.ts";
import { REPO } from "../helpers/compile.ts";

/**
 * The golden files the reader is checked against (test/unit/bake-print.test.ts) are still what
 * buildx prints for today's generated files: real `docker buildx bake --print`, on the current
 * engine's buildx, for every case.
 */
describe("buildx --print still gives the golden files", { timeout: 10 * 60_000 }, () => {
  let docker: Docker;
  let work: string;

  before(async () => {
    docker = new Docker(await ensureEngine("newest"));
    work = await mkdtemp(join(tmpdir(), "iopaint-print-"));
  });
  after(async () => rm(work, { recursive: true, force: true }));

  for (const printCase of PRINT_CASES) {
    it(printCase.name, async () => {
      const dir = join(work, printCase.name);
      await generateInto(printCase.config, dir);
      const golden = JSON.parse(await readFile(join(REPO, "test/fixtures/bake-print", `${printCase.name}.json`), "utf8")) as { print: unknown };
      assert.deepEqual(await buildxPrint(docker, dir, printCase), golden.print, "run npm run goldens:bake and review the change");
    });
  }
});
