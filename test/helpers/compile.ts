import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { compile } from "../../generator/compile.ts";
import { parseConfigText } from "../../generator/load.ts";
import { readHelperFiles, REPO_ROOT } from "../../generator/repo.ts";

export const REPO = REPO_ROOT;
export const MAIN_CONFIG = "config/iopaint.toml";
export const FIXTURE_CONFIG = "test/fixtures/iopaint.fixture.toml";

export const helpers = await readHelperFiles();

export function readRepoFile(path: string): string {
  return readFileSync(resolve(REPO, path), "utf8");
}

/** Compiles config text the way `npm run generate` does, with the file named as in the repo. */
export function compileText(text: string, name = MAIN_CONFIG) {
  return compile(parseConfigText(text, name), helpers);
}

/** The main config with one TOML line replaced (the line must exist). */
export function editedConfig(from: string | RegExp, to: string, base = readRepoFile(MAIN_CONFIG)): string {
  const edited = base.replace(from, to);
  if (edited === base) throw new Error(`test setup: ${from} not found in the config`);
  return edited;
}
