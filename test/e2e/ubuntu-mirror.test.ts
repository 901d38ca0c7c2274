import assert from "node:assert/strict";
import { copyFile, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { makeDebianRepository, ubuntuLayout, type DebianRepository } from "../helpers/debian-repo.ts";
import { TestEngine } from "../helpers/engine.ts";
import { findInImage } from "../helpers/image-search.ts";
import { startNetnsServer, staticServerArgv, type NetnsServer } from "../../scripts/engine/netns-server.ts";
import { makeTestCa, type TestCa } from "../helpers/test-ca.ts";

/**
 * Issue 16: the gpu variant's apt steps behind an Ubuntu mirror (IOPAINT_UBUNTU_MIRROR), as the
 * real gpu image (nvidia/cuda on Ubuntu 22.04) takes them, with that mirror behind TLS from a
 * private CA (--ca-cert for apt). No Ubuntu image or mirror exists on this machine, so the base is
 * the CUDA stand-in (Debian inside) with Ubuntu's /etc/os-release, which is all the Dockerfile
 * reads to choose the mirror's suites and components; the mirror is a signed repository made with
 * Debian's tools in Ubuntu's layout (jammy, -updates, -security; main, universe), its one package
 * in universe. On the newest engine, through npm run bake.
 */
const MIRROR_PORT = 8445;
const CODENAME = "jammy";
const OS_RELEASE = [
  'PRETTY_NAME="Ubuntu 22.04 (IOPaint test stand-in: Debian bookworm inside)"',
  'NAME="Ubuntu"',
  'VERSION_ID="22.04"',
  `VERSION_CODENAME=${CODENAME}`,
  "ID=ubuntu",
  "ID_LIKE=debian",
  "",
].join("\n");

describe("gpu on an Ubuntu base behind an Ubuntu mirror over TLS from a private CA", { timeout: 10 * 60_000 }, () => {
  let docker: TestEngine;
  let work: string;
  let ca: TestCa;
  let repository: DebianRepository;
  let mirror: NetnsServer;
  let mirrorUrl: string;
  let baseImage: string;
  let configFile: string;
  let out: string;
  const imageName = `iopaint-ubuntu-mirror-${process.pid}`;
  const image = `${imageName}:gpu-latest`;

  before(async () => {
    docker = await TestEngine.start("newest");
    work = await docker.tempDir("iopaint-ubuntu-mirror-");
    out = await docker.tempDir("iopaint-ubuntu-mirror-out-");
    docker.trackImage(image);
    const gateway = await docker.bridgeGateway();
    ca = await makeTestCa(work, gateway);
    repository = await makeDebianRepository(work, ubuntuLayout(CODENAME));
    mirror = await startNetnsServer(docker.engine, staticServerArgv(repository.root, MIRROR_PORT, ca.tls), { port: MIRROR_PORT, logFile: join(work, "mirror.log"), readyLog: /listening on https/ });
    mirrorUrl = `https://${gateway}:${MIRROR_PORT}/`;

    // The base: the CUDA stand-in saying it is Ubuntu, trusting the mirror's signing key.
    await copyFile(repository.keyFile, join(work, "mirror-key.gpg"));
    await writeFile(join(work, "os-release"), OS_RELEASE);
    await writeFile(
      join(work, "Dockerfile.base"),
      "FROM iopaint-standin/cuda:11.8.0-runtime-bookworm\nCOPY mirror-key.gpg /etc/apt/trusted.gpg.d/iopaint-test-mirror.gpg\nCOPY os-release /etc/os-release\n",
    );
    // The tag starts with the CUDA version, as nvidia/cuda tags do (the config check reads it there).
    baseImage = `iopaint-test/cuda:11.8.0-runtime-ubuntu22.04-standin-${process.pid}`;
    docker.trackImage(baseImage);
    await docker.docker(["build", "--quiet", "-t", baseImage, "-f", join(work, "Dockerfile.base"), work]);
    const id = (await docker.docker(["run", "--rm", "--entrypoint", "sh", baseImage, "-c", ". /etc/os-release && echo $ID $VERSION_CODENAME"])).stdout.trim();
    assert.equal(id, `ubuntu ${CODENAME}`, "test setup: the stand-in base reads as Ubuntu");

    const config = (await readFile(join(REPO, FIXTURE_CONFIG), "utf8"))
      .replace('base_image = "iopaint-standin/cuda:11.8.0-runtime-bookworm"', `base_image = "${baseImage}"`)
      .replace('runtime_packages = ["python3", "libsm6", "libxext6"]', `runtime_packages = ["python3", "libsm6", "libxext6", "${repository.packageName}"]`);
    assert.ok(config.includes(baseImage) && config.includes(repository.packageName), "test setup: the fixture config's gpu variant changed");
    configFile = join(work, "iopaint.ubuntu-mirror.toml");
    await writeFile(configFile, config);
  });
  after(async () => {
    await mirror?.stop();
    await docker?.cleanup();
  });

  /** npm run bake gpu with the mirror; always --no-cache, since a secret is in no cache key. */
  function bake(args: string[]) {
    return execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "gpu", "--no-cache", "--config", configFile, "--out", out, "--source", join(REPO, "test/fixtures/app"), ...args], {
      cwd: REPO,
      reject: false,
      all: true,
      env: { ...docker.engine.env, IOPAINT_IMAGE: imageName, IOPAINT_UBUNTU_MIRROR: mirrorUrl },
    });
  }

  it("without the CA, apt-get update fails on the mirror's certificate and the runner names --ca-cert (exit 1)", async () => {
    const result = await bake([]);
    assert.equal(result.exitCode, 1, result.all);
    assert.match(result.stderr, /error: the build failed at step \[system \d+\/\d+\] RUN /);
    assert.match(result.stderr, /hint: The certificate is NOT trusted: a server's TLS certificate is signed by a CA this step does not trust .* --ca-cert FILE/);
  });

  describe("with --ca-cert", () => {
    let result: Awaited<ReturnType<typeof bake>>;
    before(async () => {
      result = await bake(["--ca-cert", ca.caFile]);
    });

    it("builds", () => {
      assert.equal(result.exitCode, 0, result.all);
    });

    it("apt read Ubuntu's three suites over TLS and installed the package that only the mirror's universe has", async () => {
      for (const suite of [CODENAME, `${CODENAME}-updates`, `${CODENAME}-security`]) assert.match(mirror.log(), new RegExp(`GET /dists/${suite}/InRelease 200`), suite);
      assert.match(mirror.log(), new RegExp(`GET /${repository.packagePath.replaceAll(".", "\\.")} 200`));
      const status = (await docker.docker(["run", "--rm", "--entrypoint", "dpkg-query", image, "-W", "-f", "${Status}", repository.packageName])).stdout;
      assert.equal(status, "install ok installed");
    });

    // A mirror is a build setting that the RUN step's history entry shows (docs/building.md); the CA is a secret.
    it("the image keeps the base's apt sources, and no layer, history entry or config holds the CA", async () => {
      const sources = "cat /etc/apt/sources.list 2>/dev/null; ls -A /etc/apt/sources.list.d /tmp";
      const read = async (ref: string) => (await docker.docker(["run", "--rm", "--user", "0", "--entrypoint", "sh", ref, "-c", sources])).stdout;
      assert.equal(await read(image), await read(baseImage));
      assert.deepEqual(await findInImage(docker.client, image, [ca.caLine]), []);
    });
  });
});
