import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";

/**
 * Every shell block in README.md and docs/ says whether it runs here: `<!-- runnable -->` blocks
 * are run, as written, from the repository root with the private engine as DOCKER_HOST;
 * `<!-- not run here: why -->` blocks name what they need that this machine lacks.
 */
interface ShellBlock {
  file: string;
  line: number;
  marker: string;
  script: string;
}

const DOCS = [
  "README.md",
  ...readdirSync(join(REPO, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];
const SHELL_FENCE = /^```(sh|bash|shell|console)\s*$/;

function shellBlocks(file: string): ShellBlock[] {
  const lines = readFileSync(join(REPO, file), "utf8").split("\n");
  const blocks: ShellBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    if (!SHELL_FENCE.test(lines[i])) continue;
    const end = lines.indexOf("```", i + 1);
    const marker = lines[i - 1]?.trim() ?? "";
    blocks.push({ file, line: i + 1, marker, script: lines.slice(i + 1, end).join("\n") });
    i = end;
  }
  return blocks;
}

const blocks = DOCS.flatMap(shellBlocks);

describe("the commands in README.md and docs/", { timeout: 20 * 60_000 }, () => {
  let env: Record<string, string>;
  // The blocks build and run on both engines (`engine -- env` and `env legacy`): what they leave
  // (images, containers, volumes) is removed afterwards, whatever the blocks clean up themselves.
  const engines: { docker: TestEngine; before: Set<string> }[] = [];
  const inventory = async ({ client }: TestEngine) => ({
    images: await client.lines(["image", "ls", "--format", "{{.Repository}}:{{.Tag}}"]),
    containers: await client.lines(["ps", "--all", "--quiet"]),
    volumes: await client.lines(["volume", "ls", "--quiet"]),
  });
  before(async () => {
    for (const name of ["newest", "legacy"] as const) {
      const docker = await TestEngine.start(name);
      const found = await inventory(docker);
      engines.push({ docker, before: new Set([...found.images, ...found.containers, ...found.volumes]) });
    }
    env = engines[0].docker.engine.env;
  });
  after(async () => {
    for (const { docker, before: existing } of engines) {
      const now = await inventory(docker);
      const made = (items: string[]) => items.filter((item) => !existing.has(item) && item !== "<none>:<none>");
      await docker.client.remove({ containers: made(now.containers), volumes: made(now.volumes), images: made(now.images) });
      await docker.cleanup();
    }
  });

  it("every shell block is marked runnable, or says why it is not run here", () => {
    const unmarked = blocks.filter((b) => !/^<!-- (runnable|not run here: .+) -->$/.test(b.marker)).map((b) => `${b.file}:${b.line}`);
    assert.deepEqual(unmarked, []);
    assert.ok(blocks.some((b) => b.marker === "<!-- runnable -->"));
  });

  for (const block of blocks.filter((b) => b.marker === "<!-- runnable -->")) {
    it(`${block.file}:${block.line} runs: ${block.script.split("\n")[0].slice(0, 60)}`, async () => {
      // As a user runs them: not inside this test runner (a nested `node --test` would report to it, not print).
      const result = await execa("bash", ["-euo", "pipefail", "-c", block.script], {
        cwd: REPO,
        env: { ...env, CI: "true", NODE_TEST_CONTEXT: undefined },
        reject: false,
        all: true,
        timeout: 15 * 60_000,
      });
      assert.equal(result.exitCode, 0, `${block.file}:${block.line} failed:\n${result.all}`);
    });
  }
});
