import assert from "node:assert/strict";
import { appendFile, cp } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { parseProgress, stepsRan, type BuildReport } from "../../scripts/bake/progress.ts";
import { DEPENDENCY_STAGES, FRONTEND_STAGE } from "../../scripts/bench/figures.ts";
import type { EngineName } from "../../scripts/docker/engine.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";

/**
 * The engines beside the main ones (the full suites run on `newest` and `legacy`), each on what
 * differs there (issue 23): Docker 28.5 with buildx 0.29 on the classic image store (overlay2, the
 * Linux default up to Docker 28: no attestations, no cache export with the docker driver, image
 * sizes as the graph driver counts them), and Docker 26.1 with buildx 0.13.1 (the oldest buildx
 * supported: no filesystem entitlements, --print in the old shape). On each: build and load
 * through npm run bake, sizes, run the image, and one cache claim.
 */
const SMOKE_ENGINES: Record<Exclude<EngineName, "newest" | "legacy">, { buildx: RegExp; store: "classic" | "containerd"; entitlements: boolean }> = {
  "newest-classic": { buildx: /buildx 0\.29\.\d+/, store: "classic", entitlements: true },
  trixie: { buildx: /buildx 0\.13\.\d+/, store: "containerd", entitlements: false },
};

for (const [engineName, expected] of Object.entries(SMOKE_ENGINES))
  describe(`smoke: build, sizes, run, one cache claim (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    let source: string;
    let out: string;
    const image = `iopaint-smoke-${engineName}`;

    before(async () => {
      docker = await TestEngine.start(engineName as EngineName);
      // A scratch checkout outside the runner's --out directory (so the grant is exercised) that the
      // cache claim may edit.
      source = await docker.tempDir("iopaint-smoke-src-");
      await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
      out = await docker.tempDir("iopaint-smoke-out-");
      for (const tag of ["cpu-latest", "gpu-latest"]) docker.trackImage(`${image}:${tag}`);
    });
    after(async () => docker?.cleanup());

    function bake(args: string[], env: Record<string, string> = {}) {
      return execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "--config", FIXTURE_CONFIG, "--out", out, "--source", source, ...args], {
        cwd: REPO,
        reject: false,
        all: true,
        env: { ...docker.engine.env, IOPAINT_IMAGE: image, ...env },
      });
    }

    it("npm run bake -- all builds and loads both images with docker buildx bake and reports their sizes", async () => {
      const result = await bake(["all", "--json"]);
      assert.equal(result.exitCode, 0, result.all);
      assert.match(result.stderr, expected.buildx);
      assert.match(result.stderr, new RegExp(`^builder default \\(docker driver, ${expected.store} image store; 1 node\\)$`, "m"));
      if (expected.store === "classic") assert.match(result.stderr, /^note: no provenance attestation: the default builder \(docker driver\) on the classic image store cannot store one/m);
      else assert.doesNotMatch(result.stderr, /no provenance attestation/);
      // buildx 0.13 knows no filesystem entitlement (and would reject --allow=fs…); 0.29 gets exactly the checkout.
      if (!expected.entitlements) assert.doesNotMatch(result.stderr, /granting buildx|--allow/);
      else assert.match(result.stderr, new RegExp(`^granting buildx --allow=fs\\.read=${source} `, "m"));
      const summary = JSON.parse(result.stdout) as { targets: { target: string; imageId: string; size: number; sizes?: { unpacked: number } }[] };
      for (const target of summary.targets) {
        const inspected = await docker.inspect<{ Id: string; Size: number }>(".", `${image}:${target.target}-latest`);
        assert.equal(target.imageId, inspected.Id);
        // The classic store's inspect Size is the unpacked size, the budget's measure: used as it is.
        if (expected.store === "classic") assert.equal(target.size, inspected.Size);
        else assert.equal(target.size, target.sizes?.unpacked);
        assert.ok(target.size > 50_000_000 && target.size < 600_000_000, `${target.target}: ${target.size} bytes`);
      }
      assert.equal(await docker.inspect<string>(".Architecture", `${image}:gpu-latest`), "amd64", "gpu is built for its one platform");
    });

    it("the cpu image runs: the API answers as the non-root user, and the log names the device", async () => {
      const container = await docker.run(`${image}:cpu-latest`, { publish: "127.0.0.1:18081:8080" });
      await docker.waitForHttp("http://127.0.0.1:18081/api/v1/model", container);
      assert.match(await docker.logs(container), /^Using device: cpu/m);
      const user = (await docker.docker(["exec", container, "id", "-u"])).stdout.trim();
      assert.equal(user, "1000");
    });

    it("one cache claim: after a .py change only the app stage runs again", async () => {
      await appendFile(join(source, "iopaint/api.py"), `\n# a code change ${Date.now()}-${process.pid}\n`);
      const result = await bake(["cpu", "--progress", "plain"]);
      assert.equal(result.exitCode, 0, result.all);
      const report: BuildReport = parseProgress(result.stderr);
      const ran = (stage: string) => stepsRan(report).filter((s) => s.stage.startsWith(`${stage} `));
      for (const stage of [FRONTEND_STAGE, ...DEPENDENCY_STAGES])
        assert.deepEqual(
          ran(stage).map((s) => s.name),
          [],
          `${stage} ran again`,
        );
      assert.ok(ran("app").length > 0, "the app stage ran");
    });

    if (expected.store === "classic") {
      it("plain docker buildx bake cpu works on the classic store (no attest in the bake file by default)", async () => {
        const result = await docker.docker(["buildx", "bake", "--allow", `fs.read=${source}`, "cpu"], { cwd: out, env: { IOPAINT_SRC: source, IOPAINT_IMAGE: image }, reject: false });
        assert.equal(result.exitCode, 0, result.all);
        assert.doesNotMatch(result.all, /Attestation is not supported/);
      });

      it("an explicit provenance or a cache export is refused before building, with the fix (exit 3)", async () => {
        const provenance = await bake(["cpu"], { IOPAINT_PROVENANCE: "min" });
        assert.equal(provenance.exitCode, 3, provenance.all);
        assert.match(provenance.stderr, /^error: IOPAINT_PROVENANCE asks for a provenance attestation, which the default builder \(docker driver\) on the classic image store cannot store$/m);
        assert.match(provenance.stderr, /hint: set IOPAINT_PROVENANCE=auto .* turn on the containerd image store/);
        const cache = await bake(["cpu"], { IOPAINT_CACHE: "local", IOPAINT_CACHE_REF: join(out, "cache") });
        assert.equal(cache.exitCode, 3, cache.all);
        assert.match(cache.stderr, /^error: IOPAINT_CACHE exports the build cache, which the default builder \(docker driver\) on the classic image store cannot do$/m);
        assert.doesNotMatch(provenance.stderr + cache.stderr, /^#\d+ /m, "nothing was built");
      });
    }
  });
