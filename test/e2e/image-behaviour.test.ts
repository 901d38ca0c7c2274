import assert from "node:assert/strict";
import { chown, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { FIXTURE_CONFIG, readRepoFile } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine } from "../helpers/engine.ts";
import { installedDistributions } from "../helpers/python.ts";

/**
 * What a user of the images sees at run time (spec §2, §3, §7, §8), on the fixture's cpu and gpu
 * images built from the generated files: defaults, overrides, old-style commands, volumes,
 * the non-root user, docker stop, the health check and what the image does not contain. On the
 * newest engine the images come from one `docker buildx bake cpu gpu`; on the legacy engine from
 * the fallback's docker build.
 */
for (const engineName of TEST_ENGINES)
  describe(`the images at run time (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    const cpu = "iopaint-fixture:cpu-latest";
    const gpu = "iopaint-fixture:gpu-latest";
    let port = 18200;
    const nextPort = () => port++;

    before(async () => {
      docker = await TestEngine.start(engineName);
      await docker.build(await docker.generateFixture(), ["cpu", "gpu"]);
    });
    after(async () => docker?.cleanup());

    /** Starts an image with a published port and waits until the API answers. */
    async function serve(image: string, options: { env?: Record<string, string>; args?: string[]; extra?: string[]; containerPort?: number } = {}) {
      const hostPort = nextPort();
      const container = await docker.run(image, { publish: `127.0.0.1:${hostPort}:${options.containerPort ?? 8080}`, env: options.env, args: options.args, extra: options.extra });
      const base = `http://127.0.0.1:${hostPort}`;
      await docker.waitForHttp(`${base}/api/v1/model`, container);
      const model = JSON.parse((await docker.fetch(`${base}/api/v1/model`)).body) as { name: string; device: string };
      return { container, base, model };
    }

    async function commandLine(container: string): Promise<string> {
      const result = await docker.docker(["exec", container, "sh", "-c", "tr '\\0' ' ' < /proc/1/cmdline"]);
      return String(result.stdout);
    }

    it("starts the server with --model=lama --device=cpu --host=0.0.0.0 --port=8080 as PID 1", async () => {
      const { container, model } = await serve(cpu);
      assert.deepEqual(model, { name: "lama", device: "cpu", torch: "2.1.2+cpu" } as never);
      const cmdline = await commandLine(container);
      assert.match(cmdline, /iopaint start --model=lama --device=cpu --host=0\.0\.0\.0 --port=8080 --model-dir=\/app\/models --output-dir=\/app\/outputs/);
      assert.match(await docker.logs(container), /^Using device: cpu$/m);
    });

    it("gpu: defaults to --device=cuda; without a CUDA device the log names the CPU it falls back to, and how to give it a GPU", async () => {
      const { container } = await serve(gpu);
      assert.match(await commandLine(container), /--device=cuda/);
      const logs = await docker.logs(container);
      // torch sees no CUDA device here (the stand-in's torch.cuda.is_available() is False), so
      // IOPaint runs on the CPU, and the line says so, with the way to give it a GPU.
      assert.match(logs, /^Using device: cpu \(cuda was asked for, but no CUDA device is visible; start the container with --gpus all\)$/m);
      const xformers = await docker.docker(["exec", container, "python", "-c", "import xformers, torch; print(xformers.__version__, torch.__version__)"]);
      assert.equal(String(xformers.stdout).trim(), "0.0.23.post1 2.1.2+cu118");
    });

    it("takes MODEL and DEVICE from the environment (-e MODEL=sd1.5 -e DEVICE=cpu)", async () => {
      const { container, model } = await serve(gpu, { env: { MODEL: "sd1.5", DEVICE: "cpu" } });
      assert.equal(model.name, "sd1.5");
      assert.match(await docker.logs(container), /^Using device: cpu$/m);
    });

    it("moves the port with -e PORT=9000", async () => {
      const { container } = await serve(cpu, { env: { PORT: "9000" }, containerPort: 9000 });
      assert.match(await commandLine(container), /--port=9000/);
    });

    it("lets arguments after the image name win over the environment", async () => {
      const { model } = await serve(cpu, { env: { MODEL: "sd1.5" }, args: ["--model=mat"] });
      assert.equal(model.name, "mat");
      const spaced = await serve(cpu, { args: ["start", "--model", "migan"] });
      assert.equal(spaced.model.name, "migan");
    });

    it("passes extra flags from IOPAINT_ARGS", async () => {
      const { container } = await serve(cpu, { env: { IOPAINT_ARGS: "--low-mem --disable-nsfw-checker" } });
      assert.match(await commandLine(container), /--output-dir=\/app\/outputs --low-mem --disable-nsfw-checker\s*$/);
    });

    it("keeps IOPaint's plugin packages: --enable-remove-bg starts the RemoveBG plugin", async () => {
      for (const image of [cpu, gpu]) {
        const { base } = await serve(image, { args: ["--enable-remove-bg"] });
        const config = JSON.parse((await docker.fetch(`${base}/api/v1/server-config`)).body) as { plugins: { name: string }[] };
        assert.deepEqual(config.plugins, [{ name: "RemoveBG" }], image);
      }
    });

    it("without the plugin packages (extra_python_packages = []), --enable-remove-bg stops with the missing module named", async () => {
      const config = join(await docker.tempDir("iopaint-noplugins-"), "no-plugins.toml");
      await writeFile(config, readRepoFile(FIXTURE_CONFIG).replace('extra_python_packages = ["onnxruntime<=1.19.2", "rembg[cpu]"]', "extra_python_packages = []"));
      const fixture = await docker.generateFixture(undefined, { IOPAINT_IMAGE: "iopaint-scratch-noplugins" }, config);
      await docker.build(fixture, "cpu");
      const image = fixture.targets.cpu.tags[0];
      const installed = await installedDistributions(docker, image);
      assert.ok(installed.has("fastapi") && !installed.has("rembg") && !installed.has("onnxruntime"), `no plugin packages in the slim image: ${[...installed.keys()].join(" ")}`);
      const run = await docker.docker(["run", "--rm", image, "--enable-remove-bg"], { reject: false });
      assert.notEqual(run.exitCode, 0);
      assert.match(run.all, /ModuleNotFoundError: No module named 'rembg'/);
    });

    it("runs a full command instead of the server, as the old images did", async () => {
      const download = await docker.docker(["run", "--rm", cpu, "iopaint", "download", "--model", "lama", "--model-dir", "/app/models"]);
      assert.match(String(download.stdout), /^Downloaded lama: \/app\/models\/torch\/hub\/checkpoints\/lama\.pt$/m);
      const shell = await docker.docker(["run", "--rm", cpu, "sh", "-c", "echo hello from $(id -un)"]);
      assert.equal(String(shell.stdout).trim(), "hello from iopaint");
    });

    it("runs as the documented non-root user 1000:1000, and models and outputs land in the volumes", async () => {
      const volume = `iopaint-models-test-${process.pid}`;
      docker.trackVolume(volume);
      const outputs = await docker.tempDir("iopaint-outputs-");
      await chown(outputs, 1000, 1000); // a bind mount must be writable by the image's user (see README)
      const { container, base } = await serve(cpu, { extra: ["-v", `${volume}:/app/models`, "-v", `${outputs}:/app/outputs`] });
      assert.equal(String((await docker.docker(["exec", container, "id", "-u"])).stdout).trim(), "1000");
      assert.equal(String((await docker.docker(["exec", container, "id", "-g"])).stdout).trim(), "1000");
      const saved = JSON.parse((await docker.fetch(`${base}/api/v1/inpaint`, { method: "POST", body: "pixels" })).body) as { file: string };
      assert.deepEqual(await readdir(outputs), [saved.file]);
      assert.equal(await readFile(join(outputs, saved.file), "utf8"), "pixels");
      const inVolume = await docker.docker(["run", "--rm", "-v", `${volume}:/m`, "--entrypoint", "ls", cpu, "/m/torch/hub/checkpoints"]);
      assert.equal(String(inVolume.stdout).trim(), "lama.pt");
    });

    it("runs with a host user's uid for bind mounts owned by that user (docker run --user)", async () => {
      const outputs = await docker.tempDir("iopaint-outputs-uid-");
      await mkdir(join(outputs, "x"), { recursive: true });
      await chown(outputs, 4321, 4321);
      const { container, base } = await serve(cpu, { extra: ["--user", "4321:4321", "-v", `${outputs}:/app/outputs`, "-e", "MODEL_DIR=/tmp/models"] });
      assert.equal(String((await docker.docker(["exec", container, "id", "-u"])).stdout).trim(), "4321");
      const saved = JSON.parse((await docker.fetch(`${base}/api/v1/inpaint`, { method: "POST", body: "x" })).body) as { file: string };
      assert.ok((await readdir(outputs)).includes(saved.file));
    });

    it("stops within 3 seconds on docker stop, with an orderly shutdown and exit status 0", async () => {
      const { container } = await serve(cpu);
      const started = performance.now();
      await docker.docker(["stop", container]);
      const seconds = (performance.now() - started) / 1000;
      assert.ok(seconds < 3, `docker stop took ${seconds.toFixed(1)} s`);
      assert.equal(await docker.inspect<number>(".State.ExitCode", container), 0);
      assert.match(await docker.logs(container), /Shutting down[\s\S]*Finished server process/);
    });

    it("turns healthy through its HEALTHCHECK, also when arguments moved the port", async () => {
      const health = await docker.inspect<{ Test: string[]; StartPeriod: number }>(".Config.Healthcheck", cpu);
      assert.deepEqual(health.Test, ["CMD", "/usr/local/bin/iopaint-healthcheck", "/api/v1/model"]);
      assert.equal(health.StartPeriod, 300e9, "start period 300 s, for a first model download");
      for (const args of [[], ["--port=9001"]]) {
        const container = await docker.run(cpu, { args, extra: ["--health-interval", "1s"] });
        const deadline = Date.now() + 30_000;
        let status = "";
        while (Date.now() < deadline && status !== "healthy") {
          status = await docker.inspect<string>(".State.Health.Status", container);
          if (status !== "healthy") await new Promise((resolve) => setTimeout(resolve, 500));
        }
        assert.equal(status, "healthy", `args ${args.join(" ")}: ${await docker.logs(container)}`);
      }
    });

    it("holds only what runs: no compiler, Node, npm, pip, setuptools, caches, node_modules, .git or sources; pins installed; dependencies consistent", async () => {
      const probe = [
        "for tool in gcc cc c++ make node npm pip pip3; do command -v $tool >/dev/null && echo found-tool:$tool; done",
        "for dir in /root/.cache/pip /home/iopaint/.cache /root/.npm /src /opt/app /opt/packages /opt/build-tools /tmp/lock; do [ -e $dir ] && echo found-dir:$dir; done",
        "ls /opt/venv/lib/python*/site-packages /opt/venv | grep -iE '^(pip|setuptools|wheel|_distutils_hack|distutils-precedence)|\\.txt$' | sed 's/^/found-venv:/'",
        "find / -xdev \\( -name node_modules -o -name .git -o -name '*.egg-info' -o -name tests -path '*/iopaint/*' \\) -print 2>/dev/null | sed 's/^/found-path:/'",
        // pip check with the pip wheel in the stand-in base's wheelhouse (Debian's), run from its zip
        // by the image's interpreter: the image itself has no pip.
        'set -- /opt/wheelhouse/pypi/pip/pip-*.whl; python "$1/pip" check >/dev/null && echo pip-check-ok',
        "python -c 'import torch, torchvision; print(\"pins\", torch.__version__, torchvision.__version__)'",
        "ls /opt/venv/lib/python*/site-packages/iopaint/web_app/index.html",
      ].join("; ");
      for (const [image, torch] of [
        [cpu, "2.1.2+cpu 0.16.2+cpu"],
        [gpu, "2.1.2+cu118 0.16.2+cu118"],
      ]) {
        const result = await docker.docker(["run", "--rm", "--entrypoint", "sh", image, "-c", probe]);
        const output = String(result.stdout);
        assert.doesNotMatch(output, /found-/, `${image}:\n${output}`);
        assert.match(output, /pip-check-ok/);
        assert.match(output, new RegExp(`^pins ${torch.replace(/\+/g, "\\+")}$`, "m"));
        assert.match(output, /site-packages\/iopaint\/web_app\/index\.html/);
      }
    });
  });
