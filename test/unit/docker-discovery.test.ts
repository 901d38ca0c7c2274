import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chooseBuildPath, MIN_BUILDX, type ClientProbe } from "../../scripts/docker/discovery.ts";

/** The buildx-or-fallback decision (scripts/docker/discovery.ts), from what the clients said. */
describe("choosing the build path", () => {
  const current: ClientProbe = { client: "/opt/docker26/docker", version: "26.1.5", buildx: "0.13.1" };
  const legacy: ClientProbe = { client: "/usr/bin/docker", version: "20.10.24" };
  const newClientNoBuildx: ClientProbe = { client: "/usr/local/bin/docker", version: "28.2.2" };
  const oldBuildx: ClientProbe = { client: "/usr/local/bin/docker", version: "24.0.7", buildx: "0.11.2" };

  const chosen = (probes: ClientProbe[], prefer: "auto" | "buildx" | "docker-build" = "auto") => {
    const choice = chooseBuildPath(probes, prefer);
    assert.ok("tools" in choice, JSON.stringify(choice));
    return choice.tools;
  };
  const problem = (probes: ClientProbe[], prefer: "auto" | "buildx" | "docker-build" = "auto") => {
    const choice = chooseBuildPath(probes, prefer);
    assert.ok("problem" in choice, JSON.stringify(choice));
    return choice.problem;
  };

  it(`auto takes buildx bake where a client has buildx ${MIN_BUILDX}+, whatever comes first`, () => {
    assert.deepEqual(chosen([legacy, current]), { client: current.client, clientVersion: "26.1.5", mode: "buildx", buildxVersion: "0.13.1" });
  });

  it("auto falls back to a pre-23 client's built-in BuildKit, and says why", () => {
    assert.deepEqual(chosen([newClientNoBuildx, legacy]), { client: legacy.client, clientVersion: "20.10.24", mode: "docker-build", reason: "buildx is not installed" });
    assert.equal(chosen([oldBuildx, legacy]).reason, "buildx 0.11.2 is older than 0.12.0");
  });

  it("--engine docker-build takes the fallback even where buildx exists", () => {
    assert.deepEqual(chosen([current, legacy], "docker-build"), { client: legacy.client, clientVersion: "20.10.24", mode: "docker-build", reason: "--engine docker-build" });
  });

  it("--engine buildx without a new enough buildx is an environment problem that names the version", () => {
    assert.match(problem([oldBuildx, legacy], "buildx").message, /buildx 0\.11\.2 is older than 0\.12\.0/);
    assert.match(problem([legacy], "buildx").message, /buildx is not installed/);
  });

  it("a 23+ client without buildx cannot build: the hint names both ways out", () => {
    const p = problem([newClientNoBuildx]);
    assert.equal(p.kind, "environment");
    assert.match(p.message, /docker 28\.2\.2 has no buildx 0\.12\.0\+/);
    assert.match(p.hint ?? "", /docker-buildx-plugin.*DOCKER_CLI/);
  });

  it("compares buildx versions numerically (0.9 < 0.12 < 0.13.1+ds1's 0.13.1)", () => {
    assert.equal(chosen([{ client: "a", version: "26.1.5", buildx: "0.9.1" }, legacy]).mode, "docker-build");
    assert.equal(chosen([{ client: "a", version: "26.1.5", buildx: "0.12.0" }]).mode, "buildx");
  });
});
