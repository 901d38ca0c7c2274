import assert from "node:assert/strict";
import { cp, readFile, writeFile } from "node:fs/promises";
import { readdirSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { HELPERS } from "../../generator/plan.ts";
import { REPO, readRepoFile } from "../helpers/compile.ts";
import { scratchDir, snapshot } from "../helpers/files.ts";

/** The generator CLI as users run it: a child process, its exit code, its output, the files it leaves. */
function cli(args: string[], env: Record<string, string> = {}) {
  return execa("node", ["--import", "tsx", "generator/cli.ts", ...args], { cwd: REPO, reject: false, env, all: true });
}

describe("generator CLI", () => {
  const work = scratchDir("iopaint-cli-");

  it("generate writes the four outputs and the helper scripts; a second run gives byte-identical files and says they are up to date", async () => {
    const out = join(work(), "twice");
    const first = await cli(["generate", "--out", out]);
    assert.equal(first.exitCode, 0, first.all);
    const before = await snapshot(out);
    const helperFiles = readdirSync(join(REPO, HELPERS.dir)).map((file) => `/${HELPERS.dir}/${file}`);
    assert.deepEqual(Object.keys(before).sort(), ["/docker-bake.hcl", "/docker/Dockerfile", "/docker/Dockerfile.dockerignore", "/docker/compose.yaml", ...helperFiles].sort());
    for (const [file, bytes] of Object.entries(before)) assert.equal(Buffer.from(bytes, "base64").toString("utf8"), readRepoFile(file.slice(1)), `${file} equals the committed one`);
    const second = await cli(["generate", "--out", out]);
    assert.match(second.stderr, /generated files are up to date/);
    assert.deepEqual(await snapshot(out), before);
  });

  it("check passes on the committed files and fails with exit 1 and a diff once the TOML changes", async () => {
    const ok = await cli(["check"]);
    assert.equal(ok.exitCode, 0, ok.all);
    const copy = join(work(), "repo");
    await cp(join(REPO, "config"), join(copy, "config"), { recursive: true });
    await cp(join(REPO, "docker"), join(copy, "docker"), { recursive: true });
    await cp(join(REPO, "docker-bake.hcl"), join(copy, "docker-bake.hcl"));
    const configFile = join(copy, "config/iopaint.toml");
    await writeFile(configFile, (await readFile(configFile, "utf8")).replace('model = "lama"', 'model = "mat"'));
    const stale = await cli(["check", "--config", configFile, "--out", copy]);
    assert.equal(stale.exitCode, 1, stale.all);
    assert.match(stale.stderr, /stale: docker\/Dockerfile\n.*- .*MODEL=lama.*\n.*\+ .*MODEL=mat/);
    assert.doesNotMatch(stale.stderr, /stale: docker-bake\.hcl/, "only files whose content depends on the edit are stale");
    assert.match(stale.stderr, /run `npm run generate`/);
  });

  const badInputs: { name: string; edit: [string | RegExp, string]; exit: number; message: RegExp }[] = [
    { name: "invalid TOML", edit: [/^name = "iopaint"/m, 'name = "iopaint'], exit: 2, message: /^error: .*\.toml:10:\d+: invalid TOML: unterminated string/m },
    { name: "a misspelt key", edit: [/^device = "cpu"/m, 'devic = "cpu"'], exit: 2, message: /unknown key "devic" in \[variants\.cpu\]\n {2}hint: did you mean "device"\?/ },
    {
      name: "an unknown variant in a target",
      edit: [/^variant = "cpu"/m, 'variant = "cpuu"'],
      exit: 2,
      message: /:\d+:1: targets\.cpu\.variant: target "cpu" uses variant "cpuu", which is not defined\n {2}hint: did you mean "cpu"\?/,
    },
    { name: "an unknown target in a group", edit: [/^all = \["cpu", "gpu"\]/m, 'all = ["cpu", "gpx"]'], exit: 2, message: /group "all" lists "gpx", which is neither a target nor a group/ },
    {
      name: "incompatible torchvision",
      edit: [/^torchvision = "0.16.2"/m, 'torchvision = "0.17.0"'],
      exit: 2,
      message: /torchvision 0\.17\.0 does not match torch 2\.1\.2\n {2}hint: set torchvision = "0\.16\.2"/,
    },
    {
      name: "a base image with another CUDA",
      edit: ["nvidia/cuda:11.8.0-runtime-ubuntu22.04", "nvidia/cuda:12.1.1-runtime-ubuntu22.04"],
      exit: 2,
      message: /ships CUDA 12\.1, but torch's cu118 build needs CUDA 11\.8\n {2}hint: use base_image = "nvidia\/cuda:11\.8\.0-runtime-ubuntu22\.04"/,
    },
    { name: "a string where a number goes", edit: [/^port = 8080/m, 'port = "8080"'], exit: 2, message: /runtime\.defaults\.port: expected integer, got string "8080"/ },
    { name: "a template in a label", edit: [/^title = "IOPaint"/m, 'title = "IO${PAINT}"'], exit: 2, message: /image\.title: "IO\$\{PAINT\}" is not valid here/ },
  ];
  for (const { name, edit, exit, message } of badInputs) {
    it(`rejects ${name} with exit ${exit}, a located message, and writes nothing`, async () => {
      const out = join(work(), name.replace(/\W+/g, "-"));
      await cp(join(REPO, "docker"), join(out, "docker"), { recursive: true });
      await cp(join(REPO, "docker-bake.hcl"), join(out, "docker-bake.hcl"));
      const before = await snapshot(out);
      const configFile = join(work(), `${name.replace(/\W+/g, "-")}.toml`);
      const text = readRepoFile("config/iopaint.toml");
      const edited = text.replace(edit[0], edit[1]);
      assert.notEqual(edited, text, "test setup: the edit applies");
      await writeFile(configFile, edited);
      const result = await cli(["generate", "--config", configFile, "--out", out]);
      assert.equal(result.exitCode, exit, result.all);
      assert.match(result.stderr, message);
      assert.doesNotMatch(result.all ?? "", /\n\s+at .*\(.*:\d+:\d+\)/, "no stack trace");
      assert.deepEqual(await snapshot(out), before, "the output directory is untouched");
    });
  }

  it("says what is wrong with the command line", async () => {
    const unknown = await cli(["frobnicate"]);
    assert.equal(unknown.exitCode, 2);
    assert.match(unknown.stderr, /unknown command "frobnicate"/);
    const missing = await cli(["validate", "--config", join(work(), "nope.toml")]);
    assert.equal(missing.exitCode, 3);
    assert.match(missing.stderr, /nope\.toml: cannot read the config: no such file/);
    const help = await cli(["--help"]);
    assert.equal(help.exitCode, 0);
    assert.match(help.stdout, /Exit codes: 0 ok, 1 stale generated files or locks, 2 invalid config or usage/);
  });

  it("print shows the targets as bake resolves them, with IOPAINT_VERSION from the environment", async () => {
    const result = await cli(["print", "cpu", "gpu"], { IOPAINT_VERSION: "1.6.0" });
    assert.equal(result.exitCode, 0, result.all);
    const printed = JSON.parse(result.stdout);
    assert.deepEqual(printed.target.cpu.tags, ["iopaint:cpu-latest", "iopaint:cpu-1.6.0"]);
    assert.deepEqual(printed.target.gpu.tags, ["iopaint:gpu-latest", "iopaint:gpu-1.6.0"]);
    assert.equal(printed.target.gpu.args.BASE_IMAGE, "nvidia/cuda:11.8.0-runtime-ubuntu22.04");
    const unknown = await cli(["print", "gpuu"]);
    assert.equal(unknown.exitCode, 2);
    assert.match(unknown.stderr, /unknown target or group "gpuu"\n {2}hint: did you mean "gpu"\?/);
  });
});
