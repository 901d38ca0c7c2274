import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareReleases, compatTable as table } from "../../generator/compat/table.ts";

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
