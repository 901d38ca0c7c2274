import assert from "node:assert/strict";
import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { openLayerMeasures } from "../../scripts/docker/layer-measures-file.ts";

const digest = (n: number) => `sha256:${n.toString(16).padStart(64, "0")}`;
const torch = { unpacked: 5_002_304_512, compressed: 2_827_963_424, packages: new Map([["torch", 4_900_000_000]]) };

describe("the layer measures kept between runs (.cache/layer-measures.json)", () => {
  let dir: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "layer-measures-"));
  });
  after(async () => rm(dir, { recursive: true, force: true }));

  it("reads back what an earlier run measured, packages included", async () => {
    const file = join(dir, "round-trip/layer-measures.json");
    const first = await openLayerMeasures(file);
    assert.equal(first.get(digest(1)), undefined);
    first.set(digest(1), torch);
    await first.save();
    assert.deepEqual((await openLayerMeasures(file)).get(digest(1)), torch);
    assert.deepEqual(await readdir(join(dir, "round-trip")), ["layer-measures.json"], "no temporary file left beside it");
  });

  it("starts empty from a file that is not its JSON, and writes nothing when nothing was measured", async () => {
    const file = join(dir, "broken.json");
    await writeFile(file, "{ half a fi");
    const measures = await openLayerMeasures(file);
    assert.equal(measures.get(digest(1)), undefined);
    await measures.save();
    assert.equal(await readFile(file, "utf8"), "{ half a fi");
  });

  it("drops an entry whose sizes are not whole numbers", async () => {
    const file = join(dir, "odd.json");
    await writeFile(file, JSON.stringify({ layers: { [digest(1)]: { unpacked: "5 GB", compressed: 1, packages: {} }, [digest(2)]: { unpacked: 2, compressed: 1, packages: {} } } }));
    const measures = await openLayerMeasures(file);
    assert.equal(measures.get(digest(1)), undefined);
    assert.deepEqual(measures.get(digest(2)), { unpacked: 2, compressed: 1, packages: new Map() });
  });

  it("keeps the 2000 layers used last: a layer looked up is kept over one measured before it", async () => {
    const file = join(dir, "many.json");
    const measures = await openLayerMeasures(file);
    for (let n = 0; n < 2001; n++) measures.set(digest(n), { unpacked: n, compressed: n, packages: new Map() });
    assert.ok(measures.get(digest(0)), "used again");
    await measures.save();
    const kept = await openLayerMeasures(file);
    assert.ok(kept.get(digest(0)), "the layer used again is kept");
    assert.equal(kept.get(digest(1)), undefined, "the oldest unused one is dropped");
    assert.ok(kept.get(digest(2000)));
  });
});
