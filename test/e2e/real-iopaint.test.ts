import assert from "node:assert/strict";
import { appendFile, cp, mkdir, readFile, stat, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { execa } from "execa";
import { LOCK_SECTIONS, parseLock, type LockSection, type PythonLock } from "../../generator/lock.ts";
import { parseProgress, stepsRan } from "../../scripts/bake/progress.ts";
import type { TargetResult } from "../../scripts/bake/summary.ts";
import { readDebianMirror } from "../../scripts/engine/host.ts";
import type { ImageSizes } from "../../scripts/docker/image-sizes.ts";
import { REPO } from "../helpers/compile.ts";
import { TestEngine } from "../helpers/engine.ts";
import { startOutboundProxy, type OutboundProxy } from "../../scripts/engine/netns-server.ts";
import { installedDistributions } from "../helpers/python.ts";
import { downloadWheel, pipSetting, pipWheel, realCheckout, realConfigText } from "../../scripts/real-iopaint.ts";

/** Inside a container: a 64×48 PNG and a mask (a 16×16 square) posted to /api/v1/inpaint, the answer compared with PIL. */
const INPAINT = `
import base64, io, json, urllib.request
import numpy as np
from PIL import Image
image = Image.fromarray(np.fromfunction(lambda y, x, c: (x * 4 + y * 5 * c) % 256, (48, 64, 3)).astype("uint8"))
mask = Image.new("L", image.size, 0)
mask.paste(255, (24, 16, 40, 32))
def png(picture):
    buffer = io.BytesIO()
    picture.save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode()
request = urllib.request.Request("http://127.0.0.1:8080/api/v1/inpaint", data=json.dumps({"image": png(image), "mask": png(mask)}).encode(), headers={"Content-Type": "application/json"})
with urllib.request.urlopen(request, timeout=120) as answer:
    body, kind = answer.read(), answer.headers["Content-Type"]
result = Image.open(io.BytesIO(body))
before, after = np.asarray(image, dtype=int), np.asarray(result.convert("RGB"), dtype=int)
inside = int(np.abs(after[16:32, 24:40] - before[16:32, 24:40]).sum())
print(json.dumps({"type": kind, "format": result.format, "size": list(result.size), "inside": inside, "outside": int(np.abs(after - before).sum()) - inside}))
`;

/** One layer of an image, as `--sizes` reports it. */
type ImageLayer = ImageSizes["layers"][number];

/** What a script run gives back: its exit code and output. */
interface Result {
  exitCode?: number;
  stdout: string;
  stderr: string;
}

/**
 * IOPaint 1.6.0 as it is on PyPI, with its real requirements.txt unmodified and the default
 * plugins, locked with `npm run lock` and built from the locks through the generated Dockerfile on
 * the newest engine (issue 24). The checkout comes from scripts/real-iopaint.ts. The lock and
 * the builds reach PyPI only through the project's own settings: the index this machine's pip uses
 * (IOPAINT_PIP_INDEX_URL through the config), the CA bundle pip trusts (--ca-cert), the machine's
 * Debian mirror (IOPAINT_DEBIAN_MIRROR) and, since the engine's namespace has no route out, a
 * proxy (HTTPS_PROXY) at its gateway. The one declared difference from config/iopaint.toml besides
 * the stand-in base images: torch, torchvision and xformers come from PyPI (their CUDA 12.1
 * builds) instead of PyTorch's index.
 */
describe("IOPaint 1.6.0's real packages (newest engine)", { timeout: 75 * 60_000 }, () => {
  let docker: TestEngine;
  let proxy: OutboundProxy;
  let source: string;
  let locked: Result;
  let built: Result;
  const locks: Partial<Record<"cpu" | "gpu", PythonLock>> = {};
  /** Runs a script on the real config (or `configFile`, its files generated beside it). */
  let runScript: (script: string, args: string[], configFile?: string) => Promise<Result>;
  const images = { cpu: "iopaint-real:cpu-latest", gpu: "iopaint-real:gpu-latest" };
  /** cpu's installer: uv, from PyPI like the rest, through the proxy and the CA. */
  const WITH_UV = ["--set", "cpu.args.PYTHON_INSTALLER=uv"];

  before(async () => {
    docker = await TestEngine.start("newest");
    for (const image of Object.values(images)) docker.trackImage(image);
    const work = await docker.tempDir("iopaint-real-");
    // A copy, since a test adds a package to its requirements.txt.
    source = join(work, "IOPaint");
    await cp(await realCheckout(), source, { recursive: true });
    const config = join(work, "real.toml");
    await writeFile(config, await realConfigText());
    proxy = await startOutboundProxy(docker.engine, 3128, work);
    const caCert = await pipSetting("cert");
    const env = { ...docker.engine.env, IOPAINT_DEBIAN_MIRROR: readDebianMirror(), HTTPS_PROXY: proxy.url, HTTP_PROXY: proxy.url, NO_PROXY: "" };
    runScript = (script, args, configFile = config) =>
      execa(process.execPath, ["--import", "tsx", script, ...args, "--config", configFile, "--out", join(dirname(configFile), "out"), "--source", source, ...(caCert ? ["--ca-cert", caCert] : [])], {
        cwd: REPO,
        reject: false,
        env,
      });
    locked = await runScript("scripts/lock/cli.ts", ["cpu", "gpu"]);
    for (const variant of ["cpu", "gpu"] as const) {
      const file = join(work, `locks/${variant}.txt`);
      const text = await readFile(file, "utf8").catch(() => undefined);
      if (text !== undefined) locks[variant] = parseLock(text, file, variant).lock;
    }
    // cpu is installed with uv (python.installer), gpu with pip: the same locks, both installers on the real packages.
    // No --sizes: each `docker save` of a 6–7 GB image takes minutes, and the rebuilds below measure cpu.
    // Both budgets are compressed (realConfig), so checking them needs none either.
    built = await runScript("scripts/bake/cli.ts", ["cpu", "gpu", ...WITH_UV, "--json"]);
  });
  after(async () => {
    await proxy?.stop();
    await docker?.cleanup();
    // Tens of gigabytes of build cache (two torch stacks, unpacked and as layers, and pip's
    // downloads) that no later test reuses: given back, so that the disk holds the rest of the run.
    await docker?.docker(["builder", "prune", "--all", "--force"], { reject: false });
  });

  it("npm run lock locks cpu and gpu from PyPI: every distribution with its sha256, the torch stack in a section of its own", () => {
    assert.equal(locked.exitCode, 0, locked.stderr.split("\n").slice(-60).join("\n"));
    assert.match(locked.stderr, /^proxy for the resolve \(not stored in any lock\): HTTP_PROXY=http:\/\/[\d.]+:3128, HTTPS_PROXY=http:\/\/[\d.]+:3128$/m);
    for (const variant of ["cpu", "gpu"] as const) {
      // parseLock accepts no requirement without a --hash=sha256 line.
      const lock = locks[variant];
      assert.ok(lock, `locks/${variant}.txt was written and reads back`);
      const pinned = (section: LockSection) => new Map(lock.sections[section].map((d) => [d.name, d.version]));
      const torch = pinned("torch");
      assert.equal(torch.get("torch"), "2.1.2");
      assert.equal(torch.get("torchvision"), "0.16.2");
      assert.equal(torch.get("xformers"), variant === "gpu" ? "0.0.23.post1" : undefined);
      assert.ok(
        [...torch.keys()].some((name) => name.startsWith("nvidia-")),
        "PyPI's torch brings its CUDA libraries",
      );
      const packages = pinned("packages");
      assert.equal(packages.get("diffusers"), "0.27.2");
      assert.ok(packages.has("rembg") && packages.has("onnxruntime") && !packages.has("torch"));
      // Pillow and numpy are in the torch stack's closure (torchvision needs them), at the versions IOPaint's pins allow.
      const everything = new Map([...torch, ...packages]);
      assert.equal(everything.get("pillow"), "9.5.0");
      assert.match(everything.get("numpy") ?? "", /^1\./);
      assert.equal(pinned("build").get("pip"), "26.3", "the builder's pip, hash-checked from the lock");
      assert.ok(pinned("build").has("setuptools"));
      console.log(`# ${variant}: ${LOCK_SECTIONS.map((section) => `${lock.sections[section].length} ${section}`).join(", ")}`);
    }
  });

  it("with python.installer = \"uv\", npm run lock locks cpu for amd64 and arm64 from PyPI in one build on amd64: x86_64 gets the releases pip chose, torch's CUDA libraries are x86_64's alone", async () => {
    const dir = join(dirname(source), "uv");
    await mkdir(dir);
    const config = join(dir, "real.toml");
    const text = (await realConfigText()).replace(/^installer = "pip"/m, 'installer = "uv"').replace('platforms = ["linux/amd64"]', 'platforms = ["linux/amd64", "linux/arm64"]');
    await writeFile(config, text);
    const result = await runScript("scripts/lock/cli.ts", ["cpu"], config);
    assert.equal(result.exitCode, 0, result.stderr.split("\n").slice(-40).join("\n"));
    assert.match(result.stderr, /^== cpu for linux\/amd64, linux\/arm64: resolving with uv on linux\/amd64 \(--python-platform, no emulation\)/m);
    assert.equal(result.stderr.match(/^ {3}resolved in /gm)?.length, 1, "one build");
    const lock = parseLock(await readFile(join(dir, "locks/cpu.txt"), "utf8"), "cpu.txt", "cpu").lock!;
    const all = [...lock.sections.torch, ...lock.sections.packages];
    const line = (name: string) => all.filter((d) => d.name === name);
    // PyPI's torch 2.1.2 has a wheel per machine; on x86_64 it needs triton and the CUDA 12.1 libraries.
    for (const name of ["torch", "torchvision", "opencv-python", "onnxruntime"]) {
      assert.equal(line(name).length, 1, `${name}: one release for both machines`);
      assert.equal(line(name)[0].marker, undefined, name);
      assert.ok(line(name)[0].hashes.length >= 2, `${name}: a wheel hash per machine`);
    }
    const x86Only = all.filter((d) => d.marker === 'platform_machine == "x86_64"').map((d) => d.name);
    assert.ok(x86Only.includes("triton") && x86Only.includes("nvidia-cudnn-cu12"), x86Only.join(", "));
    assert.ok(
      all.every((d) => d.marker === undefined || d.marker === 'platform_machine == "x86_64"'),
      "nothing is aarch64's alone",
    );
    // What x86_64 installs is what pip chose for the cpu lock on amd64.
    const x86 = new Map(all.filter((d) => d.marker === undefined || d.marker.includes("x86_64")).map((d) => [d.name, d.version]));
    const pips = new Map([...locks.cpu!.sections.torch, ...locks.cpu!.sections.packages].map((d) => [d.name, d.version]));
    assert.deepEqual(x86, pips);
    console.log(`# cpu with uv: ${all.length} distributions for amd64 and arm64, ${x86Only.length} for x86_64 alone; ${/resolved in (\S+ s)/.exec(result.stderr)?.[1]}`);
  });

  it("builds cpu (installed with uv) and gpu (with pip) from the locks: nothing resolved, pip check clean in the builder", () => {
    assert.equal(built.exitCode, 0, built.stderr.split("\n").slice(-60).join("\n"));
    assert.match(built.stderr, /Successfully installed uv-0\.13\.9/);
    assert.match(built.stderr, /^#\d+ \d+\.\d+ No broken requirements found\.$/m);
    assert.doesNotMatch(built.stderr, /is unlocked|Would install/);
    // Within their compressed budgets, by the engine's own figure: no image was saved to measure it.
    for (const result of (JSON.parse(built.stdout) as { targets: TargetResult[] }).targets) {
      assert.equal(result.budget.measure, "compressed", result.target);
      assert.ok(result.size !== undefined && !result.overBudget, `${result.target}: ${result.size} B of ${result.budget.text}`);
      assert.equal(result.sizes, undefined, `${result.target} was measured by a docker save`);
      console.log(`# ${result.target}: ${result.size} B compressed, budget ${result.budget.text}`);
    }
  });

  for (const variant of ["cpu", "gpu"] as const) {
    it(`${variant}: exactly its lock installed; torch, numpy, cv2, rembg and iopaint import; pip check in the image is clean`, async () => {
      const image = images[variant];
      const { torch, packages } = locks[variant]!.sections;
      const installed = await installedDistributions(docker, image);
      assert.deepEqual(new Map([...installed].filter(([name]) => name !== "iopaint")), new Map([...torch, ...packages].map((d) => [d.name, d.version])));
      const imported = await docker.docker([
        "run",
        "--rm",
        "--entrypoint",
        "python",
        image,
        "-c",
        "import torch, numpy, cv2, rembg, iopaint; print(torch.__version__, numpy.__version__, cv2.__version__)",
      ]);
      assert.match(String(imported.stdout), /^2\.1\.2\S* 1\.\d+\.\d+ \d+\.\d+\.\d+$/m);
      // The image has no pip: pip runs from its wheel, by the image's interpreter, on its virtualenv.
      const wheel = await pipWheel("26.3");
      const check = await docker.docker(["run", "--rm", "-v", `${wheel}:/tmp/pip.whl:ro`, "--entrypoint", "python", image, "/tmp/pip.whl/pip", "check"], { reject: false });
      assert.equal(check.exitCode, 0, check.all);
      assert.match(String(check.stdout), /No broken requirements found/);
      // Installed by uv in cpu, by pip in gpu; neither installer is in the image.
      const site = "/opt/venv/lib/python3.11/site-packages";
      const installers = await docker.docker(
        [
          "run",
          "--rm",
          "--entrypoint",
          "sh",
          image,
          "-c",
          `command -v uv pip; ls -d /opt/uv 2>/dev/null; for f in ${site}/torch-*.dist-info/INSTALLER ${site}/diffusers-*.dist-info/INSTALLER; do echo "$(cat $f)"; done`,
        ],
        { reject: false },
      );
      const installer = variant === "cpu" ? "uv" : "pip";
      assert.equal(String(installers.stdout).trim(), `${installer}\n${installer}`);
      if (variant === "gpu") {
        const xformers = await docker.docker(["run", "--rm", "--entrypoint", "python", image, "-c", "import xformers; print(xformers.__version__)"]);
        assert.equal(String(xformers.stdout).trim().split("\n").pop(), "0.0.23.post1");
      }
    });

    it(`${variant}: iopaint start --model=cv2 --device=cpu answers, serves the UI and inpaints as user 1000, and stops within 10 s`, async () => {
      const port = variant === "cpu" ? 18300 : 18301;
      const container = await docker.run(images[variant], { publish: `127.0.0.1:${port}:8080`, args: ["--model=cv2", "--device=cpu"] });
      const base = `http://127.0.0.1:${port}`;
      await docker.waitForHttp(`${base}/api/v1/model`, container, 180_000);
      assert.equal((JSON.parse((await docker.fetch(`${base}/api/v1/model`)).body) as { name: string }).name, "cv2");
      assert.match((await docker.fetch(`${base}/`)).body, /<html/i);
      assert.equal(String((await docker.docker(["exec", container, "id", "-u"])).stdout).trim(), "1000");
      const inpainted = JSON.parse(
        String((await docker.docker(["exec", container, "python", "-c", INPAINT])).stdout)
          .trim()
          .split("\n")
          .pop()!,
      ) as { type: string; format: string; size: number[]; inside: number; outside: number };
      assert.deepEqual([inpainted.type, inpainted.format, inpainted.size], ["image/png", "PNG", [64, 48]], JSON.stringify(inpainted));
      assert.ok(inpainted.inside > 0, `the masked square changed: ${JSON.stringify(inpainted)}`);
      const started = Date.now();
      await docker.docker(["stop", "--time", "10", container]);
      const seconds = (Date.now() - started) / 1000;
      assert.ok(seconds < 10, `docker stop took ${seconds} s`);
      assert.equal(await docker.inspect<number>(".State.ExitCode", container), 0);
    });
  }

  /** A layer's COPY source, as the rebuild tests name it (`COPY /opt/app/`). */
  const copied = (layer: ImageLayer) => /COPY \S+/.exec(layer.createdBy)?.[0];
  /** The layers as the log shows them: source and compressed bytes. */
  const listed = (layers: readonly ImageLayer[]) => layers.map((layer) => `${copied(layer)} ${layer.compressed} B`).join(", ");

  /**
   * Makes `change` to the checkout, rebuilds cpu (with `options` besides) and gives the new image's
   * layers and those a `docker pull` of it would fetch: the ones the earlier image lacks, compressed
   * as a registry holds them.
   */
  const rebuildCpu = async (change: () => Promise<void>, options: string[] = []) => {
    const before = new Set(await docker.inspect<string[]>(".RootFS.Layers", images.cpu));
    await change();
    const rebuilt = await runScript("scripts/bake/cli.ts", ["cpu", ...WITH_UV, ...options, "--json", "--sizes"]);
    assert.equal(rebuilt.exitCode, 0, rebuilt.stderr.split("\n").slice(-60).join("\n"));
    const after = await docker.inspect<string[]>(".RootFS.Layers", images.cpu);
    const { layers } = (JSON.parse(rebuilt.stdout) as { targets: { sizes: ImageSizes }[] }).targets[0].sizes;
    const fetched = layers.filter((_, i) => !before.has(after[i]));
    return { rebuilt, layers, fetched, bytes: fetched.reduce((sum, layer) => sum + layer.compressed, 0) };
  };

  it("a package added to requirements.txt after locking: a pull of the new cpu image fetches at most its size + 1 MB", async () => {
    const [name, version] = ["tomli-w", "1.2.0"];
    assert.ok(!locks.cpu!.sections.packages.some((d) => d.name === name), `${name} is not in the lock already`);
    const wheelBytes = (await stat(await downloadWheel(name, version))).size;
    const { rebuilt, layers, fetched, bytes } = await rebuildCpu(() => appendFile(join(source, "requirements.txt"), `${name}==${version}\n`));
    assert.match(rebuilt.stderr, /^note: requirements\.txt changed since the lock of cpu: /m);
    assert.equal((await installedDistributions(docker, images.cpu)).get(name), version);
    console.log(
      `# ${name} ${version} (${wheelBytes} B wheel) added: ${fetched.length} new layers, ${bytes} B compressed (${listed(fetched)}); the image has ${layers.length} layers, ${layers.reduce((sum, layer) => sum + layer.compressed, 0)} B compressed`,
    );
    assert.deepEqual(fetched.map(copied), ["COPY /opt/additions/", "COPY /opt/app-record/"]);
    assert.ok(bytes <= wheelBytes + 1_000_000, `${bytes} B of new layers for a ${wheelBytes} B package`);
  });

  it("with the network cut (the proxy stopped), --offline rebuilds cpu, installed with uv, after a .py change: only app and runtime steps run, and a pull fetches under 1 MB, the rest of the code and the record; iopaint/model, iopaint/plugins and the UI keep their layers", async () => {
    await proxy.stop();
    // The proxy was the engine's one way out: now neither it nor anything else answers.
    const { hostname, port } = new URL(proxy.url);
    for (const [host, to] of [
      [hostname, port],
      ["1.1.1.1", "443"],
    ]) {
      const reached = await docker.docker(["run", "--rm", "--entrypoint", "python", images.cpu, "-c", `import socket; socket.create_connection(("${host}", ${to}), timeout=5)`], { reject: false });
      assert.notEqual(reached.exitCode, 0, `${host}:${to} answered`);
    }
    const { rebuilt, layers, fetched, bytes } = await rebuildCpu(() => appendFile(join(source, "iopaint/api.py"), `\n# a code change ${Date.now()}\n`), ["--offline"]);
    const ran = stepsRan(parseProgress(rebuilt.stderr, ["cpu"]));
    assert.deepEqual([...new Set(ran.map((step) => step.stage.split(" ")[0]))].sort(), ["app", "runtime"], ran.map((step) => `[${step.stage}] ${step.name}`).join("\n"));
    const codeLayers = layers.filter((layer) => layer.createdBy.includes("COPY /opt/app-layers/"));
    console.log(`# a .py change: ${fetched.length} new layers, ${bytes} B compressed (${listed(fetched)}); kept: ${listed(codeLayers)}`);
    assert.deepEqual(fetched.map(copied), ["COPY /opt/app/", "COPY /opt/app-record/"]);
    assert.equal(codeLayers.length, 3, "iopaint/model, iopaint/plugins and iopaint/web_app each in a layer");
    assert.ok(bytes < 1_000_000, `${bytes} B of new layers after a .py change`);
  });
});
