import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { linePrefixer, runBounded } from "../../scripts/docker/parallel.ts";

describe("the fallback's parallel builds (scripts/docker/parallel.ts)", () => {
  it("runs at most `limit` tasks at once, starts the next as one ends, and keeps the given order", async () => {
    let running = 0;
    let most = 0;
    const started: number[] = [];
    const task = (index: number, ms: number) => async () => {
      started.push(index);
      most = Math.max(most, ++running);
      await sleep(ms);
      running--;
      return index * 10;
    };
    const results = await runBounded([task(0, 30), task(1, 5), task(2, 5), task(3, 5)], 2);
    assert.deepEqual(results, [0, 10, 20, 30]);
    assert.equal(most, 2);
    assert.deepEqual(started, [0, 1, 2, 3]);
    assert.deepEqual(await runBounded([task(0, 1)], 8), [0], "a limit above the task count");
    assert.deepEqual(await runBounded([], 2), []);
  });

  it("rejects as Promise.all does when a task throws", async () => {
    await assert.rejects(
      runBounded(
        [
          async () => 1,
          async () => {
            throw new Error("boom");
          },
        ],
        2,
      ),
      /boom/,
    );
  });

  it("prefixes whole lines only, holding a partial line until its end or a flush", () => {
    const written: string[] = [];
    const lines = linePrefixer("[cpu] ", (text) => written.push(text));
    lines.push("#1 [internal] load");
    assert.deepEqual(written, []);
    lines.push(" build definition\n#2 DONE 0.1s\n#3 [front");
    lines.push("end 1/4] FROM node\n");
    lines.push("#4 CACHED");
    lines.flush();
    lines.flush();
    assert.equal(written.join(""), "[cpu] #1 [internal] load build definition\n[cpu] #2 DONE 0.1s\n[cpu] #3 [frontend 1/4] FROM node\n[cpu] #4 CACHED\n");
  });
});
