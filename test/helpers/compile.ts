import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { compile } from "../../generator/compile.ts";
import { parseConfigText } from "../../generator/load.ts";

export const REPO = resolve(fileURLToPath(import.meta.url), "../../..");
export const MAIN_CONFIG = "config/iopaint.toml";
export const FIXTURE_CONFIG = "test/fixtures/iopaint.fixture.toml";

export const scripts = {
  entrypoint: readFileSync(resolve(REPO, "docker/entrypoint.sh"), "utf8"),
  healthcheck: readFileSync(resolve(REPO, "docker/healthcheck.sh"), "utf8"),
};

export function readRepoFile(path: string): string {
  return readFileSync(resolve(REPO, path), "utf8");
}

/** Compiles config text the way `npm run generate` does, with the file named as in the repo. */
export function compileText(text: string, name = MAIN_CONFIG) {
  return compile(parseConfigText(text, name), scripts);
}

/** The main config with one TOML line replaced (the line must exist). */
export function editedConfig(from: string | RegExp, to: string, base = readRepoFile(MAIN_CONFIG)): string {
  const edited = base.replace(from, to);
  if (edited === base) throw new Error(`test setup: ${from} not found in the config`);
  return edited;
}
