import assert from "node:assert/strict";
import { appendFile, copyFile, cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { debianLayout, makeDebianRepository, type DebianRepository } from "../helpers/debian-repo.ts";
import { TestEngine, type Fixture } from "../helpers/engine.ts";
import { findInImage } from "../helpers/image-search.ts";
import { httpProxyArgv, startNetnsServer, staticServerArgv, type NetnsServer } from "../../scripts/engine/netns-server.ts";
import { startNpmRegistry, type NpmRegistry } from "../helpers/npm-registry.ts";

/**
 * Issue 16, items 1, 5 and 6: builds behind package mirrors, with real servers in the current
 * engine's network namespace (where the engine has no other network): verdaccio as the npm
 * registry, serving the one real dependency of a front end made for this test, and a signed
 * Debian repository made with Debian's tools, holding a package that no stand-in base has,
 * trusted by a base image derived from the stand-in (as a company's base trusts its mirror's key).
 * The mirrors are given as the bake variables IOPAINT_NPM_REGISTRY and IOPAINT_DEBIAN_MIRROR.
 */
const NPM_PORT = 4873;
const APT_PORT = 8081;
const WHEELS_PORT = 8082;
const PROXY_PORT = 3128;
const DEPENDENCY = { name: "escape-html", version: "1.0.3" };

describe("builds behind package mirrors (npm registry and Debian mirror in the engine's namespace)", { timeout: 15 * 60_000 }, () => {
  let docker: TestEngine;
  let work: string;
  let npmRegistry: NpmRegistry;
  let aptMirror: NetnsServer;
  let repository: DebianRepository;
  let fixture: Fixture;
  let mirrors: Record<string, string>;
  let baseImage: string;
  let gateway: string;
  let configFile: string;
  let source: string;
  const nonce = `${Date.now()}-${process.pid}`;

  before(async () => {
    docker = await TestEngine.start("newest");
    work = await docker.tempDir("iopaint-mirrors-");
    // Build steps reach the namespace's servers at the default bridge's gateway.
    gateway = await docker.bridgeGateway();

    npmRegistry = await startNpmRegistry(docker.engine, work, { port: NPM_PORT, packages: [`${DEPENDENCY.name}@${DEPENDENCY.version}`] });

    // The Debian mirror, and a base image that trusts its key.
    repository = await makeDebianRepository(work, debianLayout("bookworm"));
    aptMirror = await startNetnsServer(docker.engine, staticServerArgv(repository.root, APT_PORT), { port: APT_PORT, logFile: join(work, "apt-mirror.log"), readyPath: "/dists/bookworm/InRelease" });
    await copyFile(repository.keyFile, join(work, "mirror-key.gpg"));
    await writeFile(join(work, "Dockerfile.base"), "FROM iopaint-standin/python:3.11-bookworm\nCOPY mirror-key.gpg /etc/apt/trusted.gpg.d/iopaint-test-mirror.gpg\n");
    baseImage = `iopaint-test/python-trusting-mirror:${nonce}`;
    docker.trackImage(baseImage);
    await docker.docker(["build", "--quiet", "-t", baseImage, "-f", join(work, "Dockerfile.base"), work]);

    // The fixture, with the front end that has a dependency and the cpu variant on that base, installing the mirror's package.
    source = join(work, "app");
    await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
    await cp(join(REPO, "test/fixtures/mirrors/web_app"), join(source, "web_app"), { recursive: true });
    await appendFile(join(source, "web_app/src/main.js"), `\n// mirrors ${nonce}\n`);
    const config = (await readFile(join(REPO, FIXTURE_CONFIG), "utf8"))
      .replace('base_image = "iopaint-standin/python:3.11-bookworm"', `base_image = "${baseImage}"`)
      .replace('runtime_packages = ["libsm6", "libxext6"]\nextra', `runtime_packages = ["libsm6", "libxext6", "${repository.packageName}"]\nextra`);
    assert.ok(config.includes(baseImage) && config.includes(repository.packageName), "test setup: the fixture config's cpu variant changed");
    configFile = join(work, "iopaint.mirrors.toml");
    await writeFile(configFile, config);
    mirrors = { IOPAINT_NPM_REGISTRY: `http://${gateway}:${NPM_PORT}/`, IOPAINT_DEBIAN_MIRROR: `http://${gateway}:${APT_PORT}` };
    fixture = await docker.generateFixture(source, { IOPAINT_IMAGE: `iopaint-mirrors-${process.pid}` }, configFile);
    // npm's cache mount would serve the dependency without asking any registry: each build here starts without it.
    await docker.emptyCacheMounts();
  });

  after(async () => {
    await npmRegistry?.stop();
    await aptMirror?.stop();
    await docker?.cleanup();
  });

  const withEnv = (env: Record<string, string>): Fixture => ({ ...fixture, env: { ...fixture.env, ...env } });

  it("without the npm registry the front end's npm ci fails, and the error says what it could not fetch", async () => {
    await assert.rejects(docker.build(withEnv({ IOPAINT_DEBIAN_MIRROR: mirrors.IOPAINT_DEBIAN_MIRROR }), "cpu", { noCache: true }), (error: Error) => {
      assert.match(error.message, /\[frontend [0-9/]+\] RUN .*npm ci/);
      assert.match(error.message, /npm (ERR|error).*(registry\.npmjs\.org|ENOTFOUND|EAI_AGAIN|ENETUNREACH)/);
      return true;
    });
  });

  describe("with IOPAINT_NPM_REGISTRY and IOPAINT_DEBIAN_MIRROR set", () => {
    let image: string;
    before(async () => {
      await docker.build(withEnv(mirrors), "cpu", { noCache: true });
      image = fixture.targets.cpu.tags[0];
    });

    it("the front end installed its dependency from the npm registry and was built", async () => {
      assert.match(npmRegistry.http.log(), new RegExp(`GET /${DEPENDENCY.name}/-/${DEPENDENCY.name}-${DEPENDENCY.version}\\.tgz`), "verdaccio served the tarball");
      const index = (await docker.docker(["run", "--rm", "--entrypoint", "sh", image, "-c", "cat /opt/venv/lib/python3*/site-packages/iopaint/web_app/index.html"])).stdout;
      assert.match(index, /iopaint-build-marker/, "the built page is in the image");
    });

    it("the system stage installed the package that only the Debian mirror has, checking its signature", async () => {
      assert.match(aptMirror.log(), /GET \/dists\/bookworm\/InRelease 200/);
      assert.match(aptMirror.log(), new RegExp(`GET /${repository.packagePath.replaceAll(".", "\\.")} 200`));
      const status = (await docker.docker(["run", "--rm", "--entrypoint", "dpkg-query", image, "-W", "-f", "${Status}", repository.packageName])).stdout;
      assert.equal(status, "install ok installed");
      await docker.docker(["run", "--rm", "--entrypoint", "test", image, "-f", repository.packageFile]);
    });

    it("the runtime image keeps the base image's apt sources, and no label or environment variable names a mirror", async () => {
      const sources = "cat /etc/apt/sources.list; ls -A /etc/apt/sources.list.d /tmp";
      const read = async (ref: string) => (await docker.docker(["run", "--rm", "--user", "0", "--entrypoint", "sh", ref, "-c", sources])).stdout;
      assert.equal(await read(image), await read(baseImage));
      const config = await docker.inspect<{ Labels: Record<string, string>; Env: string[] }>(".Config", image);
      const said = JSON.stringify([config.Labels, config.Env]);
      for (const url of Object.values(mirrors)) assert.ok(!said.includes(url.replace(/\/$/, "")), `${url} in the image's labels or environment`);
    });
  });

  describe("behind an HTTP proxy: npm run bake passes HTTP_PROXY and http_proxy to every network step", () => {
    let proxy: NetnsServer;
    let wheels: NetnsServer;
    let proxyUrl: string;
    let image: string;
    let result: { exitCode?: number; stderr: string; all?: string };
    before(async () => {
      // The stand-in's wheelhouse (the PyPI and torch indexes of the fixture) served over HTTP.
      await docker.copyFromImage("iopaint-standin/python:3.11-bookworm", "/opt/wheelhouse", join(work, "wheelhouse"));
      wheels = await startNetnsServer(docker.engine, staticServerArgv(join(work, "wheelhouse"), WHEELS_PORT), { port: WHEELS_PORT, logFile: join(work, "wheels.log"), readyPath: "/pypi/" });
      proxy = await startNetnsServer(docker.engine, httpProxyArgv(PROXY_PORT), { port: PROXY_PORT, logFile: join(work, "proxy.log") });
      proxyUrl = `http://${gateway}:${PROXY_PORT}`;
      await docker.emptyCacheMounts();
      // Every server at 127.0.0.1 of the engine's namespace, which a build step reaches only through the proxy.
      const local = (port: number) => `http://127.0.0.1:${port}`;
      const imageName = `iopaint-proxy-${process.pid}`;
      image = `${imageName}:cpu-latest`;
      docker.trackImage(image);
      result = await execa(
        process.execPath,
        ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--no-cache", "--config", configFile, "--out", await docker.tempDir("iopaint-proxy-out-"), "--source", source],
        {
          cwd: REPO,
          reject: false,
          all: true,
          env: {
            ...docker.engine.env,
            IOPAINT_IMAGE: imageName,
            IOPAINT_NPM_REGISTRY: `${local(NPM_PORT)}/`,
            IOPAINT_DEBIAN_MIRROR: local(APT_PORT),
            IOPAINT_PIP_INDEX_URL: `${local(WHEELS_PORT)}/pypi/`,
            IOPAINT_TORCH_INDEX_URL: `${local(WHEELS_PORT)}/{build}/`,
            HTTP_PROXY: proxyUrl,
            http_proxy: proxyUrl,
            NO_PROXY: "",
            no_proxy: "",
          },
        },
      );
    });
    after(async () => {
      await proxy?.stop();
      await wheels?.stop();
    });

    it("builds, and says which proxy it passed", () => {
      assert.equal(result.exitCode, 0, result.all);
      assert.match(result.stderr, new RegExp(`^proxy for the build's network steps \\(not stored in the images\\): HTTP_PROXY=${proxyUrl}, http_proxy=${proxyUrl}$`, "m"));
    });

    it("the npm, pip and apt steps reached their servers through the proxy", () => {
      const log = proxy.log();
      assert.match(log, new RegExp(`GET http://127\\.0\\.0\\.1:${NPM_PORT}/${DEPENDENCY.name}`), "npm ci");
      assert.match(log, new RegExp(`GET http://127\\.0\\.0\\.1:${WHEELS_PORT}/cpu/torch/`), "pip, torch from its index");
      assert.match(log, new RegExp(`GET http://127\\.0\\.0\\.1:${WHEELS_PORT}/pypi/`), "pip, requirements from PyPI's stand-in");
      assert.match(log, new RegExp(`GET http://127\\.0\\.0\\.1:${APT_PORT}/dists/bookworm/InRelease`), "apt-get update");
    });

    it("the proxy is in no layer, no history entry and no config of the image", async () => {
      assert.deepEqual(await findInImage(docker.client, image, [proxyUrl, `${gateway}:${PROXY_PORT}`]), []);
    });
  });
});
