import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { partOf, sitePackage, summarizeSizes } from "../../scripts/docker/image-sizes.ts";
import { formatSizes } from "../../scripts/bake/summary.ts";

/** Where an image's size is (scripts/docker/image-sizes.ts): the pure parts, on BuildKit's own history lines. */
describe("image sizes", () => {
  it("credits each layer to a part from its history (BuildKit's created_by lines)", () => {
    const base = 2;
    assert.equal(partOf("/bin/sh -c #(nop) ADD file:abc in / ", 0, base), "base image");
    assert.equal(partOf('RUN |6 BASE_IMAGE=x /bin/sh -c missing=""; for package in libsm6 # buildkit', 2, base), "system packages");
    assert.equal(partOf("RUN /bin/sh -c groupadd --gid 1000 iopaint # buildkit", 3, base), "system packages");
    assert.equal(partOf("COPY /opt/venv /opt/venv # buildkit", 4, base), "torch stack");
    assert.equal(partOf("COPY /opt/packages/ /opt/venv/ # buildkit", 4, base), "packages");
    assert.equal(partOf("COPY /opt/app-layers/iopaint/model/ /opt/venv/ # buildkit", 5, base), "app");
    assert.equal(partOf("COPY /opt/app/ /opt/venv/ # buildkit", 5, base), "app");
    assert.equal(partOf("COPY /opt/app-record/ /opt/venv/ # buildkit", 5, base), "app");
    assert.equal(partOf("COPY /usr/local/bin/iopaint-entrypoint /usr/local/bin/iopaint-healthcheck /usr/local/bin/ # buildkit", 6, base), "other");
    assert.equal(partOf("WORKDIR /app", 7, base), "other");
  });

  it("names site-packages entries by package, their dist-info with them", () => {
    assert.equal(sitePackage("opt/venv/lib/python3.11/site-packages/torch/lib/libtorch.so"), "torch");
    assert.equal(sitePackage("opt/venv/lib/python3.11/site-packages/torch-2.1.2+cpu.dist-info/RECORD"), "torch");
    assert.equal(sitePackage("usr/lib/python3/dist-packages/x/y.py"), undefined);
  });

  it("sums the parts to the totals and lists the virtualenv's largest packages first", () => {
    const layer = (unpacked: number, compressed: number, createdBy: string, packages: [string, number][] = []) => ({ unpacked, compressed, createdBy, packages: new Map(packages) });
    const sizes = summarizeSizes(
      [
        layer(100, 40, "ADD rootfs"),
        layer(10, 4, "RUN apt-get install"),
        layer(35, 14, "COPY /opt/venv /opt/venv # buildkit", [
          ["torch", 30],
          ["sympy", 5],
        ]),
        layer(15, 6, "COPY /opt/packages/ /opt/venv/ # buildkit", [["numpy", 15]]),
        layer(2, 1, "COPY /opt/app/ /opt/venv/ # buildkit"),
      ],
      1,
    );
    assert.deepEqual(
      sizes.parts.map((p) => [p.part, p.unpacked, p.compressed]),
      [
        ["base image", 100, 40],
        ["system packages", 10, 4],
        ["torch stack", 35, 14],
        ["packages", 15, 6],
        ["app", 2, 1],
      ],
    );
    assert.deepEqual([sizes.unpacked, sizes.compressed], [162, 65]);
    assert.deepEqual(
      sizes.largestPackages.map((p) => p.name),
      ["torch", "numpy", "sympy"],
    );
    assert.match(
      formatSizes("gpu", sizes),
      /^\ngpu: where the size is .*\n {2}PART +UNPACKED +COMPRESSED\n {2}base image +100B +40B\n[\s\S]* {2}total +162B +65B\n {2}largest in the virtualenv \(unpacked\): torch 30B, numpy 15B, sympy 5B$/,
    );
  });
});
