import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse } from "yaml";
import { composeProblems, interpolate, interpolateDoc } from "../helpers/compose-spec.ts";
import { compileText, MAIN_CONFIG, readRepoFile } from "../helpers/compile.ts";

/**
 * docker/compose.yaml: valid against the Compose spec's structure (test/helpers/compose-spec.ts), and faithful to what `docker run`
 * users already rely on: port 8080, the two volumes, MODEL/DEVICE/PORT, one profile per variant.
 * Real Compose v2 reads it and runs it in test/e2e/compose.test.ts.
 */
const COMPOSE_FILE = "docker/compose.yaml";
const text = readRepoFile(COMPOSE_FILE);
const { plan } = compileText(readRepoFile(MAIN_CONFIG));
const runtimeTargets = plan.targets.filter((t) => t.stage === "runtime");

type Service = {
  image: string;
  profiles: string[];
  ports: string[];
  environment: Record<string, string>;
  volumes: string[];
  stop_grace_period: string;
  pull_policy: string;
  deploy?: { resources: { reservations: { devices: { driver: string; count: string | number; capabilities: string[] }[] } } };
};
type ComposeDoc = { name: string; services: Record<string, Service>; volumes: Record<string, { name: string }> };

/** The file as Compose reads it with these variables set (and every other one unset). */
function resolved(env: Record<string, string> = {}): ComposeDoc {
  return interpolateDoc(parse(text) as ComposeDoc, env);
}

describe("docker/compose.yaml", () => {
  it("fits the Compose spec's structure, with defaults and with every setting overridden", () => {
    assert.deepEqual(composeProblems(resolved()), []);
    const overridden = {
      IOPAINT_IMAGE: "ghcr.io/you/iopaint",
      IOPAINT_VERSION: "1.6.0",
      IOPAINT_PORT: "9001",
      PORT: "9000",
      MODEL: "sd1.5",
      DEVICE: "cpu",
      IOPAINT_ARGS: "--low-mem",
      IOPAINT_MODELS: "/srv/iopaint/models",
      IOPAINT_OUTPUTS: "/srv/iopaint/outputs",
      IOPAINT_PULL_POLICY: "missing",
    };
    assert.deepEqual(composeProblems(resolved(overridden)), []);
    assert.deepEqual(
      composeProblems(resolved({ IOPAINT_PULL_POLICY: "sometimes" })).map((p) => p.split(":")[0]),
      ["services.cpu.pull_policy", "services.gpu.pull_policy"],
    );
  });

  it("has one service per runtime target, in a profile of its name, with the images' defaults", () => {
    const doc = resolved();
    assert.deepEqual(
      Object.keys(doc.services),
      runtimeTargets.map((t) => t.name),
    );
    for (const target of runtimeTargets) {
      const service = doc.services[target.name];
      const variant = plan.variants.find((v) => v.name === target.variant)!;
      assert.deepEqual(service.profiles, [target.name]);
      assert.equal(service.image, `iopaint:${target.name}-latest`, "the tag npm run bake and docker buildx bake give by default");
      assert.deepEqual(service.ports, ["8080:8080"]);
      assert.deepEqual(service.environment, { MODEL: "lama", DEVICE: variant.device, PORT: "8080", IOPAINT_ARGS: "" });
      assert.deepEqual(
        service.volumes.map((v) => v.split(":")[1]),
        plan.dockerfile.runtime.volumes,
      );
      assert.deepEqual(
        service.volumes.map((v) => v.split(":")[1]),
        ["/app/models", "/app/outputs"],
        "the old images' volume paths",
      );
      assert.equal(service.stop_grace_period, plan.dockerfile.runtime.stopGracePeriod);
      if (variant.device === "cuda") {
        assert.deepEqual(service.deploy?.resources.reservations.devices, [{ driver: "nvidia", count: "all", capabilities: ["gpu"] }]);
      } else {
        assert.equal(service.deploy, undefined, "a CPU service reserves no GPU");
      }
    }
    assert.deepEqual(
      Object.values(doc.volumes).map((v) => v.name),
      ["iopaint-models", "iopaint-outputs"],
      "fixed names, whatever the project is called",
    );
    assert.equal(doc.name, "iopaint", "the project is named in the file, not after its directory (docker)");
    for (const service of Object.values(doc.services)) assert.equal(service.pull_policy, "never", "up before a build names the missing image; it pulls nothing");
  });

  it("follows the variables users set, as docker run -e does", () => {
    const doc = resolved({ IOPAINT_IMAGE: "ghcr.io/you/iopaint", IOPAINT_VERSION: "1.6.0", PORT: "9000", IOPAINT_PORT: "9001", MODEL: "sd1.5", IOPAINT_MODELS: "/srv/models" });
    const cpu = doc.services.cpu;
    assert.equal(cpu.image, "ghcr.io/you/iopaint:cpu-1.6.0");
    assert.deepEqual(cpu.ports, ["9001:9000"], "the container port follows PORT, the host port IOPAINT_PORT");
    assert.equal(cpu.environment.PORT, "9000");
    assert.equal(cpu.environment.MODEL, "sd1.5");
    assert.equal(cpu.volumes[0], "/srv/models:/app/models", "a host path bind-mounts instead of the named volume");
  });

  it("sets only variables that the image's entrypoint reads", () => {
    const entrypoint = readRepoFile("docker/helpers/entrypoint.sh");
    for (const service of Object.values(resolved().services)) {
      for (const name of Object.keys(service.environment)) assert.match(entrypoint, new RegExp(`\\$\\{${name}[:}]`), `${name} is read by docker/helpers/entrypoint.sh`);
    }
  });
});

describe("the Compose structure check itself", () => {
  const good = () => parse(text) as ComposeDoc & Record<string, unknown>;
  const cases: { name: string; edit: (doc: ReturnType<typeof good>) => void; expect: RegExp }[] = [
    { name: "an unknown top-level key", edit: (d) => Object.assign(d, { service: {} }), expect: /^service: not a top-level key/ },
    { name: "a misspelt service key", edit: (d) => Object.assign(d.services.cpu, { enviroment: {} }), expect: /services\.cpu\.enviroment: not a service key/ },
    { name: "a port that is not a mapping", edit: (d) => (d.services.cpu.ports = ["80800:8080:tcp"]), expect: /services\.cpu\.ports\[0\]: not a port mapping/ },
    {
      name: "a GPU reservation without capabilities",
      edit: (d) => delete (d.services.gpu.deploy!.resources.reservations.devices[0] as Partial<{ capabilities: string[] }>).capabilities,
      expect: /devices\[0\]\.capabilities: is required/,
    },
    {
      name: "count and device_ids together",
      edit: (d) => Object.assign(d.services.gpu.deploy!.resources.reservations.devices[0], { device_ids: ["0"] }),
      expect: /devices\[0\]: count and device_ids cannot both be set/,
    },
    { name: "an undeclared named volume", edit: (d) => (d.services.cpu.volumes = ["models:/app/models"]), expect: /volume "models" is not declared/ },
    { name: "a relative volume target", edit: (d) => (d.services.cpu.volumes = ["iopaint-models:app/models"]), expect: /the target must be an absolute path/ },
    { name: "a duration without a unit", edit: (d) => (d.services.cpu.stop_grace_period = "10"), expect: /stop_grace_period: must be a duration/ },
    {
      name: "a healthcheck test in the wrong form",
      edit: (d) => Object.assign(d.services.cpu, { healthcheck: { test: ["curl", "-f", "http://localhost:8080/"], interval: "30s" } }),
      expect: /healthcheck\.test: must be a string or a list starting with "CMD"/,
    },
    { name: "a profile name with a space", edit: (d) => (d.services.cpu.profiles = ["cpu only"]), expect: /profiles: must be a list of names/ },
    { name: "an unknown restart policy", edit: (d) => Object.assign(d.services.cpu, { restart: "sometimes" }), expect: /restart: must be no, always/ },
  ];
  for (const { name, edit, expect } of cases) {
    it(`finds ${name}`, () => {
      const doc = good();
      edit(doc);
      const problems = composeProblems(interpolateDoc(doc, {}));
      assert.ok(
        problems.some((p) => expect.test(p)),
        `expected ${expect} in ${JSON.stringify(problems)}`,
      );
    });
  }

  it("accepts the long forms the spec allows (build mapping, long ports and volumes, a healthcheck)", () => {
    const doc = good();
    Object.assign(doc.services.cpu, {
      build: { context: "../IOPaint", dockerfile: "/abs/docker/Dockerfile", target: "runtime", cache_from: ["iopaint:cpu-latest"], args: { APP_UID: "1000" } },
      ports: [{ target: 8080, published: "8080", protocol: "tcp" }],
      volumes: [{ type: "bind", source: "/srv/models", target: "/app/models" }],
      healthcheck: { test: ["CMD", "/usr/local/bin/iopaint-healthcheck", "/api/v1/model"], interval: "30s", timeout: "5s", start_period: "5m", retries: 3 },
    });
    assert.deepEqual(composeProblems(interpolateDoc(doc, {})), []);
  });

  it("interpolates as Compose does", () => {
    const env = { SET: "x", EMPTY: "" };
    assert.equal(interpolate("${SET:-d} ${UNSET:-d} ${EMPTY:-d} ${EMPTY-d} ${UNSET-d} $SET $$SET ${UNSET}", env), "x d d  d x $SET ");
    assert.throws(() => interpolate("${UNSET:?set it}", env), /required variable UNSET is missing: set it/);
    assert.equal(interpolate("${SET:?never}", env), "x");
  });
});
