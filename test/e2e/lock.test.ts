import assert from "node:assert/strict";
import { appendFile, copyFile, cp, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { parseLock, type PythonLock } from "../../generator/lock.ts";
import { PYTHON_STANDIN, WHEELHOUSE_FIXTURE_DIR } from "../../scripts/engine/base-images.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine } from "../helpers/engine.ts";
import { installedDistributions } from "../helpers/python.ts";
import { measureImage } from "../../scripts/docker/image-sizes.ts";

const FIXTURE_LOCK = join(REPO, "test/fixtures/locks/cpu.txt");
const FIXTURE_APP = join(REPO, "test/fixtures/app");

/**
 * Locks on a real engine, on both build paths: `npm run lock` resolves the fixture's cpu variant
 * to the committed lock, a locked build installs exactly the lock even when the index offers newer
 * releases (an unlocked one takes them), a wheel whose bytes changed under the same name fails
 * pip's hash check, and a requirements.txt edited after locking stops `check`, while a build adds
 * what it gained beyond the lock in small layers of their own.
 * The index is the stand-in base image's wheelhouse: the tests publish into derived images.
 */
for (const [index, engineName] of TEST_ENGINES.entries())
  describe(`npm run lock and locked builds (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    let work: string;
    let committed: PythonLock;
    const newerBase = `iopaint-test/python-newer-wheels:${engineName}`;
    const tamperedBase = `iopaint-test/python-tampered-wheel:${engineName}`;

    before(async () => {
      docker = await TestEngine.start(engineName);
      work = await docker.tempDir("iopaint-lock-");
      committed = parseLock(await readFile(FIXTURE_LOCK, "utf8"), FIXTURE_LOCK, "cpu").lock!;
      for (const tag of ["cpu-latest"]) docker.trackImage(`iopaint-fixture:${tag}`);
      // The index gets newer releases of a direct (loguru) and an indirect (typing-extensions)
      // dependency; the tampered one swaps loguru 0.7.2 for other bytes under the same file name.
      // It also offers a package the lock lacks (humanize), for requirements.txt to gain after locking.
      await derivedBase(newerBase, ["'pypi:loguru==0.7.3' 'pypi:typing-extensions==4.11.0' 'pypi:humanize==4.9.0'"]);
      await derivedBase(tamperedBase, ["'pypi:loguru==0.7.2;salt=tampered'"], "rm /opt/wheelhouse/pypi/loguru/loguru-0.7.2-py3-none-any.whl && ");
    });
    after(async () => docker?.cleanup());

    /** The python stand-in with wheels added by make_wheelhouse.py (which rewrites the index pages). */
    async function derivedBase(ref: string, specs: string[], before = ""): Promise<void> {
      const context = await docker.tempDir("iopaint-lock-base-");
      await copyFile(join(WHEELHOUSE_FIXTURE_DIR, "make_wheelhouse.py"), join(context, "make_wheelhouse.py"));
      await writeFile(
        join(context, "Dockerfile"),
        [`FROM ${PYTHON_STANDIN}`, "COPY make_wheelhouse.py /tmp/", `RUN ${before}python3 /tmp/make_wheelhouse.py /opt/wheelhouse ${specs.join(" ")} && rm /tmp/make_wheelhouse.py`, ""].join("\n"),
      );
      await docker.docker(["build", "--tag", ref, context]);
      docker.trackImage(ref);
    }

    /** A copy of the fixture config in its own directory, with its base image swapped, locked or not. */
    async function config(name: string, options: { base?: string; locked: boolean; platforms?: string; installer?: "uv" }): Promise<string> {
      const dir = join(work, name);
      await mkdir(join(dir, "locks"), { recursive: true });
      let text = await readFile(join(REPO, FIXTURE_CONFIG), "utf8");
      text = text.replace(/^#:schema .*\n/, "");
      if (options.base) text = text.replace(`base_image = "${PYTHON_STANDIN}"`, `base_image = "${options.base}"`);
      if (options.platforms) text = text.replace('platforms = ["linux/amd64", "linux/arm64"]', `platforms = ${options.platforms}`);
      if (options.installer) text = text.replace("[python]\n", `[python]\ninstaller = "${options.installer}"\n`);
      await writeFile(join(dir, "fixture.toml"), text);
      if (options.locked) await copyFile(FIXTURE_LOCK, join(dir, "locks/cpu.txt"));
      return join(dir, "fixture.toml");
    }

    function cli(script: string, args: string[], env: Record<string, string> = {}) {
      return execa(process.execPath, ["--import", "tsx", script, ...args], { cwd: REPO, reject: false, all: true, env: { ...docker.engine.env, ...env } });
    }

    it("npm run lock resolves the fixture's cpu variant, in its build environment, to the committed lock", async () => {
      const file = await config("resolve", { locked: false, platforms: '["linux/amd64"]' });
      const result = await cli("scripts/lock/cli.ts", ["cpu", "--config", file, "--out", join(work, "resolve-out"), "--source", FIXTURE_APP]);
      assert.equal(result.exitCode, 0, result.all);
      assert.match(result.stderr, /== cpu on linux\/amd64: resolving in iopaint-standin\/python:3\.11-bookworm \(Python 3\.11, torch from file:\/\/\/opt\/wheelhouse\/cpu\)/);
      assert.match(result.stderr, /^ {3}#\d+ \[resolve 2\/2\] RUN /m);
      assert.match(result.stderr, /wrote \S*locks\/cpu\.txt: 27 distributions for linux\/amd64; new lock/);
      const written = parseLock(await readFile(join(work, "resolve/locks/cpu.txt"), "utf8"), "cpu.txt", "cpu").lock!;
      // Same choices and hashes as the committed lock, which was resolved on amd64 and arm64.
      assert.deepEqual(written.sections, committed.sections);
      assert.deepEqual({ ...written.inputs, platforms: "" }, { ...committed.inputs, platforms: "" });
      // The files it regenerated install from the lock: a lock stage for cpu, and the lock beside them (the config lies elsewhere).
      assert.match(await readFile(join(work, "resolve-out/docker/Dockerfile"), "utf8"), /^FROM python AS lock-cpu\nRUN --mount=type=bind,from=locks,source=cpu\.txt,/m);
      assert.match(await readFile(join(work, "resolve-out/docker-bake.hcl"), "utf8"), /^ {4}iopaint-locks = "cwd:\/\/locks"$/m);
      assert.equal(await readFile(join(work, "resolve-out/locks/cpu.txt"), "utf8"), await readFile(join(work, "resolve/locks/cpu.txt"), "utf8"));
    });

    if (engineName === "newest") {
      it("refuses to lock a platform that the base image does not have (exit 3), writing no lock", async () => {
        const file = await config("foreign", { locked: false });
        const result = await cli("scripts/lock/cli.ts", ["cpu", "--config", file, "--out", join(work, "foreign-out"), "--source", FIXTURE_APP]);
        assert.equal(result.exitCode, 3, result.all);
        assert.match(result.stderr, /error: linux\/arm64 resolved on x86_64: the base image iopaint-standin\/python:3\.11-bookworm has no linux\/arm64 build here/);
        await assert.rejects(readFile(join(work, "foreign/locks/cpu.txt")));
      });
    }

    it("a locked build installs exactly the lock, though the index now offers newer releases", async () => {
      const file = await config("locked-newer", { base: newerBase, locked: true });
      const result = await cli("scripts/bake/cli.ts", ["cpu", "--config", file, "--out", join(work, "locked-newer-out"), "--source", FIXTURE_APP]);
      assert.equal(result.exitCode, 0, result.all);
      assert.doesNotMatch(result.stderr, /is unlocked/);
      const versions = await installedDistributions(docker, "iopaint-fixture:cpu-latest");
      // The virtualenv holds the locked torch stack and packages, and no pip or setuptools; the build
      // section built the app in the builder and stays out of the image.
      const { torch, packages } = committed.sections;
      assert.deepEqual(new Map([...versions].filter(([name]) => name !== "iopaint")), new Map([...torch, ...packages].map((d) => [d.name, d.version])));
      assert.deepEqual(
        committed.sections.build.map((d) => d.name),
        ["pip", "setuptools", "wheel"],
      );
      const buildTools = await docker.docker(["run", "--rm", "--entrypoint", "ls", "iopaint-fixture:cpu-latest", "/opt/build-tools"], { reject: false });
      assert.notEqual(buildTools.exitCode, 0, "the build tools are not in the runtime image");
      assert.equal(versions.get("loguru"), "0.7.2");
    });

    it("an unlocked build of the same config takes the newer releases, with a notice that it is unlocked", async () => {
      const file = await config("unlocked-newer", { base: newerBase, locked: false });
      const result = await cli("scripts/bake/cli.ts", ["cpu", "--config", file, "--out", join(work, "unlocked-newer-out"), "--source", FIXTURE_APP]);
      assert.equal(result.exitCode, 0, result.all);
      assert.match(result.stderr, /^note: cpu is unlocked \(no locks\/cpu\.txt beside the config\): pip resolves its dependencies at build time; `npm run lock -- --config \S+ cpu` pins every one$/m);
      const versions = await installedDistributions(docker, "iopaint-fixture:cpu-latest");
      assert.equal(versions.get("loguru"), "0.7.3");
      assert.equal(versions.get("typing-extensions"), "4.11.0");
    });

    it('python.installer = "uv": npm run lock resolves amd64 and arm64 with uv in one build on amd64, and the locked build installs exactly the lock with uv, which the runtime lacks', async () => {
      // The stand-in's wheelhouse has uv's real wheels, one per architecture (scripts/engine/base-images.ts).
      const file = await config("uv", { locked: false, installer: "uv" });
      const out = join(work, "uv-out");
      const locking = await cli("scripts/lock/cli.ts", ["cpu", "--config", file, "--out", out, "--source", FIXTURE_APP]);
      assert.equal(locking.exitCode, 0, locking.all);
      // One build, on this machine's platform: uv resolves arm64 with --python-platform, nothing runs under emulation.
      assert.match(locking.stderr, /^== cpu for linux\/amd64, linux\/arm64: resolving with uv on linux\/amd64 \(--python-platform, no emulation\)/m);
      assert.equal(locking.stderr.match(/^ {3}resolved in /gm)?.length, 1, locking.stderr);
      assert.doesNotMatch(locking.stderr, /linux\/arm64\]|== cpu on /);
      const lock = parseLock(await readFile(join(work, "uv/locks/cpu.txt"), "utf8"), "cpu.txt", "cpu").lock!;
      // The same choices as pip's lock, which pip resolved on amd64 and under emulation on arm64,
      // with uv in the build section: the hash of each architecture's wheel.
      assert.deepEqual({ torch: lock.sections.torch, packages: lock.sections.packages }, { torch: committed.sections.torch, packages: committed.sections.packages });
      const uv = lock.sections.build.find((d) => d.name === "uv")!;
      const wheels = await docker.docker(["run", "--rm", "--entrypoint", "sh", PYTHON_STANDIN, "-c", "sha256sum /opt/wheelhouse/pypi/uv/*.whl"]);
      assert.match(wheels.stdout, /_x86_64\..*\n.*_aarch64\.|_aarch64\..*\n.*_x86_64\./, "the index has a uv wheel per architecture");
      assert.deepEqual(
        uv.hashes,
        wheels.stdout
          .trim()
          .split("\n")
          .map((line) => `sha256:${line.split(" ")[0]}`)
          .sort(),
      );
      assert.equal(uv.marker, undefined, "one uv release for both machines");
      assert.match(lock.inputs.build, / uv==\S+$/);

      const result = await cli("scripts/bake/cli.ts", ["cpu", "--config", file, "--out", out, "--source", FIXTURE_APP]);
      assert.equal(result.exitCode, 0, result.all);
      // The builder installs uv hash-checked (its pin carries the lock's hashes).
      assert.match(await readFile(join(out, "docker-bake.hcl"), "utf8"), new RegExp(`BUILDER_UV = "uv==${uv.version.replace(/\./g, "\\.")} --hash=${uv.hashes[0]}`));
      const versions = await installedDistributions(docker, "iopaint-fixture:cpu-latest");
      assert.deepEqual(new Map([...versions].filter(([name]) => name !== "iopaint")), new Map([...lock.sections.torch, ...lock.sections.packages].map((d) => [d.name, d.version])));
      const look = await docker.docker(
        [
          "run",
          "--rm",
          "--entrypoint",
          "sh",
          "iopaint-fixture:cpu-latest",
          "-c",
          'command -v uv; ls -d /opt/uv /opt/venv/lib/python3.11/site-packages/*.lock 2>/dev/null; cd /opt/venv/lib/python3.11/site-packages && for f in torch-*.dist-info/INSTALLER loguru-*.dist-info/INSTALLER; do echo "$(cat $f)"; done',
        ],
        { reject: false },
      );
      assert.equal(look.stdout.trim(), "uv\nuv", "no uv and no uv lock file in the runtime; the torch stack and the packages are uv's installs");
    });

    it("a wheel with other bytes under the locked name fails the build with pip's hash error (exit 1)", async () => {
      const file = await config("tampered", { base: tamperedBase, locked: true });
      const result = await cli("scripts/bake/cli.ts", ["cpu", "--config", file, "--out", join(work, "tampered-out"), "--source", FIXTURE_APP]);
      assert.equal(result.exitCode, 1, result.all);
      assert.match(result.stderr, /error: the build failed at step \[packages 2\/2\] RUN .*sh \/tmp\/install\.sh --prefix \/opt\/packages/);
      assert.match(result.stderr, /\| ERROR: THESE PACKAGES DO NOT MATCH THE HASHES FROM THE REQUIREMENTS FILE/);
      const expected = committed.sections.packages.find((d) => d.name === "loguru")!.hashes[0].slice("sha256:".length);
      assert.match(result.stderr, new RegExp(`\\| +loguru==0\\.7\\.2 from file:///opt/wheelhouse/pypi/loguru/loguru-0\\.7\\.2-py3-none-any\\.whl[^\\n]*\\n[^\\n]*\\| +Expected sha256 ${expected}`));
    });

    if (index === 0) {
      it("requirements.txt changed after locking: check fails (exit 1) naming npm run lock", async () => {
        const file = await config("stale", { locked: true });
        const app = join(work, "stale-app");
        await cp(FIXTURE_APP, app, { recursive: true });
        await appendFile(join(app, "requirements.txt"), "click>=8\n");
        const out = join(work, "stale-out");
        await cli("generator/cli.ts", ["generate", "--config", file, "--out", out]);

        const check = await cli("generator/cli.ts", ["check", "--config", file, "--out", out], { IOPAINT_SRC: app });
        assert.equal(check.exitCode, 1, check.all);
        assert.match(
          check.stderr,
          /stale: \S*stale\/locks\/cpu\.txt: the lock of cpu is out of date: requirements\.txt: locked sha256:[0-9a-f]{64}, now sha256:[0-9a-f]{64}\n {2}hint: resolve it again with `npm run lock -- --config \S+ cpu`/,
        );
        assert.equal((await cli("generator/cli.ts", ["check", "--config", file, "--out", out], { IOPAINT_SRC: FIXTURE_APP })).exitCode, 0);
      });
    }

    it("requirements.txt gained a package after locking: the build adds it with the lock held, in small layers of its own; a conflict fails naming npm run lock", async () => {
      const file = await config("added", { base: newerBase, locked: true });
      const app = join(work, "added-app");
      await cp(FIXTURE_APP, app, { recursive: true });
      const bake = () => cli("scripts/bake/cli.ts", ["cpu", "--config", file, "--out", join(work, "added-out"), "--source", app]);
      const locked = await bake();
      assert.equal(locked.exitCode, 0, locked.all);
      const before = await docker.inspect<string[]>(".RootFS.Layers", "iopaint-fixture:cpu-latest");

      await appendFile(join(app, "requirements.txt"), "humanize\n");
      const added = await bake();
      assert.equal(added.exitCode, 0, added.all);
      assert.match(
        added.stderr,
        /^note: requirements\.txt changed since the lock of cpu: the build installs the lock, then what the change needs beyond it \(resolved with every locked release held\) in a layer of its own; `npm run lock -- --config \S+ cpu` pins it$/m,
      );
      assert.match(added.stderr, /beyond the lock, in a layer of their own until npm run lock pins them:\n(?:#\d+ [\d.]+ )? {2}humanize==4\.9\.0\n/);
      const versions = await installedDistributions(docker, "iopaint-fixture:cpu-latest");
      assert.equal(versions.get("humanize"), "4.9.0");
      // The index offers newer releases of locked packages; the lock holds them.
      assert.equal(versions.get("loguru"), "0.7.2");
      assert.equal(versions.get("typing-extensions"), "4.10.0");
      // Only the additions' layer and the app's record are new: the torch stack, the packages and the
      // app's code are the layers of the locked build.
      const { layers } = await measureImage(docker.client, "iopaint-fixture:cpu-latest", undefined);
      const after = await docker.inspect<string[]>(".RootFS.Layers", "iopaint-fixture:cpu-latest");
      const changed = layers.filter((_, i) => after[i] !== before[i]).map((layer) => /COPY \S+ \S+/.exec(layer.createdBy)?.[0]);
      assert.deepEqual(changed, ["COPY /opt/additions/ /opt/venv/", "COPY /opt/app-record/ /opt/venv/"]);

      await appendFile(join(app, "requirements.txt"), "loguru>=0.7.3\n");
      const conflict = await bake();
      assert.equal(conflict.exitCode, 1, conflict.all);
      assert.match(conflict.stderr, /error: requirements\.txt needs releases other than the lock of cpu holds \(pip's conflict above\): run npm run lock -- cpu/);
    });
  });
