import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { longDescriptionOf, realConfig, requirementsOf } from "../../scripts/real-iopaint.ts";
import { readRepoFile } from "../helpers/compile.ts";

/** The real-packages test's checkout and config (scripts/real-iopaint.ts), without the network. */
describe("the real-packages checkout", () => {
  const metadata = ["Metadata-Version: 2.1", "Name: IOPaint", "Requires-Dist: torch >=2.0.0", "Requires-Dist: opencv-python", "Requires-Dist: Pillow ==9.5.0", "", "# IOPaint", "", "text"].join("\n");

  it("rebuilds requirements.txt from the wheel's Requires-Dist lines, in order", () => {
    assert.deepEqual(requirementsOf(metadata), ["torch>=2.0.0", "opencv-python", "Pillow==9.5.0"]);
  });

  it("takes README.md from the metadata's body", () => {
    assert.equal(longDescriptionOf(metadata), "# IOPaint\n\ntext");
  });

  it("derives its config from config/iopaint.toml with each declared difference, and fails loudly when one no longer applies", () => {
    const stand = { python: "standin/python", cuda: "standin/cuda", node: "standin/node" };
    const text = realConfig(readRepoFile("config/iopaint.toml"), "https://index.example/simple", stand);
    assert.match(text, /^torch_index_url = "https:\/\/index\.example\/simple" /m);
    assert.match(text, /^python = "3\.11"$/m);
    assert.match(text, /^base_image = "standin\/cuda"$/m);
    assert.match(text, /^runtime_packages = \["python3\.11", /m);
    assert.doesNotMatch(text, /linux\/arm64/);
    assert.deepEqual(text.match(/^size_budget = .*$/gm), ['size_budget = "5GB compressed"', 'size_budget = "5GB compressed"']);
    // Everything else as in the real config: the plugins, the pins.
    assert.match(text, /^extra_python_packages = \["onnxruntime<=1\.19\.2", "rembg\[cpu\]"\]/m);
    assert.match(text, /^torch = "2\.1\.2"$/m);
    assert.throws(() => realConfig('[image]\nname = "other"\n', "x", stand), /config\/iopaint\.toml has no/);
  });
});
