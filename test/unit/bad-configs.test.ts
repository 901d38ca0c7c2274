import assert from "node:assert/strict";
import { mkdir, readFile, symlink, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, describe, it, mock } from "node:test";
import { execa } from "execa";
import { main } from "../../generator/cli.ts";
import { ExitCode } from "../../generator/exit-codes.ts";
import { describeError } from "../../generator/run-cli.ts";
import { badConfigs, type BadConfig } from "../fixtures/bad-configs/cases.ts";
import { REPO } from "../helpers/compile.ts";
import { scratchDir, snapshot } from "../helpers/files.ts";

const BASE = join(REPO, "test/fixtures/bad-configs/base.toml");
const STACK_FRAME = /^\s+at .*:\d+:\d+\)?$/m;

function applyEdit(base: string, edit: BadConfig["edit"]): string | Uint8Array {
  if (typeof edit === "function") return edit(base);
  let text = base;
  for (const [from, to] of edit) {
    assert.equal(text.split(from).length, 2, `test setup: ${JSON.stringify(from)} occurs exactly once in base.toml`);
    text = text.replace(from, () => to);
  }
  return text;
}

/** `generate` in-process, as the CLI's edge would report it: exit code and what the user reads. */
async function generate(args: string[]): Promise<{ exitCode: number; text: string }> {
  const quiet = [mock.method(console, "error", () => {}), mock.method(console, "log", () => {})];
  try {
    return { exitCode: await main(["generate", ...args]), text: "" };
  } catch (error) {
    return describeError(error);
  } finally {
    for (const m of quiet) m.mock.restore();
  }
}

describe("the bad-input corpus (test/fixtures/bad-configs)", () => {
  const work = scratchDir("iopaint-bad-");
  let out: string;
  before(async () => {
    out = join(work(), "out");
    // The output directory holds the base config's files: every bad case must leave them as they are.
    assert.equal((await generate(["--config", BASE, "--out", out])).exitCode, ExitCode.ok, "base.toml is valid");
  });

  it("has at least 60 cases, each named once", () => {
    assert.ok(badConfigs.length >= 60, `${badConfigs.length} cases`);
    assert.equal(new Set(badConfigs.map((c) => c.name)).size, badConfigs.length);
  });

  for (const badConfig of badConfigs) {
    it(`${badConfig.name}: exit ${badConfig.exit}, its message, nothing written`, async () => {
      const file = join(work(), "bad.toml");
      await writeFile(file, applyEdit(await readFile(BASE, "utf8"), badConfig.edit));
      const before = await snapshot(out);
      const { exitCode, text } = await generate(["--config", file, "--out", out]);
      const shown = text.replaceAll(`${work()}/`, "");
      assert.equal(shown.split("\n")[0], badConfig.first, shown);
      assert.equal(exitCode, badConfig.exit, shown);
      assert.doesNotMatch(shown, STACK_FRAME);
      assert.match(shown, /\n {2}hint: /, "every message says how to fix it");
      assert.deepEqual(await snapshot(out), before, "the output directory is byte-identical");
    });
  }
});

describe("paths and files", () => {
  const work = scratchDir("iopaint-paths-");

  it("a missing config, or a directory given as one, is an environment problem (exit 3)", async () => {
    const missing = await generate(["--config", join(work(), "nope.toml"), "--out", join(work(), "o1")]);
    assert.equal(missing.exitCode, ExitCode.environment);
    assert.match(missing.text, /nope\.toml: cannot read the config: no such file\n {2}hint: pass an existing TOML file/);
    const directory = await generate(["--config", work(), "--out", join(work(), "o2")]);
    assert.equal(directory.exitCode, ExitCode.environment);
    assert.match(directory.text, /cannot read the config: it is a directory, not a file/);
  });

  it("--out naming a file, or a file where docker/ should be, fails with exit 3 and writes nothing", async () => {
    const file = join(work(), "a-file");
    await writeFile(file, "keep me");
    const onFile = await generate(["--config", BASE, "--out", file]);
    assert.equal(onFile.exitCode, ExitCode.environment, onFile.text);
    assert.match(onFile.text, /the output directory .*a-file is a file\n {2}hint: pass a directory with --out DIR/);
    assert.equal(await readFile(file, "utf8"), "keep me");

    const blocked = join(work(), "blocked");
    await mkdir(blocked);
    await writeFile(join(blocked, "docker"), "not a directory");
    const before = await snapshot(blocked);
    const result = await generate(["--config", BASE, "--out", blocked]);
    assert.equal(result.exitCode, ExitCode.environment, result.text);
    assert.match(result.text, /a file is in the way where a directory is expected/);
    assert.deepEqual(await snapshot(blocked), before);
  });

  it("never writes through a symbolic link that leads out of the output directory", async () => {
    const outside = join(work(), "outside");
    const out = join(work(), "linked");
    await mkdir(outside);
    await mkdir(out);
    await symlink(outside, join(out, "docker"));
    const result = await generate(["--config", BASE, "--out", out]);
    assert.equal(result.exitCode, ExitCode.environment, result.text);
    assert.match(result.text, /refusing to write docker\/Dockerfile: .*docker is a link to .*outside, outside/);
    assert.deepEqual(await snapshot(outside), {});
  });
});

describe("internal errors", () => {
  // The real edge in a real process: a bug of ours must not look like a crash dump to a user.
  const crash = (env: Record<string, string> = {}) =>
    execa("node", ["--import", "tsx", "--input-type=module", "-e", `import { runCli } from "./generator/run-cli.ts"; await runCli(async () => { null.property; return 0; }, []);`], {
      cwd: REPO,
      reject: false,
      env,
    });

  it('say "internal error", how to report it, exit 70, and show no stack trace', async () => {
    const result = await crash();
    assert.equal(result.exitCode, ExitCode.internal);
    assert.match(result.stderr, /^internal error: TypeError: Cannot read properties of null/);
    assert.match(result.stderr, /This is a bug in iopaint-images, not in your input\. Please report it .*IOPAINT_DEBUG=1/);
    assert.doesNotMatch(result.stderr, STACK_FRAME);
  });

  it("show the stack trace with IOPAINT_DEBUG=1, for the report", async () => {
    const result = await crash({ IOPAINT_DEBUG: "1" });
    assert.equal(result.exitCode, ExitCode.internal);
    assert.match(result.stderr, STACK_FRAME);
  });
});
