import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, readdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { OUTPUT_FILES } from "../../generator/compile.ts";
import { compileText, editedConfig, REPO } from "../helpers/compile.ts";
import { scratchDir } from "../helpers/files.ts";

/** The Dockerfile's lines that copy the app into a stage, in order. */
function appCopies(dockerfile: string, stage: "runtime" | "development"): string[] {
  const body = dockerfile.split(/^FROM /m).find((section) => section.includes(` AS ${stage}\n`)) ?? "";
  return body.split("\n").filter((line) => line.startsWith("COPY --from=app "));
}

describe("source.code_layers in the Dockerfile", () => {
  const CONFIGURED = 'code_layers = ["iopaint/model", "iopaint/plugins", "iopaint/web_app"]';

  it("adds each listed directory as a layer of its own, in order, under the rest of the code and the record", () => {
    const dockerfile = compileText(editedConfig(CONFIGURED, 'code_layers = ["iopaint/plugins", "iopaint/model"]')).outputs[OUTPUT_FILES.dockerfile];
    const expected = [
      "COPY --from=app /opt/app-layers/iopaint/plugins/ /opt/venv/",
      "COPY --from=app /opt/app-layers/iopaint/model/ /opt/venv/",
      "COPY --from=app /opt/app/ /opt/venv/",
      "COPY --from=app /opt/app-record/ /opt/venv/",
    ];
    assert.deepEqual(appCopies(dockerfile, "runtime"), expected);
    assert.deepEqual(appCopies(dockerfile, "development"), [...expected, "COPY --from=app /src /src"]);
    assert.match(dockerfile, /^ && sh \/tmp\/split-app\.sh \/opt\/app \/opt\/app-record \/opt\/app-layers iopaint\/plugins iopaint\/model$/m);
  });

  it("with none listed: the code as one layer, as before", () => {
    const dockerfile = compileText(editedConfig(CONFIGURED, "code_layers = []")).outputs[OUTPUT_FILES.dockerfile];
    assert.deepEqual(appCopies(dockerfile, "runtime"), ["COPY --from=app /opt/app/ /opt/venv/", "COPY --from=app /opt/app-record/ /opt/venv/"]);
    assert.match(dockerfile, /^ && sh \/tmp\/split-app\.sh \/opt\/app \/opt\/app-record \/opt\/app-layers$/m);
  });
});

describe("docker/helpers/split-app.sh", () => {
  const scratch = scratchDir("split-app-");
  const SITE = "lib/python3.11/site-packages";

  /** An installed package as pip install --prefix leaves it: code, subpackages, a record and a script. */
  async function installed(root: string): Promise<string> {
    const prefix = join(root, "app");
    for (const file of ["iopaint/__init__.py", "iopaint/model/__init__.py", "iopaint/model/sd/pipe.py", "iopaint/plugins/__init__.py", "IOPaint-1.6.0.dist-info/RECORD"]) {
      await mkdir(join(prefix, SITE, file, ".."), { recursive: true });
      await writeFile(join(prefix, SITE, file), file);
    }
    await mkdir(join(prefix, "bin"));
    await writeFile(join(prefix, "bin/iopaint"), "#!/bin/sh\n");
    return prefix;
  }

  const split = (root: string, ...dirs: string[]) =>
    execa("sh", [join(REPO, "docker/helpers/split-app.sh"), join(root, "app"), join(root, "record"), join(root, "layers"), ...dirs], { reject: false });

  const files = async (dir: string) =>
    (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter((e) => e.isFile())
      .map((e) => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort();

  it("moves the record and each listed directory out of the prefix, each at its place under its own directory", async () => {
    const root = join(scratch(), "ok");
    await installed(root);
    const result = await split(root, "iopaint/model", "iopaint/plugins");
    assert.equal(result.exitCode, 0, result.stderr);
    assert.deepEqual(await files(join(root, "app")), ["bin/iopaint", `${SITE}/iopaint/__init__.py`]);
    assert.deepEqual(await files(join(root, "record")), [`${SITE}/IOPaint-1.6.0.dist-info/RECORD`]);
    assert.deepEqual(await files(join(root, "layers/iopaint/model")), [`${SITE}/iopaint/model/__init__.py`, `${SITE}/iopaint/model/sd/pipe.py`]);
    assert.deepEqual(await files(join(root, "layers/iopaint/plugins")), [`${SITE}/iopaint/plugins/__init__.py`]);
  });

  it("stops, naming the config key and the directory, when one is not in the package (exit 1)", async () => {
    const root = join(scratch(), "missing");
    await installed(root);
    const result = await split(root, "iopaint/model", "iopaint/modle");
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /^error: source\.code_layers lists "iopaint\/modle", which is not a directory of the installed package \(in .*\/app\/lib\/python\*\/site-packages\)$/m);
    assert.match(result.stderr, /^hint: .*npm run generate$/m);
    assert.ok(!existsSync(join(root, "layers/iopaint/modle")));
  });

  it("refuses a path that is a file, not a directory (iopaint/__init__.py)", async () => {
    const root = join(scratch(), "file");
    await installed(root);
    const result = await split(root, "iopaint/__init__.py");
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /"iopaint\/__init__\.py", which is not a directory/);
  });
});
