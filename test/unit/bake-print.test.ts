import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { readdirSync } from "node:fs";
import { printedBake, printStyleOf, resolveBake } from "../../generator/bake/resolve.ts";
import { resolve } from "node:path";
import { compile, OUTPUT_FILES } from "../../generator/compile.ts";
import { loadConfigFile } from "../../generator/load.ts";
import { PRINT_CASES } from "../fixtures/bake-print/cases.ts";
import { readRepoFile, REPO, helpers } from "../helpers/compile.ts";

/** One directory of golden files per buildx release line: buildx-0.13 (Debian 13's) and buildx-0.29 (the newest). */
const GOLDEN_DIRS = readdirSync(`${REPO}/test/fixtures/bake-print`)
  .filter((name) => name.startsWith("buildx-"))
  .sort();

/**
 * Our bake reader (what `npm run print` prints and the runner builds from) against real
 * `docker buildx bake --print` output of two buildx release lines, kept in
 * test/fixtures/bake-print/buildx-<major.minor>/ (npm run goldens:bake). A new bake attribute fails here
 * until its golden files are made again.
 */
describe("the bake reader equals buildx --print", () => {
  it("has golden files for buildx 0.13 (CSV strings) and 0.29 (objects)", () => {
    assert.deepEqual(GOLDEN_DIRS, ["buildx-0.13", "buildx-0.29"]);
  });

  for (const dir of GOLDEN_DIRS) {
    for (const printCase of PRINT_CASES) {
      it(`${dir}/${printCase.name}: ${printCase.config} ${printCase.targets.join(" ") || "(no target)"} ${Object.entries(printCase.env)
        .map(([k, v]) => `${k}=${v}`)
        .join(" ")}`, async () => {
        const golden = JSON.parse(readRepoFile(`test/fixtures/bake-print/${dir}/${printCase.name}.json`)) as { case: unknown; buildx: string; print: unknown };
        assert.deepEqual(golden.case, printCase, "the golden file was made for this case (npm run goldens:bake)");
        // With the locks beside the config, as npm run generate reads them (a lock adds pip's hash).
        const bake = compile(await loadConfigFile(resolve(REPO, printCase.config), printCase.config), helpers, printCase.config).outputs[OUTPUT_FILES.bake];
        assert.deepEqual(printedBake(resolveBake(bake, printCase.targets, printCase.env), printCase.targets, printStyleOf(golden.buildx)), golden.print);
      });
    }
  }

  it("covers groups, dev targets, release platforms, every cache mode, overrides and internal targets", () => {
    const env = PRINT_CASES.map((c) => c.env);
    const targets = new Set(PRINT_CASES.flatMap((c) => c.targets));
    assert.ok(PRINT_CASES.length >= 12);
    for (const mode of ["gha", "registry", "local"])
      assert.ok(
        env.some((e) => e.IOPAINT_CACHE === mode),
        mode,
      );
    for (const name of ["all", "dev", "default", "_cpu", "docker-metadata-action-cpu"]) assert.ok(targets.has(name), name);
    for (const key of ["IOPAINT_PLATFORMS", "IOPAINT_IMAGE", "IOPAINT_VERSION", "IOPAINT_REVISION"])
      assert.ok(
        env.some((e) => key in e),
        key,
      );
  });
});
