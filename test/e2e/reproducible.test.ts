import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { cp, mkdir, readdir, readFile, lstat, readlink, utimes, writeFile } from "node:fs/promises";
import { join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { bakeArgs } from "../../scripts/docker/build-args.ts";
import { PYTHON_STANDIN } from "../../scripts/engine/base-images.ts";
import { engineRegistry } from "../../scripts/engine/private-engine.ts";
import { FIXTURE_CONFIG, REPO } from "../helpers/compile.ts";
import { TestEngine, type Fixture } from "../helpers/engine.ts";

const EPOCH = "1700000000";
const FIXTURE_APP = join(REPO, "test/fixtures/app");

interface OciImage {
  /** Where the OCI layout was unpacked. */
  dir: string;
  /** The platform image's manifest digest: what a registry would serve for it. */
  digest: string;
  layers: string[];
  config: { created: string };
}

/**
 * Same inputs, same image: the fixture's cpu image built cold twice, and once more from a copy of
 * the checkout at another path with other file times, has one manifest digest, on BuildKit 0.13
 * (the newest engine) with SOURCE_DATE_EPOCH and the OCI exporter's rewrite-timestamp (Docker
 * 20.10's BuildKit has neither), with pip and with uv as the installer. Where digests differ the
 * test names the files that differ.
 */
describe("reproducible images (current engine)", { timeout: 20 * 60_000 }, () => {
  let docker: TestEngine;
  let fixture: Fixture;
  let work: string;
  let first: OciImage;

  before(async () => {
    docker = await TestEngine.start("newest");
    fixture = await docker.generateFixture();
    work = await docker.tempDir("iopaint-reproducible-");
    first = await buildCold("first", FIXTURE_APP);
  });
  after(async () => docker?.cleanup());

  /** A --no-cache build of cpu to an OCI archive with the timestamps rewritten, unpacked. */
  async function buildCold(name: string, source: string, extraSets: string[] = []): Promise<OciImage> {
    const archive = join(work, `${name}.tar`);
    const sets = [`cpu.output=type=oci,dest=${archive},rewrite-timestamp=true`, ...extraSets];
    const allow = await docker.bakeGrants({ cpu: { ...fixture.resolve(["cpu"]).cpu, context: source } }, fixture.dir, sets);
    const argv = bakeArgs({ file: join(fixture.dir, "docker-bake.hcl"), targets: ["cpu"], noCache: true, provenance: "false", sets, allow });
    await docker.docker(argv, { cwd: fixture.dir, env: { ...fixture.env, IOPAINT_SRC: source, SOURCE_DATE_EPOCH: EPOCH } });
    const dir = join(work, name);
    await mkdir(dir);
    await execa("tar", ["-xf", archive, "-C", dir]);
    const blob = async (digest: string) => JSON.parse(await readFile(join(dir, "blobs/sha256", digest.slice("sha256:".length)), "utf8"));
    const index = JSON.parse(await readFile(join(dir, "index.json"), "utf8")) as { manifests: { digest: string }[] };
    const digest = index.manifests[0].digest;
    const manifest = (await blob(digest)) as { config: { digest: string }; layers: { digest: string }[] };
    return { dir, digest, layers: manifest.layers.map((l) => l.digest), config: await blob(manifest.config.digest) };
  }

  /** The files (path, mode, time, content) that differ between two images' layers at the same position. */
  async function differingFiles(a: OciImage, b: OciImage): Promise<string[]> {
    const lines: string[] = [];
    for (let i = 0; i < Math.max(a.layers.length, b.layers.length); i++) {
      if (a.layers[i] === b.layers[i]) continue;
      const [left, right] = await Promise.all([unpackLayer(a, i), unpackLayer(b, i)]);
      for (const path of [...new Set([...left.keys(), ...right.keys()])].sort()) {
        if (left.get(path) !== right.get(path)) lines.push(`layer ${i}: ${path}: ${left.get(path) ?? "(absent)"} ≠ ${right.get(path) ?? "(absent)"}`);
      }
    }
    return lines;
  }

  async function unpackLayer(image: OciImage, index: number): Promise<Map<string, string>> {
    const dir = join(image.dir, `layer-${index}`);
    await mkdir(dir, { recursive: true });
    await execa("tar", ["-xzf", join(image.dir, "blobs/sha256", image.layers[index].slice("sha256:".length)), "-C", dir, "--no-same-owner"]);
    const files = new Map<string, string>();
    const walk = async (at: string) => {
      for (const entry of await readdir(at)) {
        const path = join(at, entry);
        const info = await lstat(path);
        const what = info.isSymbolicLink()
          ? `-> ${await readlink(path)}`
          : info.isFile()
            ? createHash("sha256")
                .update(await readFile(path))
                .digest("hex")
                .slice(0, 16)
            : "dir";
        files.set(relative(dir, path), `${(info.mode & 0o7777).toString(8)} ${Math.floor(info.mtimeMs / 1000)} ${what}`);
        if (info.isDirectory()) await walk(path);
      }
    };
    await walk(dir);
    return files;
  }

  async function assertSame(other: OciImage, what: string, base = first): Promise<void> {
    if (other.digest === base.digest) return;
    const files = await differingFiles(base, other);
    assert.fail(`${what}: ${other.digest} ≠ ${base.digest}; ${files.length} files differ:\n${files.slice(0, 40).join("\n")}`);
  }

  it("stamps the image with SOURCE_DATE_EPOCH, not the time of the build", () => {
    assert.equal(first.config.created, new Date(Number(EPOCH) * 1000).toISOString().replace(".000Z", "Z"));
  });

  it("gives the same digest for a second cold build of the same checkout", async () => {
    await assertSame(await buildCold("second", FIXTURE_APP), "a second --no-cache build");
  });

  it('with python.installer = "uv" too: two cold builds, one digest', async () => {
    const withUv = ["cpu.args.PYTHON_INSTALLER=uv"];
    const uv = await buildCold("uv-first", FIXTURE_APP, withUv);
    assert.notEqual(uv.digest, first.digest, "uv installed it (its INSTALLER records differ from pip's)");
    await assertSame(await buildCold("uv-second", FIXTURE_APP, withUv), "a second --no-cache build with uv", uv);
  });

  it("gives the same digest for a fresh copy of the checkout at another path, with new file times", async () => {
    const copy = join(work, "elsewhere", "IOPaint");
    await cp(FIXTURE_APP, copy, { recursive: true });
    const later = new Date("2026-06-07T08:09:10Z");
    const touch = async (dir: string): Promise<void> => {
      for (const entry of await readdir(dir, { withFileTypes: true })) {
        if (entry.isDirectory()) await touch(join(dir, entry.name));
        await utimes(join(dir, entry.name), later, later);
      }
    };
    await touch(copy);
    await assertSame(await buildCold("copy", copy), "a build from a copy with new file times");
  });

  it("builds from a base image pinned by digest in the config (name:tag@sha256:…), as docs/reproducible.md says", async () => {
    // The python stand-in pushed to the engine's registry, where it gets the digest Docker Hub would give it.
    const { address } = await engineRegistry(docker.engine);
    const repository = `${address}/iopaint-digest-test/python`;
    await docker.docker(["tag", PYTHON_STANDIN, `${repository}:3.11`]);
    docker.trackImage(`${repository}:3.11`);
    await docker.docker(["push", "--quiet", `${repository}:3.11`]);
    const digest = (await docker.docker(["buildx", "imagetools", "inspect", "--format", "{{json .Manifest.Digest}}", `${repository}:3.11`], { inEngineNetwork: true })).stdout.trim().replace(/"/g, "");
    assert.match(digest, /^sha256:[0-9a-f]{64}$/);
    const pinned = `${repository}:3.11@${digest}`;
    const config = join(work, "pinned.toml");
    await writeFile(config, (await readFile(join(REPO, FIXTURE_CONFIG), "utf8")).replace(/^#:schema .*\n/, "").replace(`base_image = "${PYTHON_STANDIN}"`, `base_image = "${pinned}"`));
    const pinnedFixture = await docker.generateFixture(FIXTURE_APP, { IOPAINT_IMAGE: "iopaint-digest-test" }, config);
    assert.equal(pinnedFixture.targets.cpu.args.BASE_IMAGE, pinned);
    const { output } = await docker.build(pinnedFixture, "cpu");
    assert.match(output, new RegExp(`FROM ${pinned.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`), "BuildKit resolved the base by its digest");
  });

  it("npm run bake takes SOURCE_DATE_EPOCH from the checkout's last commit", async () => {
    const checkout = join(work, "git", "IOPaint");
    await cp(FIXTURE_APP, checkout, { recursive: true });
    const date = "2024-02-03T04:05:06Z";
    const git = (args: string[]) =>
      execa("git", ["-c", "user.name=test", "-c", "user.email=test@example.invalid", ...args], { cwd: checkout, env: { GIT_COMMITTER_DATE: date, GIT_AUTHOR_DATE: date } });
    await git(["init", "--quiet"]);
    await git(["add", "."]);
    await git(["commit", "--quiet", "-m", "IOPaint (a scratch copy of the fixture)"]);
    docker.trackImage("iopaint-fixture:cpu-latest");
    const result = await execa(process.execPath, ["--import", "tsx", "scripts/bake/cli.ts", "cpu", "--config", FIXTURE_CONFIG, "--out", join(work, "git-out"), "--source", checkout], {
      cwd: REPO,
      reject: false,
      all: true,
      env: docker.engine.env,
    });
    assert.equal(result.exitCode, 0, result.all);
    const epoch = String(Date.parse(date) / 1000);
    assert.match(result.stderr, new RegExp(`^SOURCE_DATE_EPOCH=${epoch} \\(2024-02-03T04:05:06\\.000Z, the checkout's last commit\\)`, "m"));
    assert.equal(await docker.inspect<string>(".Created", "iopaint-fixture:cpu-latest"), date);
  });
});
