import assert from "node:assert/strict";
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, it } from "node:test";
import { execa } from "execa";
import { compile, OUTPUT_FILES, withoutUnreadableLocks } from "../../generator/compile.ts";
import { lockInputsOf } from "../../generator/plan.ts";
import type { ProblemsError } from "../../generator/errors.ts";
import { loadConfigFile } from "../../generator/load.ts";
import { formatLock, parseLock, staleInputs, withoutCredentials, type PythonLock } from "../../generator/lock.ts";
import { lockStatus } from "../../generator/lock-status.ts";
import { pylockDistributions } from "../../scripts/lock/pylock.ts";
import { checkMachine, lockChanges, LockResolveError, lockSections, pipDistributions, splitSections, uvMachine, type PipReport, type PlatformResolve } from "../../scripts/lock/reports.ts";
import { FIXTURE_CONFIG, readRepoFile, REPO, helpers } from "../helpers/compile.ts";

const FIXTURE_LOCK = "test/fixtures/locks/cpu.txt";
const HASH_A = `sha256:${"a".repeat(64)}`;
const HASH_B = `sha256:${"b".repeat(64)}`;

function report(machine: string, install: [name: string, version: string, hash?: string][]): PipReport {
  return {
    version: "1",
    environment: { platform_machine: machine },
    install: install.map(([name, version, hash]) => ({
      metadata: { name, version },
      download_info: { url: `https://files.example/${name}-${version}.whl`, ...(hash ? { archive_info: { hashes: { sha256: hash.slice(7) } } } : { archive_info: {} }) },
    })),
  };
}

/** One platform's resolve from pip's reports, as npm run lock reads them. */
function fromReports(platform: string, reports: Partial<Record<"torch" | "packages" | "build", PipReport>>): PlatformResolve {
  const machine = Object.values(reports)[0]?.environment.platform_machine ?? platform;
  return { platform, machine, sections: Object.fromEntries(Object.entries(reports).map(([section, report]) => [section, pipDistributions(report)])) };
}

async function fixturePlan() {
  return compile(await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG), helpers, FIXTURE_CONFIG).plan;
}

describe("the lock file", () => {
  it("reads the fixture's lock and writes it back byte for byte", () => {
    const text = readRepoFile(FIXTURE_LOCK);
    const { lock, problem } = parseLock(text, FIXTURE_LOCK, "cpu");
    assert.equal(problem, undefined);
    assert.deepEqual(
      lock!.sections.torch.map((d) => `${d.name}==${d.version}`),
      ["torch==2.1.2+cpu", "torchvision==0.16.2+cpu"],
    );
    assert.equal(lock!.inputs.platforms, "linux/amd64 linux/arm64");
    assert.equal(formatLock(lock!, FIXTURE_CONFIG), text);
  });

  it("keeps markers and several hashes through a round trip", () => {
    const lock: PythonLock = {
      variant: "cpu",
      inputs: {
        requirements: HASH_A,
        pins: "python 3.11, torch 2.1.2+cpu, torchvision 0.16.2, xformers none",
        extras: "none",
        build: "setuptools>=40.8.0 wheel",
        platforms: "linux/amd64 linux/arm64",
      },
      indexes: "torch https://download.pytorch.org/whl/cpu, packages https://pypi.org/simple",
      sections: {
        torch: [{ name: "torch", version: "2.1.2+cpu", hashes: [HASH_A, HASH_B] }],
        packages: [{ name: "numpy", version: "1.26.4", marker: 'platform_machine == "aarch64"', hashes: [HASH_B] }],
        build: [{ name: "setuptools", version: "66.1.1", hashes: [HASH_A] }],
      },
    };
    const text = formatLock(lock, "config/iopaint.toml");
    assert.match(text, /^numpy==1\.26\.4 ; platform_machine == "aarch64" \\\n {4}--hash=sha256:b{64}$/m);
    assert.deepEqual(parseLock(text, "locks/cpu.txt", "cpu").lock, { ...lock, file: "locks/cpu.txt" });
  });

  const broken: [what: string, edit: (text: string) => string, line: number, message: RegExp][] = [
    ["a hash cut short", (t) => t.replace(/(torchvision==0\.16\.2\+cpu \\\n {4}--hash=sha256:)[0-9a-f]{64}/, "$1abc"), 17, /expected NAME==VERSION/],
    ["an unknown section", (t) => t.replace("### packages", "### plugins"), 20, /unknown section "plugins"/],
    ["a header line missing", (t) => t.replace(/^# pins: .*\n/m, ""), 1, /the header lacks "# pins:"/],
    ["a requirement without a pin", (t) => t.replace("loguru==0.7.2 \\", "loguru>=0.7 \\"), 33, /expected NAME==VERSION/],
  ];
  for (const [what, edit, line, message] of broken) {
    it(`names the line and the command that rewrites it for ${what}`, () => {
      const { lock, problem } = parseLock(edit(readRepoFile(FIXTURE_LOCK)), FIXTURE_LOCK, "cpu");
      assert.equal(lock, undefined);
      assert.match(problem!.message, message);
      assert.deepEqual(problem!.location, { file: FIXTURE_LOCK, line });
      assert.match(problem!.hint!, /npm run lock -- cpu/);
    });
  }

  it("stops the compile with that problem when a lock beside a config is broken, and writes nothing", async () => {
    const dir = await mkdtemp(join(tmpdir(), "iopaint-lock-unit-"));
    try {
      await writeFile(join(dir, "fixture.toml"), readRepoFile(FIXTURE_CONFIG));
      await mkdir(join(dir, "locks"));
      await writeFile(join(dir, "locks/cpu.txt"), readRepoFile(FIXTURE_LOCK).replace("### packages", "### plugins"));
      const loaded = await loadConfigFile(join(dir, "fixture.toml"), "my/fixture.toml");
      assert.throws(
        () => compile(loaded, helpers),
        (error: ProblemsError) => error.exitCode === 2 && error.problems[0].location?.file === "my/locks/cpu.txt",
      );
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("lets npm run lock replace a lock it cannot read (an older format), only for the variants it locks", async () => {
    const loaded = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    const older = { ...loaded, locks: { cpu: { file: "locks/cpu.txt", text: readRepoFile(FIXTURE_LOCK).replace(/^# build: .*\n/m, "") } } };
    assert.throws(() => compile(older, helpers), /the header lacks "# build:"/);
    const { loaded: adjusted, replaced } = withoutUnreadableLocks(older, ["cpu"]);
    assert.deepEqual(
      replaced.map((p) => p.message),
      ['lock of variant cpu: the header lacks "# build:"'],
    );
    assert.equal(compile(adjusted, helpers).plan.variants.find((v) => v.name === "cpu")!.lock, undefined);
    assert.deepEqual(withoutUnreadableLocks(older, ["gpu"]), { loaded: older, replaced: [] }, "a lock of a variant not being locked stays, and still fails the compile");
  });

  it("hides credentials in index URLs", () => {
    assert.equal(withoutCredentials("https://user:token@pypi.example/simple"), "https://***@pypi.example/simple");
    assert.equal(withoutCredentials("file:///opt/wheelhouse/pypi"), "file:///opt/wheelhouse/pypi");
  });
});

describe("lock sections from pip's reports and uv's locks", () => {
  it("merges platforms that agree into one line with every file's hash", () => {
    const sections = lockSections([
      fromReports("linux/amd64", {
        torch: report("x86_64", [["torch", "2.1.2+cpu", HASH_A]]),
        packages: report("x86_64", [
          ["PyYAML", "6.0.1", HASH_A],
          ["rich", "13.7.1", HASH_B],
        ]),
      }),
      fromReports("linux/arm64", {
        torch: report("aarch64", [["torch", "2.1.2", HASH_B]]),
        packages: report("aarch64", [
          ["pyyaml", "6.0.1", HASH_B],
          ["rich", "13.7.1", HASH_B],
        ]),
      }),
    ]);
    assert.deepEqual(sections.packages, [
      { name: "pyyaml", version: "6.0.1", hashes: [HASH_A, HASH_B] },
      { name: "rich", version: "13.7.1", hashes: [HASH_B] },
    ]);
    // torch's CPU build is +cpu on x86_64 and plain on aarch64 (PyTorch's own index does this): a line each.
    assert.deepEqual(sections.torch, [
      { name: "torch", version: "2.1.2", marker: 'platform_machine == "aarch64"', hashes: [HASH_B] },
      { name: "torch", version: "2.1.2+cpu", marker: 'platform_machine == "x86_64"', hashes: [HASH_A] },
    ]);
    assert.deepEqual(sections.build, []);
  });

  it("splits the resolve's reports: the torch stack's own, the rest as packages, the build tools", () => {
    const all = report("x86_64", [
      ["torch", "2.1.2", HASH_A],
      ["sympy", "1.14.0", HASH_A],
      ["Pillow", "9.5.0", HASH_B],
    ]);
    const torch = report("x86_64", [
      ["torch", "2.1.2", HASH_A],
      ["sympy", "1.14.0", HASH_A],
    ]);
    const build = report("x86_64", [["wheel", "0.45.1", HASH_B]]);
    const split = splitSections(pipDistributions(all), pipDistributions(torch), pipDistributions(build));
    assert.deepEqual(
      split.torch.map((d) => d.name),
      ["torch", "sympy"],
    );
    assert.deepEqual(split.build, [{ name: "wheel", version: "0.45.1", hashes: [HASH_B] }]);
    assert.deepEqual(split.packages, [{ name: "Pillow", version: "9.5.0", hashes: [HASH_B] }]);
  });

  it("refuses a file without a hash and a distribution that is not from an index", () => {
    assert.throws(
      () => pipDistributions(report("x86_64", [["torch", "2.1.2"]])),
      (e: Error) => e instanceof LockResolveError && /gave no sha256 for torch 2\.1\.2/.test(e.message),
    );
    const local = report("x86_64", [["iopaint", "1.6.0"]]);
    local.install[0].download_info = { url: "file:///src", dir_info: {} };
    assert.throws(() => pipDistributions(local), /not a release from an index/);
  });

  it("refuses a platform that the resolve did not really run on", () => {
    assert.doesNotThrow(() => checkMachine("linux/arm64", report("aarch64", []), "python:3.11"));
    assert.throws(
      () => checkMachine("linux/arm64", report("x86_64", []), "iopaint-standin/python:3.11-bookworm"),
      /linux\/arm64 resolved on x86_64: the base image iopaint-standin\/python:3\.11-bookworm has no linux\/arm64 build/,
    );
  });

  it("reads uv's PEP 751 locks: the hashes of a release's wheels, or of its sdist when it has none", () => {
    const HASH_C = `sha256:${"c".repeat(64)}`;
    const lock = [
      'lock-version = "1.0"',
      'created-by = "uv"',
      'requires-python = ">=3.11"',
      "",
      "[[packages]]",
      'name = "torch"',
      'version = "2.1.2"',
      `wheels = [{ url = "https://files.example/torch-2.1.2-cp311-cp311-manylinux1_x86_64.whl", hashes = { sha256 = "${"a".repeat(64)}" } }, { url = "https://files.example/torch-2.1.2-cp311-cp311-manylinux_2_28_x86_64.whl", size = 10, upload-time = 2024-02-06T00:26:44Z, hashes = { sha256 = "${"b".repeat(64)}" } }]`,
      `sdist = { url = "https://files.example/torch-2.1.2.tar.gz", hashes = { sha256 = "${"d".repeat(64)}" } }`,
      "",
      "[[packages]]",
      'name = "antlr4-python3-runtime"',
      'version = "4.9.3"',
      `sdist = { url = "https://files.example/antlr4-python3-runtime-4.9.3.tar.gz", hashes = { sha256 = "${"c".repeat(64)}" } }`,
      "",
    ].join("\n");
    assert.deepEqual(pylockDistributions(lock, "x86_64/pylock.all.toml"), [
      { name: "torch", version: "2.1.2", hashes: [HASH_A, HASH_B] },
      { name: "antlr4-python3-runtime", version: "4.9.3", hashes: [HASH_C] },
    ]);
    assert.deepEqual(pylockDistributions('lock-version = "1.0"\n', "empty.toml"), []);
  });

  it("refuses a uv lock it cannot pin: another format version, no hash, a directory, not TOML", () => {
    const one = (fields: string) => `lock-version = "1.0"\n[[packages]]\nname = "iopaint"\n${fields}\n`;
    assert.throws(
      () => pylockDistributions('lock-version = "2.0"\n', "a.toml"),
      (e: Error) => e instanceof LockResolveError && /a\.toml is not a PEP 751 lock of version 1 \(lock-version = "2\.0"\)/.test(e.message),
    );
    assert.throws(() => pylockDistributions("lock-version = [", "b.toml"), /b\.toml is not TOML: /);
    assert.throws(
      () => pylockDistributions(one('version = "1.6.0"\nwheels = [{ url = "https://files.example/iopaint-1.6.0-py3-none-any.whl", hashes = {} }]'), "c.toml"),
      /the index gave no sha256 for iopaint 1\.6\.0 \(https:\/\/files\.example\/iopaint-1\.6\.0-py3-none-any\.whl\)/,
    );
    assert.throws(() => pylockDistributions(one('directory = { path = "/src" }'), "d.toml"), /iopaint in d\.toml is not a release from an index/);
    assert.throws(() => pylockDistributions(one('version = "1.6.0"'), "e.toml"), /iopaint 1\.6\.0 in e\.toml lists no wheel and no sdist/);
  });

  it("merges uv's resolves for each machine as pip's: what one machine alone installs gets its marker", () => {
    const resolve = (platform: string, machine: string, torch: [string, string, string][]): PlatformResolve => ({
      platform,
      machine,
      sections: splitSections(
        torch.map(([name, version, hash]) => ({ name, version, hashes: [hash] })),
        torch.map(([name, version, hash]) => ({ name, version, hashes: [hash] })),
        [],
      ),
    });
    const sections = lockSections([
      resolve("linux/amd64", "x86_64", [
        ["torch", "2.1.2", HASH_A],
        ["nvidia-cudnn-cu12", "8.9.2.26", HASH_A],
      ]),
      resolve("linux/arm64", "aarch64", [["torch", "2.1.2", HASH_B]]),
    ]);
    assert.deepEqual(sections.torch, [
      { name: "nvidia-cudnn-cu12", version: "8.9.2.26", marker: 'platform_machine == "x86_64"', hashes: [HASH_A] },
      { name: "torch", version: "2.1.2", hashes: [HASH_A, HASH_B] },
    ]);
    assert.deepEqual(sections.packages, []);
  });

  it("lets uv resolve the platforms it names (x86_64 and aarch64 manylinux) and pip the others", () => {
    assert.equal(uvMachine("linux/amd64"), "x86_64");
    assert.equal(uvMachine("linux/arm64"), "aarch64");
    assert.equal(uvMachine("linux/arm64/v8"), "aarch64");
    assert.equal(uvMachine("linux/arm/v7"), undefined);
    assert.equal(uvMachine("linux/s390x"), undefined);
  });

  it("says what changed since the previous lock", () => {
    const before = {
      torch: [{ name: "torch", version: "2.1.2", hashes: [HASH_A] }],
      packages: [
        { name: "loguru", version: "0.7.2", hashes: [HASH_A] },
        { name: "click", version: "8.1.7", hashes: [HASH_A] },
      ],
      build: [],
    };
    const after = {
      torch: [{ name: "torch", version: "2.1.2", hashes: [HASH_A] }],
      packages: [
        { name: "loguru", version: "0.7.3", hashes: [HASH_B] },
        { name: "rich", version: "13.7.1", hashes: [HASH_B] },
      ],
      build: [],
    };
    assert.deepEqual(lockChanges(before, after), ["- click 8.1.7", "~ loguru 0.7.2 → 0.7.3", "+ rich 13.7.1"]);
  });
});

describe("lock status (npm run check, the runner's preflight)", () => {
  it("finds the fixture's committed lock current for its requirements.txt and pins", async () => {
    const plan = await fixturePlan();
    const requirements = await readFile(resolve(REPO, "test/fixtures/app/requirements.txt"));
    assert.deepEqual(lockStatus(plan, ["cpu", "gpu"], () => requirements).problems, []);
  });

  it("fails a lock whose requirements.txt or pins changed, naming the command to run", async () => {
    const plan = await fixturePlan();
    const status = lockStatus(plan, ["cpu"], () => "torch>=2.0.0\nloguru==0.7.3\n", "npm run lock -- --config test/fixtures/iopaint.fixture.toml");
    assert.equal(status.problems.length, 1);
    const [problem] = status.problems;
    assert.equal(problem.kind, "drift");
    assert.match(problem.message, /the lock of cpu is out of date: requirements\.txt: locked sha256:[0-9a-f]{64}, now sha256:[0-9a-f]{64}/);
    assert.equal(problem.location?.file, FIXTURE_LOCK);
    assert.match(problem.hint!, /`npm run lock -- --config test\/fixtures\/iopaint\.fixture\.toml cpu`/);

    const cpu = plan.variants.find((v) => v.name === "cpu")!;
    assert.deepEqual(staleInputs(cpu.lock!, { pins: "python 3.11, torch 2.2.2+cpu, torchvision 0.17.2, xformers none" }), [
      "pins: locked python 3.11, torch 2.1.2+cpu, torchvision 0.16.2, xformers none, now python 3.11, torch 2.2.2+cpu, torchvision 0.17.2, xformers none",
    ]);
    assert.deepEqual(staleInputs(cpu.lock!, { build: "setuptools>=69 wheel pip==23.0.1" }), ["build requirements: locked setuptools>=40.8.0 wheel pip==23.0.1, now setuptools>=69 wheel pip==23.0.1"]);
  });

  it("lets a build go on past a lock that only requirements.txt moved past, with a notice; a pin change still fails it", async () => {
    const plan = await fixturePlan();
    const moved = lockStatus(plan, ["cpu"], () => "torch>=2.0.0\nloguru==0.7.3\n", "npm run lock --", true);
    assert.deepEqual(moved.problems, []);
    assert.deepEqual(moved.notices, [
      "requirements.txt changed since the lock of cpu: the build installs the lock, then what the change needs beyond it (resolved with every locked release held) in a layer of its own; `npm run lock -- cpu` pins it",
    ]);

    const bumped = structuredClone(plan);
    bumped.variants.find((v) => v.name === "cpu")!.labels["io.iopaint.torch"] = "2.2.2+cpu";
    const pins = lockStatus(bumped, ["cpu"], () => "torch>=2.0.0\nloguru==0.7.3\n", "npm run lock --", true);
    assert.equal(pins.problems.length, 1);
    assert.match(pins.problems[0].message, /the lock of cpu is out of date: requirements\.txt: .*; pins: locked python 3\.11, torch 2\.1\.2\+cpu/);
  });

  it("gives the builder's pip the hash its lock holds; another pip release makes the lock stale", async () => {
    const plan = await fixturePlan();
    const pip = plan.variants.find((v) => v.name === "cpu")!.lock!.sections.build.find((d) => d.name === "pip")!;
    assert.equal(plan.args.BUILDER_PIP, `pip==23.0.1 --hash=${pip.hashes[0]}`);
    const loaded = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    (loaded.raw.versions as Record<string, unknown>).pip = "24.0";
    const bumped = compile(loaded, helpers, FIXTURE_CONFIG).plan;
    assert.equal(bumped.args.BUILDER_PIP, "pip==24.0", "no hash for a release the lock does not hold");
    const requirements = await readFile(resolve(REPO, "test/fixtures/app/requirements.txt"));
    assert.match(
      lockStatus(bumped, ["cpu"], () => requirements).problems[0]?.message ?? "",
      /build requirements: locked setuptools>=40\.8\.0 wheel pip==23\.0\.1, now setuptools>=40\.8\.0 wheel pip==24\.0/,
    );
  });

  it('with python.installer = "uv": uv in the lock inputs, pinned with every hash the locks hold for it (one wheel per platform); with pip, no uv in them', async () => {
    assert.doesNotMatch((await fixturePlan()).variants[0].lock!.inputs.build, /uv/);
    const loaded = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    (loaded.raw.python as Record<string, unknown>).installer = "uv";
    const uvLocked = (hashes: string[]) => ({ name: "uv", version: "0.13.9", hashes });
    const { lock } = parseLock(loaded.locks!.cpu.text, FIXTURE_LOCK, "cpu");
    const withUv: PythonLock = {
      ...lock!,
      inputs: { ...lock!.inputs, build: `${lock!.inputs.build} uv==0.13.9` },
      sections: { ...lock!.sections, build: [...lock!.sections.build, uvLocked([HASH_B, HASH_A])] },
    };
    loaded.locks = { cpu: { file: FIXTURE_LOCK, text: formatLock(withUv, FIXTURE_CONFIG) } };
    const plan = compile(loaded, helpers, FIXTURE_CONFIG).plan;
    assert.equal(plan.args.PYTHON_INSTALLER, "uv");
    assert.equal(plan.args.BUILDER_UV, `uv==0.13.9 --hash=${HASH_A} --hash=${HASH_B}`);
    assert.deepEqual(staleInputs(withUv, lockInputsOf(plan, plan.variants[0])), []);
  });

  it("gives an unlocked variant a one-line notice, not a failure", async () => {
    const status = lockStatus(await fixturePlan(), ["gpu"], () => undefined);
    assert.deepEqual(status.problems, []);
    assert.deepEqual(status.notices, ["gpu is unlocked (no locks/gpu.txt beside the config): pip resolves its dependencies at build time; `npm run lock -- gpu` pins every one"]);
  });
});

describe("the Dockerfile's lock stages", () => {
  it("mount a locked variant's lock from the locks context and split it with pins.py; an unlocked one is the unlocked stage", async () => {
    const loaded = await loadConfigFile(resolve(REPO, FIXTURE_CONFIG), FIXTURE_CONFIG);
    const { outputs } = compile(loaded, helpers, FIXTURE_CONFIG);
    const dockerfile = outputs[OUTPUT_FILES.dockerfile];
    assert.match(
      dockerfile,
      /^FROM python AS lock-cpu\nRUN --mount=type=bind,from=locks,source=cpu\.txt,target=\/tmp\/locks\/cpu\.txt \\\n {4}--mount=type=bind,from=helpers,source=pins\.py,target=\/tmp\/pins\.py \\\n {4}python \/tmp\/pins\.py split \/tmp\/locks\/cpu\.txt \/tmp\/lock$/m,
    );
    assert.match(dockerfile, /^FROM \$\{LOCKS_IMAGE\} AS locks$/m);
    assert.match(dockerfile, /^FROM unlocked AS lock-gpu$/m);
    assert.doesNotMatch(dockerfile, /loguru/, "no pin is written into the Dockerfile");
    // The locks context is the config's locks directory, where compile also writes each lock as read.
    assert.match(outputs[OUTPUT_FILES.bake], /^ {4}iopaint-locks = "cwd:\/\/test\/fixtures\/locks"$/m);
    assert.equal(outputs[FIXTURE_LOCK], readRepoFile(FIXTURE_LOCK));
    // The resolve starts from the lock stage; resolve.sh resolves nothing when packages.txt is there.
    assert.match(dockerfile, /^FROM \$\{PYTHON_LOCK\} AS resolve$/m);
    assert.match(readRepoFile("docker/helpers/resolve.sh"), /^if \[ ! -f "\$lock\/packages\.txt" \]; then$/m);
  });

  it("pins.py split writes each section as the hash-checked requirements the lock holds, an empty one as an empty file, and the inputs resolve.sh compares", async () => {
    const { lock } = parseLock(readRepoFile(FIXTURE_LOCK), FIXTURE_LOCK, "cpu");
    const withEmptyBuild: PythonLock = { ...lock!, sections: { ...lock!.sections, build: [] } };
    const dir = await mkdtemp(join(tmpdir(), "iopaint-split-"));
    try {
      await writeFile(join(dir, "cpu.txt"), formatLock(withEmptyBuild, FIXTURE_CONFIG));
      await execa("python3", [join(REPO, "docker/helpers/pins.py"), "split", join(dir, "cpu.txt"), join(dir, "lock")]);
      const read = (file: string) => readFile(join(dir, "lock", file), "utf8");
      for (const section of ["torch", "packages"] as const) {
        const oneLinePerRequirement = (await read(`${section}.txt`))
          .replace(/ \\\n +/g, " ")
          .trimEnd()
          .split("\n");
        const expected = lock!.sections[section].map((d) => `${d.name}==${d.version}${d.marker ? ` ; ${d.marker}` : ""} ${d.hashes.map((h) => `--hash=${h}`).join(" ")}`);
        assert.deepEqual(oneLinePerRequirement, ["--require-hashes", ...expected], section);
      }
      assert.equal(await read("build.txt"), "");
      assert.equal(await read("inputs.txt"), `requirements ${lock!.inputs.requirements}\nextras ${lock!.inputs.extras}\n`);
      assert.equal(await read("variant"), "cpu\n");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
