import assert from "node:assert/strict";
import { cp, readdir, readFile, writeFile } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine } from "../helpers/engine.ts";

/**
 * `npm run bake` as users run it, on the fixture and each private engine: `docker buildx bake`
 * on the current one, the fallback (one BuildKit docker build per target) on the legacy one,
 * where no buildx is installed. Each preflight failure is provoked for real.
 */
for (const engineName of TEST_ENGINES)
  describe(`npm run bake (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    let out: string;
    const fixture = join(REPO, "test/fixtures/app");

    before(async () => {
      docker = await TestEngine.start(engineName);
      out = await docker.tempDir("iopaint-bake-");
      // What the runner tags in these tests, removed in cleanup() whichever tests ran.
      for (const tag of ["cpu-latest", "cpu-1.6.0", "gpu-latest", "gpu-1.6.0"]) docker.trackImage(`iopaint-fixture:${tag}`);
    });
    after(async () => docker?.cleanup());

    function bake(args: string[], env: Record<string, string> = {}) {
      return execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "--config", FIXTURE_CONFIG, "--out", out, "--source", fixture, ...args], {
        cwd: REPO,
        reject: false,
        env: { ...docker.engine.env, ...env },
        all: true,
      });
    }

    it("builds cpu and gpu and reports each image's ID, size and tags as docker inspects them", async () => {
      const result = await bake(["all", "--version", "1.6.0", "--json"]);
      assert.equal(result.exitCode, 0, result.all);
      if (docker.bakes) assert.match(result.stderr, /\(buildx 0\.29\.\d+\), daemon 28\.5\.\d+\S*; targets: cpu, gpu\nbuilder default \(docker driver, containerd image store; 1 node\)$/m);
      else {
        assert.match(result.stderr, /buildx is not installed: falling back to one BuildKit `docker build` per target/);
        // The fallback builds the two at once (as bake does), each line of output marked with its target.
        const atOnce = Math.min(2, availableParallelism());
        assert.match(result.stderr, new RegExp(`^building 2 targets, ${atOnce} at a time; each line of their output starts with its target$`, "m"));
        assert.match(result.stderr, /^\[cpu\] #\d+ /m);
        assert.match(result.stderr, /^\[gpu\] #\d+ /m);
        assert.doesNotMatch(result.stderr, /^#\d+ /m, "no unmarked BuildKit line");
        if (atOnce === 2) assert.ok(result.stderr.indexOf("== gpu:") < result.stderr.indexOf("[cpu] #"), "gpu's build started before cpu's first output line");
      }
      assert.match(result.stderr, /note: gpu build here, but running them on a GPU needs the NVIDIA Container Toolkit/);
      const summary = JSON.parse(result.stdout);
      assert.equal(summary.ok, true);
      assert.deepEqual(
        summary.targets.map((t: { target: string }) => t.target),
        ["cpu", "gpu"],
      );
      for (const target of summary.targets) {
        assert.deepEqual(target.tags, [`iopaint-fixture:${target.target}-latest`, `iopaint-fixture:${target.target}-1.6.0`]);
        const inspected = await docker.inspect<{ Id: string; Size: number; RepoTags: string[] }>(".", target.tags[1]);
        assert.equal(target.imageId, inspected.Id);
        if (docker.bakes) {
          // The containerd store's inspect Size is the compressed content: the budget's unpacked size is measured.
          assert.equal(target.size, target.sizes.unpacked);
          assert.ok(Math.abs(target.sizes.compressed - inspected.Size) < inspected.Size * 0.01, `compressed ${target.sizes.compressed}, inspect ${inspected.Size}`);
        } else assert.equal(target.size, inspected.Size);
        assert.deepEqual([...inspected.RepoTags].sort(), [...target.tags].sort());
        assert.equal(target.steps.total, target.steps.cached + target.steps.executed);

        assert.match(result.stderr, new RegExp(`^${target.target}\\s+${inspected.Id.slice(7, 19)}\\s+\\d+(\\.\\d+)?MB / 600MB`, "m"));
      }
    });

    it("counts each target's own steps when one bake builds several (as many as building it alone)", async () => {
      // Cold builds: a cached build shows only the steps BuildKit had to load, which varies.
      const both = await bake(["all", "--no-cache", "--json"]);
      assert.equal(both.exitCode, 0, both.all);
      const shared = JSON.parse(both.stdout).targets as { target: string; steps: { total: number; executed: number } }[];
      const alone = await bake(["cpu", "--no-cache", "--json"]);
      assert.equal(alone.exitCode, 0, alone.all);
      const [cpu] = JSON.parse(alone.stdout).targets;
      for (const target of shared) assert.equal(target.steps.total, cpu.steps.total, `${target.target}: ${JSON.stringify(target.steps)} in the bake of both, cpu alone ${JSON.stringify(cpu.steps)}`);
    });

    it("--engine docker-build takes the fallback even where buildx is installed", async () => {
      const result = await bake(["cpu", "--engine", "docker-build", "--json"]);
      assert.equal(result.exitCode, 0, result.all);
      assert.match(result.stderr, /--engine docker-build: falling back to one BuildKit `docker build` per target with \/usr\/bin\/docker \(Docker 20\.10\.\d+\)/);
      assert.match(result.stderr, /Built with docker build fallback/);
      const [cpu] = JSON.parse(result.stdout).targets;
      assert.equal(cpu.imageId, await docker.inspect<string>(".Id", "iopaint-fixture:cpu-latest"));
    });

    it("--print shows the plan and builds nothing", async () => {
      const result = await bake(["cpu", "--print", "--version", "printed-only"]);
      assert.equal(result.exitCode, 0, result.all);
      const printed = JSON.parse(result.stdout);
      assert.deepEqual(printed.target.cpu.tags, ["iopaint-fixture:cpu-latest", "iopaint-fixture:cpu-printed-only"]);
      if (docker.bakes) assert.equal(printed.mode, "buildx");
      else assert.equal(printed.commands.cpu[1], "build");
      const image = await docker.docker(["image", "inspect", "iopaint-fixture:cpu-printed-only"], { reject: false });
      assert.notEqual(image.exitCode, 0, "no image was built");
    });

    it("--print needs neither a daemon nor a checkout, and writes no file", async () => {
      const empty = await docker.tempDir("iopaint-print-");
      const result = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "gpu", "--print", "--config", FIXTURE_CONFIG, "--out", empty, "--source", "/nonexistent/IOPaint"], {
        cwd: REPO,
        reject: false,
        env: { ...docker.engine.env, DOCKER_HOST: "unix:///nonexistent/docker.sock" },
        all: true,
      });
      assert.equal(result.exitCode, 0, result.all);
      assert.equal(JSON.parse(result.stdout).target.gpu.context, "/nonexistent/IOPaint");
      assert.deepEqual(await readdir(empty), []);
    });

    it("a config other than the main one never overwrites the committed files, and is not told to commit", async () => {
      const committed = ["docker-bake.hcl", "docker/Dockerfile", "docker/Dockerfile.dockerignore", "docker/compose.yaml"];
      const before = await Promise.all(committed.map((file) => readFile(join(REPO, file))));
      // No --out: the fixture's files go to a directory of its own; the missing checkout stops it after that.
      const result = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--config", FIXTURE_CONFIG, "--source", "/nonexistent/IOPaint"], {
        cwd: REPO,
        reject: false,
        env: docker.engine.env,
        all: true,
      });
      assert.equal(result.exitCode, 3, result.all);
      assert.match(result.stderr, /\.cache\/configs\/iopaint\.fixture/);
      assert.doesNotMatch(result.stderr, /commit them/);
      const after = await Promise.all(committed.map((file) => readFile(join(REPO, file))));
      for (const [i, file] of committed.entries()) assert.ok(after[i].equals(before[i]), `${file} changed`);
      assert.match(await readFile(join(REPO, ".cache/configs/iopaint.fixture/docker-bake.hcl"), "utf8"), /iopaint-fixture/);
    });

    it("--offline builds from local images, reusing the cache of online builds, and names a missing base image", async () => {
      // BuildKit keys RUN steps by their network mode too: an --offline that cut RUN steps off the
      // network would rerun pip and npm, which then fail offline. It must reuse what is cached.
      const offline = await bake(["cpu", "--offline", "--json"]);
      assert.equal(offline.exitCode, 0, offline.all);
      const [cpu] = JSON.parse(offline.stdout).targets;
      assert.equal(cpu.steps.cached, cpu.steps.total, offline.all);
      const config = join(out, "missing-base.toml");
      await writeFile(config, (await readFile(join(REPO, FIXTURE_CONFIG), "utf8")).replace('image = "iopaint-standin/node:18-bookworm"', 'image = "iopaint-standin/node:20-missing"'));
      const missing = await bake(["cpu", "--offline", "--config", config]);
      assert.equal(missing.exitCode, 3, missing.all);
      assert.match(missing.stderr, /--offline: stage frontend needs iopaint-standin\/node:20-missing, which is not in the local image store\n {2}hint: pull it while online/);
    });

    it("scripts/build_docker.sh TARGET VERSION calls the runner with that version", async () => {
      const result = await execa("scripts/build_docker.sh", ["cpu", "9.9.9", "--config", FIXTURE_CONFIG, "--out", out, "--source", fixture, "--print"], {
        cwd: REPO,
        reject: false,
        env: docker.engine.env,
        all: true,
      });
      assert.equal(result.exitCode, 0, result.all);
      assert.deepEqual(JSON.parse(result.stdout).target.cpu.tags, ["iopaint-fixture:cpu-latest", "iopaint-fixture:cpu-9.9.9"]);
    });

    it("an unknown target is a usage error with a did-you-mean (exit 2)", async () => {
      const result = await bake(["cpuu"]);
      assert.equal(result.exitCode, 2, result.all);
      assert.match(result.stderr, /error: unknown target or group "cpuu"\n {2}hint: did you mean "cpu"\?/);
    });

    it("a missing checkout is an environment error (exit 3) that says how to point at one", async () => {
      const result = await bake(["cpu", "--source", "/nonexistent/IOPaint"]);
      assert.equal(result.exitCode, 3, result.all);
      assert.match(result.stderr, /the IOPaint checkout \/nonexistent\/IOPaint does not exist.*\n {2}hint: point IOPAINT_SRC \(or --source DIR\)/);
    });

    it("--builder names a builder the machine lacks, or one the fallback cannot use: exit 3 before any build", async () => {
      const result = await bake(["cpu", "--builder", "no-such-builder"]);
      assert.equal(result.exitCode, 3, result.all);
      if (docker.bakes) assert.match(result.stderr, /error: the builder no-such-builder: no builder "no-such-builder" found\n {2}hint: docker buildx ls lists the builders/);
      else assert.match(result.stderr, /error: the builder no-such-builder \(--builder\) needs buildx: the docker build fallback builds only with the daemon's own BuildKit/);
      assert.doesNotMatch(result.stderr, /^#\d+ /m, "nothing was built");
    });

    it("a docker client that does not exist is an environment error (exit 3)", async () => {
      const result = await bake(["cpu"], { DOCKER_CLI: "/nonexistent/docker" });
      assert.equal(result.exitCode, 3, result.all);
      assert.match(result.stderr, /DOCKER_CLI=\/nonexistent\/docker is not a working docker client\n {2}hint: install Docker/);
    });

    it("a DOCKER_HOST that points nowhere is an environment error (exit 3) naming it", async () => {
      const result = await bake(["cpu"], { DOCKER_HOST: "unix:///nonexistent/docker.sock" });
      assert.equal(result.exitCode, 3, result.all);
      assert.match(result.stderr, /cannot reach the Docker daemon at DOCKER_HOST=unix:\/\/\/nonexistent\/docker\.sock/);
    });

    it("a broken requirement fails the build (exit 1) naming the step and its last lines", async () => {
      const broken = await docker.tempDir("iopaint-broken-");
      await cp(fixture, broken, { recursive: true });
      await writeFile(join(broken, "requirements.txt"), `${await readFile(join(broken, "requirements.txt"), "utf8")}no-such-package==1.0\n`);
      // Unlocked (no locks/ beside this copy of the config), so that pip resolves and fails; with the
      // fixture's lock the preflight stops first (test/e2e/lock.test.ts).
      const unlocked = join(out, "unlocked.toml");
      await writeFile(unlocked, await readFile(join(REPO, FIXTURE_CONFIG), "utf8"));
      // Both targets: on the fallback, which builds them at once, the first failure stops the other.
      const result = await bake(["all", "--source", broken, "--config", unlocked]);
      assert.equal(result.exitCode, 1, result.all);
      assert.equal(result.stderr.match(/^error: /gm)?.length, 1, result.stderr);
      assert.match(result.stderr, /error: the build failed at step \[(cpu |gpu )?resolve \d+\/\d+\] RUN .*sh \/tmp\/resolve\.sh/);
      assert.match(result.stderr, /\| ERROR: No matching distribution found for no-such-package==1\.0/);
    });

    it("an image over its size budget fails (exit 4), or only warns with --budget warn", async () => {
      const config = join(out, "small-budget.toml");
      await writeFile(config, (await readFile(join(REPO, FIXTURE_CONFIG), "utf8")).replaceAll('size_budget = "600MB"', 'size_budget = "1MB"'));
      const strict = await bake(["cpu", "--config", config]);
      assert.equal(strict.exitCode, 4, strict.all);
      assert.match(strict.stderr, /cpu: \d+(\.\d+)?MB is over its budget of 1MB \(variants\.cpu\.size_budget\)/);
      // Where the size is, so that the user knows what to cut.
      assert.match(strict.stderr, /cpu: where the size is[^\n]*\n {2}PART +UNPACKED +COMPRESSED\n {2}base image +\S+ +\S+\n/);
      const lenient = await bake(["cpu", "--config", config, "--budget", "warn"]);
      assert.equal(lenient.exitCode, 0, lenient.all);
      assert.match(lenient.stderr, /\/ 1MB OVER/);
    });

    it("--sizes reports both sizes and where they are; a compressed budget limits the compressed size", async () => {
      const result = await bake(["cpu", "--sizes", "--json"]);
      assert.equal(result.exitCode, 0, result.all);
      const [cpu] = JSON.parse(result.stdout).targets;
      const { sizes } = cpu;
      assert.ok(sizes.unpacked > sizes.compressed && sizes.compressed > 0, JSON.stringify(sizes));
      assert.deepEqual(
        sizes.parts.map((p: { part: string }) => p.part).filter((p: string) => p !== "other"),
        ["base image", "system packages", "torch stack", "packages", "app"],
      );
      for (const measure of ["unpacked", "compressed"])
        assert.equal(
          sizes.parts.reduce((sum: number, p: Record<string, number>) => sum + p[measure], 0),
          sizes[measure],
          measure,
        );
      // The stand-in wheels are small; Debian's pip and setuptools are not in the runtime's virtualenv.
      assert.ok(
        sizes.largestPackages.some((p: { name: string }) => p.name === "torch"),
        "the virtualenv's packages, by name",
      );
      assert.ok(!sizes.largestPackages.some((p: { name: string }) => ["pip", "setuptools"].includes(p.name)), JSON.stringify(sizes.largestPackages));
      assert.match(result.stderr, /largest in the virtualenv \(unpacked\): \S+ \d/);

      const config = join(out, "compressed-budget.toml");
      const limit = Math.floor(sizes.compressed / 1000) - 1; // just under the compressed size, far under the unpacked one
      await writeFile(config, (await readFile(join(REPO, FIXTURE_CONFIG), "utf8")).replaceAll('size_budget = "600MB"', `size_budget = "${limit}kB compressed"`));
      const over = await bake(["cpu", "--config", config]);
      assert.equal(over.exitCode, 4, over.all);
      assert.match(over.stderr, new RegExp(`cpu: \\S+ compressed is over its budget of ${limit}kB compressed`));
    });

    it("Ctrl-C stops the build, leaves no docker process behind and exits 130", async () => {
      const slow = await docker.tempDir("iopaint-sigint-");
      await cp(fixture, slow, { recursive: true });
      const child = bake(["cpu", "--source", slow, "--no-cache"]);
      let seen = "";
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`the build never started:\n${seen}`)), 120_000);
        child.stderr!.on("data", (chunk: Buffer) => {
          seen += chunk.toString();
          if (/\[(resolve|torch|packages|builder) \d+\/\d+\] RUN/.test(seen)) {
            clearTimeout(timer);
            resolve();
          }
        });
      });
      child.kill("SIGINT");
      const result = await child;
      assert.equal(result.exitCode, 130, result.all);
      assert.match(result.stderr, /interrupted \(SIGINT\): stopping the build/);
      // The fallback names the context on its command line, bake names the bake file.
      const left = await execa("pgrep", ["-f", `${slow}|${out}/docker-bake.hcl`], { reject: false });
      assert.equal(String(left.stdout).trim(), "", "no process still builds the interrupted context");
    });
  });
