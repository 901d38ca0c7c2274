import assert from "node:assert/strict";
import { describe, it } from "node:test";
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
});
