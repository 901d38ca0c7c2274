import assert from "node:assert/strict";
import { appendFile, cp } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine } from "../helpers/engine.ts";
import { findInImage } from "../helpers/image-search.ts";
import { startNetnsServer, staticServerArgv, type NetnsServer } from "../../scripts/engine/netns-server.ts";
import { startNpmRegistry, type NpmRegistry } from "../helpers/npm-registry.ts";
import { makeTestCa, type TestCa } from "../helpers/test-ca.ts";

/**
 * Issue 16, items 3 and 7: an npm registry and the PyPI and torch indexes (the stand-in's
 * wheelhouse) behind TLS, with a certificate from a CA made here (as behind a TLS-inspecting
 * proxy), in the engine's network namespace, on both build paths. Without the CA the build fails,
 * and the runner names the certificate problem and the setting that fixes it; with --ca-cert npm
 * and pip fetch through TLS, and no layer or config of the image holds the CA.
 */
const HTTP_PORT = 4873;
const TLS_PORT = 4874;
const INDEX_PORT = 8443;
const DEPENDENCY = "escape-html@1.0.3";

for (const engineName of TEST_ENGINES) {
  describe(`extra CA certificates through a secret (${engineName} engine): an npm registry and package indexes behind TLS`, { timeout: 10 * 60_000 }, () => {
    let docker: TestEngine;
    let work: string;
    let npm: NpmRegistry | undefined;
    let index: NetnsServer | undefined;
    let indexUrl: string;
    let source: string;
    let out: string;
    let ca: TestCa;
    let registry: string;
    const imageName = `iopaint-ca-${engineName}-${process.pid}`;

    before(async () => {
      docker = await TestEngine.start(engineName);
      work = await docker.tempDir("iopaint-ca-");
      out = await docker.tempDir("iopaint-ca-out-");
      docker.trackImage(`${imageName}:cpu-latest`);
      const gateway = await docker.bridgeGateway();
      ca = await makeTestCa(work, gateway);

      npm = await startNpmRegistry(docker.engine, work, { port: HTTP_PORT, packages: [DEPENDENCY], tls: { port: TLS_PORT, ...ca.tls } });
      registry = `https://${gateway}:${TLS_PORT}/`;
      await docker.copyFromImage("iopaint-standin/python:3.11-bookworm", "/opt/wheelhouse", join(work, "wheelhouse"));
      index = await startNetnsServer(docker.engine, staticServerArgv(join(work, "wheelhouse"), INDEX_PORT, ca.tls), {
        port: INDEX_PORT,
        logFile: join(work, "index.log"),
        readyLog: /listening on https/,
      });
      indexUrl = `https://${gateway}:${INDEX_PORT}`;

      source = join(work, "app");
      await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
      await cp(join(REPO, "test/fixtures/mirrors/web_app"), join(source, "web_app"), { recursive: true });
      await appendFile(join(source, "web_app/src/main.js"), `\n// ca ${engineName} ${process.pid} ${Date.now()}\n`);
      // npm's cache mount would serve the dependency without asking the registry.
      await docker.emptyCacheMounts();
    });
    after(async () => {
      await npm?.stop();
      await index?.stop();
      await docker?.cleanup();
    });

    /**
     * Always --no-cache: a secret is not part of any cache key, so a step that once succeeded
     * (an earlier run of this test on the same engine) would be CACHED with the CA or without it.
     */
    function bake(args: string[]) {
      return execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--no-cache", "--config", FIXTURE_CONFIG, "--out", out, "--source", source, ...args], {
        cwd: REPO,
        reject: false,
        all: true,
        env: { ...docker.engine.env, IOPAINT_IMAGE: imageName, IOPAINT_NPM_REGISTRY: registry, IOPAINT_PIP_INDEX_URL: `${indexUrl}/pypi/`, IOPAINT_TORCH_INDEX_URL: `${indexUrl}/{build}/` },
      });
    }

    it("refuses a CA file that is missing or not a PEM certificate before building (exit 2)", async () => {
      const missing = await bake(["--ca-cert", join(work, "nonexistent.pem")]);
      assert.equal(missing.exitCode, 2, missing.all);
      assert.match(missing.stderr, /the CA certificate file \S+nonexistent\.pem does not exist/);
      const key = await bake(["--ca-cert", ca.caKey]);
      assert.equal(key.exitCode, 2, key.all);
      assert.match(key.stderr, /holds a private key/);
      assert.doesNotMatch(key.stderr, /#\d+ \[/, "no build step ran");
    });

    it("without the CA, npm ci or pip fails on the certificate and the runner names the problem and --ca-cert (exit 1)", async () => {
      const result = await bake([]);
      assert.equal(result.exitCode, 1, result.all);
      assert.match(
        result.stderr,
        /error: the build failed at step \[(frontend \d+\/\d+\] RUN .*npm ci|(python|resolve|torch|packages|builder) \d+\/\d+\] RUN .*(pip install|resolve\.sh|install\.sh))/,
      );
      assert.match(
        result.stderr,
        /hint: (UNABLE_TO_GET_ISSUER_CERT_LOCALLY|SELF_SIGNED_CERT_IN_CHAIN|UNABLE_TO_VERIFY_LEAF_SIGNATURE|CERTIFICATE_VERIFY_FAILED): a server's TLS certificate is signed by a CA this step does not trust .* --ca-cert FILE/,
      );
    });

    it("with --ca-cert npm and pip install over TLS, and no layer or config of the image holds the CA", async () => {
      const result = await bake(["--ca-cert", ca.caFile]);
      assert.equal(result.exitCode, 0, result.all);
      assert.match(npm!.tls!.log(), /GET \/escape-html\/-\/escape-html-1\.0\.3\.tgz/, "the TLS registry served the tarball");
      assert.match(index!.log(), /GET \/cpu\/torch\/torch-2\.1\.2\+cpu-py3-none-any\.whl 200/, "pip fetched torch over TLS");
      assert.match(index!.log(), /GET \/pypi\/uvicorn\/uvicorn-[^ ]+\.whl 200/, "pip fetched the requirements over TLS");
      assert.deepEqual(await findInImage(docker.client, `${imageName}:cpu-latest`, [ca.caLine]), []);
    });

    it('with --ca-cert uv (python.installer = "uv") installs over TLS too', async () => {
      const earlier = index!.log().length;
      const result = await bake(["--ca-cert", ca.caFile, "--set", "cpu.args.PYTHON_INSTALLER=uv"]);
      assert.equal(result.exitCode, 0, result.all);
      const log = index!.log().slice(earlier);
      assert.match(log, /GET \/pypi\/uv\/uv-[^ ]+\.whl 200/, "pip fetched uv over TLS");
      assert.match(log, /GET \/cpu\/torch\/torch-2\.1\.2(\+|%2B)cpu-py3-none-any\.whl 200/, "uv fetched torch over TLS");
      const installer = await docker.docker(["run", "--rm", "--entrypoint", "sh", `${imageName}:cpu-latest`, "-c", "cat /opt/venv/lib/python3.11/site-packages/torch-*.dist-info/INSTALLER"]);
      assert.equal(String(installer.stdout).trim(), "uv");
      assert.deepEqual(await findInImage(docker.client, `${imageName}:cpu-latest`, [ca.caLine]), []);
    });
  });
}
