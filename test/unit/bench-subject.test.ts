import assert from "node:assert/strict";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { applyEdit, type BenchSubject } from "../../scripts/bench/subject.ts";

describe("the bench's edits (scripts/bench/subject.ts)", () => {
  const dirs: string[] = [];
  after(async () => Promise.all(dirs.map((dir) => rm(dir, { recursive: true, force: true }))));
  const checkout = async (requirements: string) => {
    const dir = await mkdtemp(join(tmpdir(), "iopaint-bench-edit-"));
    dirs.push(dir);
    await writeFile(join(dir, "requirements.txt"), requirements);
    return dir;
  };
  const subject = (added: BenchSubject["added"]): BenchSubject => ({ kind: added.length ? "real" : "fixture", dir: "", bake: "", withoutRulesDir: "", app: "", variables: {}, added });

  it("on the real packages, each requirements.txt edit adds its repeat's package in place of the one before", async () => {
    const source = await checkout("torch>=2.0.0\ndiffusers==0.27.2\n");
    const real = subject([
      { name: "tomli-w", version: "1.0.0", wheelBytes: 1 },
      { name: "tomli-w", version: "1.1.0", wheelBytes: 1 },
    ]);
    await applyEdit(real, source, "requirements", "a", 1);
    await applyEdit(real, source, "requirements", "b", 2);
    const lines = (await readFile(join(source, "requirements.txt"), "utf8")).split("\n");
    assert.deepEqual(lines.slice(0, 2), ["torch>=2.0.0", "diffusers==0.27.2"], "the checkout's own requirements stay");
    assert.deepEqual(
      lines.filter((line) => line.startsWith("tomli-w")),
      ["tomli-w==1.1.0 # added by the bench"],
      "only the latest repeat's package",
    );
    assert.ok(lines.includes("# bench edit b"), "the edit carries its nonce");
  });

  it("on the fixture, a requirements.txt edit appends a comment and adds no package", async () => {
    const source = await checkout("numpy\n");
    await applyEdit(subject([]), source, "requirements", "n1", 1);
    assert.equal(await readFile(join(source, "requirements.txt"), "utf8"), "numpy\n\n# bench edit n1\n");
  });
});
