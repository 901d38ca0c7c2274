/**
 * npm run goldens:bake: runs `docker buildx bake --print` for each case in
 * test/fixtures/bake-print/cases.ts on files generated from its config, and writes buildx's
 * answer beside the cases as <name>.json. Needs a buildx (no daemon): the current private
 * engine's (`npm run engine -- start`) or any other DOCKER_CLI with buildx 0.12+.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { REPO_ROOT } from "../../generator/repo.ts";
import { runCli } from "../../generator/run-cli.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { PRINT_CASES } from "../../test/fixtures/bake-print/cases.ts";
import { findDocker } from "../docker/discovery.ts";
import { buildxPrint, generateInto } from "./buildx-print.ts";

async function main(): Promise<number> {
  const { tools, docker } = await findDocker(process.env, "buildx");
  const work = await mkdtemp(join(tmpdir(), "iopaint-goldens-"));
  try {
    for (const printCase of PRINT_CASES) {
      const dir = join(work, printCase.name);
      await generateInto(printCase.config, dir);
      const printed = await buildxPrint(docker, dir, printCase);
      const golden = { case: printCase, buildx: tools.buildxVersion, print: printed };
      await writeFile(join(REPO_ROOT, "test/fixtures/bake-print", `${printCase.name}.json`), `${JSON.stringify(golden, null, 2)}\n`);
      process.stderr.write(`${printCase.name}: ${Object.keys(printed.target as object).join(", ")}\n`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stderr.write(`wrote ${PRINT_CASES.length} golden files with buildx ${tools.buildxVersion} into test/fixtures/bake-print/\n`);
  return ExitCode.ok;
}

await runCli(main, process.argv.slice(2));
