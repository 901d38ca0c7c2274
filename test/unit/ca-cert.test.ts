import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { caCertificateProblem } from "../../scripts/bake/preflight.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUQ2Zy\n-----END CERTIFICATE-----\n";

describe("a CA certificate file for --ca-cert / IOPAINT_CA_CERT", () => {
  it("takes a PEM file with one or more certificates", () => {
    assert.equal(caCertificateProblem("ca.pem", PEM), undefined);
    assert.equal(caCertificateProblem("bundle.pem", `# corp roots\n${PEM}${PEM}`), undefined);
  });

  it("refuses a missing file, a file that is not PEM, and a private key, as usage errors with a hint", () => {
    for (const [text, message] of [
      [undefined, /^the CA certificate file ca\.pem does not exist or cannot be read$/],
      ["MIIBszCCAVmgAwIBAgIUQ2Zy", /is not a PEM certificate file/],
      ["-----BEGIN CERTIFICATE-----\n", /is not a PEM certificate file/],
      [`${PEM}-----BEGIN PRIVATE KEY-----\nMIG\n-----END PRIVATE KEY-----\n`, /holds a private key/],
      ["-----BEGIN EC PRIVATE KEY-----\nMHc\n-----END EC PRIVATE KEY-----\n", /holds a private key/],
    ] as const) {
      const problem = caCertificateProblem("ca.pem", text);
      assert.equal(problem?.kind, "usage");
      assert.match(problem!.message, message);
      assert.match(problem!.hint!, /--ca-cert/);
    }
  });
});
