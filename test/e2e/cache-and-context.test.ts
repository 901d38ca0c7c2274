import assert from "node:assert/strict";
import { appendFile, cp, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parseProgress, stepsRan, type BuildReport } from "../../scripts/bake/progress.ts";
import { DEPENDENCY_STAGES } from "../../scripts/bench/figures.ts";
import { measureImage, type LayerMeasure, type LayerMeasures } from "../../scripts/docker/image-sizes.ts";
import { REPO } from "../helpers/compile.ts";
import { TEST_ENGINES, TestEngine } from "../helpers/engine.ts";

/** Layer measures in memory, counting what measureImage looked up and what it measured. */
class RecordedMeasures extends Map<string, LayerMeasure> implements LayerMeasures {
  hits = 0;
  sets = 0;
  override get(digest: string): LayerMeasure | undefined {
    const measure = super.get(digest);
    if (measure) this.hits++;
    return measure;
  }
  override set(digest: string, measure: LayerMeasure): this {
    this.sets++;
    return super.set(digest, measure);
  }
}

/**
 * Spec §6 and §9: which layers a change rebuilds, decided from BuildKit's own progress output
 * (never from timing), on scratch copies of the fixture; the context the ignore rules send. On the
 * newest engine through `docker buildx bake`, on the legacy one through the fallback.
 */
for (const engineName of TEST_ENGINES)
  describe(`cache reuse and build context (${engineName} engine)`, { timeout: 20 * 60_000 }, () => {
    let docker: TestEngine;
    // BuildKit caches by content: each run's edits must differ from every earlier run's.
    const nonce = `${Date.now()}-${process.pid}`;

    before(async () => {
      docker = await TestEngine.start(engineName);
      // Start from an empty build cache. Earlier suites' --no-cache builds of the same fixture leave a
      // second result under the same cache keys, and BuildKit may take a step's result from one build
      // and the next step's from another: on Docker 20.10, an image built from cache then kept the
      // layers of an old run while a .py change stacked the app on another's (5 layers differed, not
      // 1; reproduced, and gone after `docker builder prune -af`). A developer who never builds
      // --no-cache has one result per step, as here.
      await docker.docker(["builder", "prune", "--all", "--force"]);
    });
    after(async () => docker?.cleanup());

    /** A scratch copy of the fixture with its own image name, built once in full. */
    async function scratch(name: string) {
      const source = await docker.tempDir(`iopaint-${name}-`);
      await cp(join(REPO, "test/fixtures/app"), source, { recursive: true });
      const image = `iopaint-scratch-${name}`;
      const fixture = await docker.generateFixture(source, { IOPAINT_IMAGE: image });
      const build = async (target = "cpu"): Promise<BuildReport & { image: string; layers: string[] }> => {
        const tag = fixture.targets[target].tags[0];
        const { output } = await docker.build(fixture, target);
        const layers = await docker.inspect<string[]>(".RootFS.Layers", tag);
        return { ...parseProgress(output), image: tag, layers };
      };
      const first = await build();
      return { source, build, first, image };
    }

    /** The `COPY <from> <to>` of each layer's history: which of the runtime's COPY steps made it. */
    const changedCopies = (layers: { createdBy: string }[]) => layers.map((layer) => /COPY \S+ \S+/.exec(layer.createdBy)?.[0]);

    const executed = (report: BuildReport, stage: string) =>
      stepsRan(report)
        .filter((s) => s.stage.startsWith(`${stage} `))
        .map((s) => `${s.stage} ${s.name.slice(0, 60)}`);

    it("nothing changed: every step is cached", async () => {
      const { build } = await scratch("unchanged");
      const again = await build();
      assert.equal(
        again.executed,
        0,
        `executed: ${stepsRan(again)
          .map((s) => s.name)
          .join(" | ")}`,
      );
      assert.ok(again.total >= 15);
    });

    it("a .py file changed: front end and dependencies cached; only the rest of the code and the record differ, under 1 MB", async () => {
      const { source, build, first } = await scratch("python-change");
      await appendFile(join(source, "iopaint/api.py"), `\n# a code change ${nonce}\n`);
      const again = await build();
      assert.deepEqual(executed(again, "frontend"), []);
      for (const stage of DEPENDENCY_STAGES) assert.deepEqual(executed(again, stage), [], stage);
      assert.ok(executed(again, "app").length > 0, "the app stage ran");
      assert.equal(again.layers.length, first.layers.length);
      // Which layers differ: the code outside source.code_layers and the app's record (the
      // *.dist-info, whose RECORD names each file's hash) must be the ones; every layer below them
      // (the code layers, iopaint/model, iopaint/plugins and the UI, among them), and the additions'
      // layer between them, is reused as is.
      const { layers } = await measureImage(docker.client, again.image, undefined);
      const changed = layers.filter((_, i) => again.layers[i] !== first.layers[i]);
      assert.deepEqual(changedCopies(changed), ["COPY /opt/app/ /opt/venv/", "COPY /opt/app-record/ /opt/venv/"]);
      assert.equal(layers.filter((layer) => layer.createdBy.includes("COPY /opt/app-layers/")).length, 3, "the config's three code layers");
      const appBytes = changed.reduce((sum, layer) => sum + layer.unpacked, 0);
      assert.ok(appBytes > 0 && appBytes < 1_000_000, `the app's layers are ${appBytes} bytes`);
      const venvIndex = layers.findIndex((layer) => layer.createdBy.includes("COPY /opt/venv /opt/venv"));
      assert.ok(layers.indexOf(changed[0]) > venvIndex, "the app's layers sit above the dependency layers");
    });

    it("measuring an image again unpacks none of the layers measured before (by blob digest, on the containerd store)", async () => {
      const { image } = await scratch("measured-twice");
      const known = new RecordedMeasures();
      const measured = await measureImage(docker.client, image, undefined, undefined, known);
      const layerCount = measured.layers.length;
      known.sets = 0;
      assert.deepEqual(await measureImage(docker.client, image, undefined, undefined, known), measured, "the same figures");
      if (engineName === "legacy") {
        // Docker 20.10 saves each layer as <id>/layer.tar, a name that is no digest: nothing is kept.
        assert.equal(known.size, 0);
      } else {
        // Each layer, and the image's config and manifests, saved as blobs/sha256/<digest>.
        assert.ok(known.hits >= layerCount, `${known.hits} layers known, of ${layerCount}`);
        assert.equal(known.sets, 0, "no layer was unpacked again");
      }
    });

    it("a file under web_app/src changed: the Python dependency steps are cached; the code layers below the UI's are reused", async () => {
      const { source, build, first } = await scratch("web-change");
      await appendFile(join(source, "web_app/src/style.css"), `\n/* ${nonce} */\n`);
      const again = await build();
      for (const stage of DEPENDENCY_STAGES) assert.deepEqual(executed(again, stage), [], stage);
      assert.ok(
        executed(again, "frontend").some((step) => step.includes("npm run build")),
        "the front end was rebuilt",
      );
      assert.ok(!executed(again, "frontend").some((step) => step.includes("npm ci")), "but its dependency install was not");
      // The UI (frontend.copy_to, iopaint/web_app) is the config's last code layer: it and the layers
      // above it differ; iopaint/model's and iopaint/plugins' are the first build's.
      const { layers } = await measureImage(docker.client, again.image, undefined);
      assert.deepEqual(changedCopies(layers.filter((_, i) => again.layers[i] !== first.layers[i])), [
        "COPY /opt/app-layers/iopaint/web_app/ /opt/venv/",
        "COPY /opt/app/ /opt/venv/",
        "COPY /opt/app-record/ /opt/venv/",
      ]);
    });

    it("requirements.txt changed (a comment): the resolve runs; the front end and both installs are cached", async () => {
      const { source, build } = await scratch("requirements-change");
      await appendFile(join(source, "requirements.txt"), `# ${nonce}\n`);
      const again = await build();
      assert.deepEqual(executed(again, "frontend"), []);
      assert.ok(executed(again, "resolve").length > 0, "the resolve ran");
      // A comment changes no pin: the resolve's pins come out the same (BuildKit compares the copied
      // files' contents), so neither the torch stack nor the packages install again.
      assert.deepEqual(executed(again, "torch"), []);
      assert.deepEqual(executed(again, "packages"), []);
    });

    it("cpu and gpu share one front-end build", async () => {
      const { source, build } = await scratch("shared-frontend");
      await appendFile(join(source, "web_app/src/main.js"), `\n// ${nonce}\n`);
      const cpu = await build("cpu");
      const gpu = await build("gpu");
      const runs = [cpu, gpu].flatMap((report) => executed(report, "frontend").filter((step) => step.includes("npm run build")));
      assert.equal(runs.length, 1, `npm run build ran ${runs.length} times`);
    });

    it("the ignore rules keep ~100 MB of .git, node_modules, venv and build output out of the context (< 1 MB more)", async () => {
      const { source, build, first } = await scratch("context");
      const junk = Buffer.alloc(12_500_000, 7);
      const padding = [
        ".git/objects/pack/big.pack",
        "web_app/node_modules/pkg/big.js",
        "node_modules/x/big.js",
        "venv/lib/big.so",
        "iopaint/__pycache__/api.cpython-311.pyc",
        "dist/big.whl",
        "build/lib/big.py",
        "IOPaint.egg-info/SOURCES.txt",
        ".pytest_cache/v/big",
      ];
      for (const path of padding) {
        await mkdir(join(source, path, ".."), { recursive: true });
        await writeFile(join(source, path), junk);
      }
      const padded = await build();
      assert.ok(first.contextBytes > 0, "BuildKit reported the context it sent");
      const growth = padded.contextBytes - first.contextBytes;
      assert.ok(growth < 1_000_000, `context grew by ${growth} bytes (from ${first.contextBytes})`);
      assert.equal(padded.executed, 0, "and nothing was rebuilt because of the padding");
    });
  });
