import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { printedBake, resolveBake } from "../../generator/bake/resolve.ts";
import { OUTPUT_FILES } from "../../generator/compile.ts";
import { PRINT_CASES } from "../fixtures/bake-print/cases.ts";
import { compileText, readRepoFile } from "../helpers/compile.ts";

/**
 * Our bake reader (what `npm run print` prints and the runner builds from) against real
 * `docker buildx bake --print` output kept in test/fixtures/bake-print/ (npm run goldens:bake).
 * A new bake attribute fails here until its golden files are made again.
 */
describe("the bake reader equals buildx --print", () => {
  for (const printCase of PRINT_CASES) {
    it(`${printCase.name}: ${printCase.config} ${printCase.targets.join(" ") || "(no target)"} ${Object.entries(printCase.env).map(([k, v]) => `${k}=${v}`).join(" ")}`, () => {
      const golden = JSON.parse(readRepoFile(`test/fixtures/bake-print/${printCase.name}.json`)) as { case: unknown; print: unknown };
      assert.deepEqual(golden.case, printCase, "the golden file was made for this case (npm run goldens:bake)");
      const bake = compileText(readRepoFile(printCase.config), printCase.config).outputs[OUTPUT_FILES.bake];
      assert.deepEqual(printedBake(resolveBake(bake, printCase.targets, printCase.env), printCase.targets), golden.print);
    });
  }

  it("covers groups, dev targets, release platforms, every cache mode, overrides and internal targets", () => {
    const env = PRINT_CASES.map((c) => c.env);
    const targets = new Set(PRINT_CASES.flatMap((c) => c.targets));
    assert.ok(PRINT_CASES.length >= 12);
    for (const mode of ["gha", "registry", "local"]) assert.ok(env.some((e) => e.IOPAINT_CACHE === mode), mode);
    for (const name of ["all", "dev", "default", "_cpu", "docker-metadata-action-cpu"]) assert.ok(targets.has(name), name);
    for (const key of ["IOPAINT_PLATFORMS", "IOPAINT_IMAGE", "IOPAINT_VERSION", "IOPAINT_REVISION"]) assert.ok(env.some((e) => key in e), key);
  });
});
