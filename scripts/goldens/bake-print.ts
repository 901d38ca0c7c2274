/**
 * npm run goldens:bake: runs `docker buildx bake --print` for each case in
 * test/fixtures/bake-print/cases.ts on files generated from its config, and writes buildx's
 * answer as test/fixtures/bake-print/buildx-<major.minor>/<name>.json. Needs a buildx (no
 * daemon); run it with each private engine's, since buildx 0.20 changed what --print shows:
 *   eval "$(npm run -s engine -- env newest)" && npm run goldens:bake    # buildx 0.29
 *   eval "$(npm run -s engine -- env trixie)" && npm run goldens:bake    # buildx 0.13
 */
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { REPO_ROOT } from "../../generator/repo.ts";
import { runCli } from "../../generator/run-cli.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { PRINT_CASES } from "../../test/fixtures/bake-print/cases.ts";
import { findDocker } from "../docker/discovery.ts";
import { buildxPrint, generateInto, goldenDir } from "./buildx-print.ts";

async function main(): Promise<number> {
  const { tools, docker } = await findDocker(process.env, "buildx");
  const work = await mkdtemp(join(tmpdir(), "iopaint-goldens-"));
  const dir = goldenDir(tools.buildxVersion!);
  await mkdir(dir, { recursive: true });
  try {
    for (const printCase of PRINT_CASES) {
      const generated = join(work, printCase.name);
      await generateInto(printCase.config, generated);
      const printed = await buildxPrint(docker, generated, printCase);
      const golden = { case: printCase, buildx: tools.buildxVersion, print: printed };
      await writeFile(join(dir, `${printCase.name}.json`), `${JSON.stringify(golden, null, 2)}\n`);
      process.stderr.write(`${printCase.name}: ${Object.keys(printed.target as object).join(", ")}\n`);
    }
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  process.stderr.write(`wrote ${PRINT_CASES.length} golden files with buildx ${tools.buildxVersion} into ${relative(REPO_ROOT, dir)}/\n`);
  return ExitCode.ok;
}

await runCli(main, process.argv.slice(2));
