import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseBinfmtEntry, registrationLine } from "../../scripts/engine/emulation.ts";

// What bookworm's qemu-user-static installs as /usr/share/binfmts/qemu-aarch64 (update-binfmts format).
const DEBIAN_AARCH64 = `package qemu-user-static
interpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P
magic \\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00
offset 0
mask \\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff
credentials no
fix_binary yes
preserve yes
`;

describe("arm64 emulation (binfmt_misc)", () => {
  it("registers Debian's magic and mask with the static interpreter and flag F, not Debian's host-only path", () => {
    const line = registrationLine(DEBIAN_AARCH64);
    assert.equal(
      line,
      ":qemu-aarch64:M:0:\\x7f\\x45\\x4c\\x46\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:/usr/bin/qemu-aarch64-static:F",
    );
    assert.ok(!line.includes("binfmt-P"));
  });

  it("refuses a format file without a magic line", () => {
    assert.throws(() => registrationLine("package x\noffset 0\n"), /no "magic" line/);
  });

  it("reads an entry: enabled, its interpreter and flags", () => {
    assert.deepEqual(parseBinfmtEntry("enabled\ninterpreter /usr/bin/qemu-aarch64-static\nflags: F\noffset 0\nmagic 7f45\n"), {
      enabled: true,
      interpreter: "/usr/bin/qemu-aarch64-static",
      flags: "F",
    });
    assert.deepEqual(parseBinfmtEntry("disabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: PF\n"), {
      enabled: false,
      interpreter: "/usr/libexec/qemu-binfmt/aarch64-binfmt-P",
      flags: "PF",
    });
  });
});
