import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareReleases, compatTable as table } from "../../generator/compat/table.ts";
import { compileText, editedConfig, MAIN_CONFIG, readRepoFile } from "../helpers/compile.ts";

const claimed = ["2.0.0", "2.0.1", "2.1.0", "2.1.1", "2.1.2", "2.2.0", "2.2.1", "2.2.2", "2.3.0", "2.3.1", "2.4.0", "2.4.1", "2.5.0", "2.5.1"];

describe("compatibility table", () => {
  it("covers every torch release from 2.0.0 to 2.5.1", () => {
    for (const release of claimed) assert.ok(table.torch[release], `torch ${release} missing`);
  });

  it("names its sources", () => {
    assert.ok(table.sources.length >= 3);
    for (const source of table.sources) assert.match(source.url, /^https:\/\//);
  });

  it("is consistent: each xformers release points at a torch release that lists it, with CUDA builds torch has", () => {
    for (const [release, entry] of Object.entries(table.xformers)) {
      const torch = table.torch[entry.torch];
      assert.ok(torch, `xformers ${release} names unknown torch ${entry.torch}`);
      assert.ok(torch.xformers.includes(release), `torch ${entry.torch} does not list xformers ${release}`);
      for (const cuda of entry.cuda) assert.ok(torch.cuda.includes(cuda), `xformers ${release} ${cuda} but torch ${entry.torch} has no ${cuda}`);
    }
    for (const [release, entry] of Object.entries(table.torch)) {
      for (const x of entry.xformers) assert.equal(table.xformers[x]?.torch, release, `torch ${release} lists xformers ${x}`);
      for (const cuda of entry.cuda) assert.ok(table.cuda[cuda], `torch ${release} uses unknown CUDA build ${cuda}`);
      assert.deepEqual([...entry.python].sort(compareReleases), entry.python, `torch ${release} python list unsorted`);
    }
  });

  it("maps each CUDA build to a runtime image whose tag starts with its version", () => {
    for (const [tag, entry] of Object.entries(table.cuda)) {
      assert.match(entry.runtimeImage, new RegExp(`^nvidia/cuda:${entry.version.replace(".", "\\.")}\\.\\d+-runtime-`), tag);
    }
  });

  it("pairs torchvision 0.(torch minor + 15) with each torch 2.x release", () => {
    for (const [release, entry] of Object.entries(table.torch)) {
      const [, minor] = release.split(".").map(Number);
      assert.match(entry.torchvision, new RegExp(`^0\\.${minor + 15}\\.`), `torch ${release}`);
    }
  });
});

describe("the gpu image's base", () => {
  it("warns, with the line, the size it costs and the -base- image, when an nvidia/cuda runtime base duplicates torch's CUDA libraries", () => {
    const config = readRepoFile(MAIN_CONFIG);
    const { warnings } = compileText(config);
    const [duplicate] = warnings.filter((w) => w.location?.path === "variants.gpu.base_image");
    assert.match(
      duplicate.message,
      /^nvidia\/cuda:11\.8\.0-runtime-ubuntu22\.04 duplicates the CUDA libraries that PyTorch's CUDA wheels carry in torch\/lib: .*about 2\.4 to 2\.6 GB unpacked for runtime against about 240 MB for base/,
    );
    assert.match(duplicate.hint ?? "", /base_image = "nvidia\/cuda:11\.8\.0-base-ubuntu22\.04"/);
    const line = config.split("\n").findIndex((text) => text.startsWith('base_image = "nvidia/cuda:11.8.0-runtime')) + 1;
    assert.equal(duplicate.location?.line, line);
  });

  it("says nothing for the -base- image or a CPU variant", () => {
    const { warnings } = compileText(editedConfig('base_image = "nvidia/cuda:11.8.0-runtime-ubuntu22.04"', 'base_image = "nvidia/cuda:11.8.0-base-ubuntu22.04"'));
    assert.deepEqual(
      warnings.filter((w) => /duplicates the CUDA libraries/.test(w.message)),
      [],
    );
  });
});
