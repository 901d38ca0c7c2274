import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { ResolvedTarget } from "../../generator/bake/resolve.ts";
import { provenanceCredentialWarnings } from "../../scripts/bake/preflight.ts";
import { PROXY_ARGS, proxyArgs, withoutCredentials } from "../../scripts/docker/proxy.ts";

describe("proxy settings for builds", () => {
  it("takes every proxy spelling BuildKit predefines that the environment sets, and nothing else", () => {
    const env = { HTTP_PROXY: "http://proxy:3128", https_proxy: "http://proxy:3129", NO_PROXY: "localhost,.corp", no_proxy: "", PATH: "/usr/bin", HTTP_PROXY_USER: "x" };
    assert.deepEqual(proxyArgs(env), { HTTP_PROXY: "http://proxy:3128", NO_PROXY: "localhost,.corp", https_proxy: "http://proxy:3129" });
    assert.deepEqual(proxyArgs({}), {});
    assert.equal(PROXY_ARGS.length, 10);
  });

  it("hides user names and passwords when it shows a proxy", () => {
    assert.equal(withoutCredentials("http://alice:s3cret@proxy.corp:3128"), "http://***@proxy.corp:3128");
    assert.equal(withoutCredentials("http://token@proxy.corp:3128/"), "http://***@proxy.corp:3128/");
    assert.equal(withoutCredentials("http://proxy.corp:3128"), "http://proxy.corp:3128");
    assert.equal(withoutCredentials("localhost,.corp"), "localhost,.corp");
  });

  it("warns, per target, when provenance mode=max would publish a URL's credentials among the build args", () => {
    const target = (attest: string[], args: Record<string, string>) => ({ context: ".", dockerfile: "Dockerfile", args, attest }) as unknown as ResolvedTarget;
    const args = { HTTP_PROXY: "http://alice:s3cret@proxy.corp:3128", PIP_INDEX_URL: "https://__token__:abc@pypi.corp/simple", NPM_REGISTRY: "https://npm.corp/" };
    const warnings = provenanceCredentialWarnings({
      cpu: target(["type=provenance,mode=max"], args),
      gpu: target(["type=provenance,mode=min"], args),
      dev: target(["type=provenance,disabled=true"], args),
    });
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(warnings[0], /^cpu: provenance mode=max records every build argument .* HTTP_PROXY, PIP_INDEX_URL hold credentials .* IOPAINT_PROVENANCE=min/);
    assert.doesNotMatch(warnings[0], /s3cret|abc@/, "the warning names the args, not their values");
    assert.deepEqual(provenanceCredentialWarnings({ cpu: target(["type=provenance,mode=max"], { HTTP_PROXY: "http://proxy.corp:3128" }) }), []);
  });
});
